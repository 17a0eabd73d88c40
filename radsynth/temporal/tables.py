"""The temporal table: per method, mean ± std over the test cines of intermediate-frame PSNR
and NMSE and of the label Dice per structure."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from radsynth.report.tables import format_table, summarise

METHOD_NAMES = {"ddm": "DDM", "registration": "VoxelMorph, field x gamma", "linear": "Linear interpolation"}
TEMPORAL_METRICS = {
    "psnr": ("PSNR (dB) ↑", 1.0, 2),
    "nmse": ("NMSE (%) ↓", 100.0, 2),
    "dice_LV": ("Dice LV (%) ↑", 100.0, 1),
    "dice_MYO": ("Dice MYO (%) ↑", 100.0, 1),
    "dice_RV": ("Dice RV (%) ↑", 100.0, 1),
}


def temporal_table(metrics: pd.DataFrame, order: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(summary, table)`` for :func:`radsynth.report.tables.write_table` (Method, metrics, Cines)."""
    summary = summarise(metrics)
    rows = [(m, setting) for m in order for setting in dict.fromkeys(metrics.loc[metrics["method"] == m, "setting"])]
    table = format_table(summary, rows, {"Method": [METHOD_NAMES.get(m, m) for m, _ in rows]}, TEMPORAL_METRICS)
    counts = summary[summary["metric"] == "psnr"].set_index("method")["n"]
    table["Cines"] = [int(counts.get(m, 0)) for m, _ in rows]
    return summary, table
