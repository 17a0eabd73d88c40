"""RegGAN's tables: methods x misalignment levels, every mode at one level (table 1, with sizes)
and the unpaired setting (table 3), from the long-form translation metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from radsynth.report.tables import format_table, summarise

METHOD_NAMES = {
    "pix2pix": "Pix2Pix",
    "cyclegan": "CycleGAN (C)",
    "nc": "NC",
    "c_r": "C+R",
    "nc_r": "NC+R (RegGAN)",
}

# metric -> (column title, scale factor for display, decimals)
TRANSLATION_METRICS = {
    "mae": ("MAE ↓", 1.0, 4),
    "psnr": ("PSNR (dB) ↑", 1.0, 2),
    "ssim": ("SSIM ↑", 1.0, 4),
    "epe": ("EPE of R (px) ↓", 1.0, 2),
    "epe_identity": ("EPE of identity (px)", 1.0, 2),
}


def translation_table(metrics: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Methods x misalignment levels: MAE, PSNR, SSIM on the aligned test split (+ EPE of R)."""
    summary = summarise(metrics)
    pairs = summary[["method", "setting"]].drop_duplicates()
    order = {name: i for i, name in enumerate(METHOD_NAMES)}
    pairs = pairs.assign(
        _level=pairs["setting"].str.extract(r"(\d+)", expand=False).astype(float),
        _method=pairs["method"].map(order),
    ).sort_values(["_level", "_method"])
    rows = list(zip(pairs["method"], pairs["setting"]))
    labels = {
        "Noise level": [setting.replace("level", "") for _, setting in rows],
        "Method": [METHOD_NAMES.get(method, method) for method, _ in rows],
    }
    return summary, format_table(summary, rows, labels, TRANSLATION_METRICS)


MODE_ORDER = ("pix2pix", "cyclegan", "nc", "c_r", "nc_r")


def _methods_at(summary: pd.DataFrame, setting: str, methods: Sequence[str]) -> list[tuple[str, str]]:
    present = set(zip(summary["method"], summary["setting"]))
    return [(method, setting) for method in methods if (method, setting) in present]


def mode_table(
    metrics: pd.DataFrame, setting: str, parameters: Mapping[str, int], kept: Mapping[str, str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """RegGAN table 1: every mode at one setting (a misalignment level), with its size.

    Args:
        metrics: long-form translation metrics.
        setting: the setting compared, e.g. ``"level5"``.
        parameters: method -> trainable parameters of what it trains against the
            discriminators (generators and R); shown in millions.
        kept: method -> the iteration kept by validation, e.g. ``"700 / 1000"``; a column
            when given.
    """
    summary = summarise(metrics[metrics["setting"] == setting])
    rows = _methods_at(summary, setting, MODE_ORDER)
    table = format_table(
        summary, rows, {"Method": [METHOD_NAMES[m] for m, _ in rows]}, TRANSLATION_METRICS
    )
    table["Params (M)"] = [f"{parameters[m] / 1e6:.2f}" if m in parameters else "–" for m, _ in rows]
    if kept is not None:
        table["Kept iteration"] = [kept.get(m, "–") for m, _ in rows]
    return summary, table


def unpaired_table(metrics: pd.DataFrame, setting: str = "unpaired") -> tuple[pd.DataFrame, pd.DataFrame]:
    """RegGAN table 3: the methods trained on unpaired data (targets from other subjects)."""
    summary = summarise(metrics[metrics["setting"] == setting])
    rows = _methods_at(summary, setting, MODE_ORDER)
    metrics_shown = {k: v for k, v in TRANSLATION_METRICS.items() if not k.startswith("epe")}
    return summary, format_table(summary, rows, {"Method": [METHOD_NAMES[m] for m, _ in rows]}, metrics_shown)
