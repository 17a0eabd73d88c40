"""The anomaly table: per method, the setting the val sweep chose and mean ± std over the test
split's lesion slices of pixel Dice (Otsu), AUROC and AUPRC, with the slice-level AUROC."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from radsynth.report.tables import format_table, summarise

METHOD_NAMES = {
    "guided": "Classifier-guided DDIM",
    "classifier_free": "Classifier-free DDIM",
    "unguided": "DDPM reconstruction (s = 0)",
    "autoencoder": "Autoencoder",
}
# metric -> (column title, display scale, decimals)
ANOMALY_METRICS = {
    "dice": ("Dice (%) ↑", 100.0, 1),
    "auroc": ("AUROC (%) ↑", 100.0, 1),
    "auprc": ("AUPRC (%) ↑", 100.0, 1),
    "slice_auroc": ("Slice AUROC (%) ↑", 100.0, 1),
}


def anomaly_table(metrics: pd.DataFrame, order: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(summary, table)`` for :func:`radsynth.report.tables.write_table`.

    Args:
        metrics: long-form ``case, method, setting, metric, value`` rows of the detect job.
        order: methods in display order (absent ones skipped).

    Returns:
        The per (method, setting, metric) mean, std and n, and the display table (Method,
        Setting, Dice, AUROC, AUPRC, Slice AUROC, Slices: the lesion slices scored).
    """
    summary = summarise(metrics)
    rows = [(m, metrics.loc[metrics["method"] == m, "setting"].iloc[0]) for m in order if m in set(metrics["method"])]
    labels = {"Method": [METHOD_NAMES.get(m, m) for m, _ in rows], "Setting": [s for _, s in rows]}
    table = format_table(summary, rows, labels, ANOMALY_METRICS)
    dice = summary[summary["metric"] == "dice"].set_index("method")["n"]
    table["Slices"] = [int(dice.get(m, 0)) for m, _ in rows]
    return summary, table
