"""Paper-style tables (mean ± std over cases) from long-form per-case metric CSVs.

Each table is written three ways: a numeric CSV (method, setting, metric, mean, std, n) for
further analysis, Markdown for the README, LaTeX for the paper.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from radsynth.io import write_csv, write_text

METHOD_NAMES = {
    "pix2pix": "Pix2Pix",
    "cyclegan": "CycleGAN (C)",
    "nc": "NC",
    "c_r": "C+R",
    "nc_r": "NC+R (RegGAN)",
    "supervised": "Supervised",
    "supervised_sdf": "Supervised + SDF head",
    "mean_teacher": "Mean teacher",
    "dtc": "DTC",
}

# metric -> (column title, scale factor for display, decimals)
TRANSLATION_METRICS = {
    "mae": ("MAE ↓", 1.0, 4),
    "psnr": ("PSNR (dB) ↑", 1.0, 2),
    "ssim": ("SSIM ↑", 1.0, 4),
    "epe": ("EPE of R (px) ↓", 1.0, 2),
    "epe_identity": ("EPE of identity (px)", 1.0, 2),
}


def read_metrics(paths: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """Concatenate long-form metric CSVs (``case, method, setting, metric, value``)."""
    frames = [pd.read_csv(path, dtype={"setting": str}) for path in paths]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def summarise(metrics: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and count over cases per (method, setting, metric); NaN values are skipped
    (e.g. a distance when the prediction is empty) and ``n`` says how many cases remain."""
    grouped = metrics.groupby(["method", "setting", "metric"], sort=False)["value"]
    return grouped.agg(mean="mean", std="std", n="count").reset_index()


def _cell(mean: float, std: float, scale: float, decimals: int) -> str:
    if not np.isfinite(mean):
        return "–"
    text = f"{mean * scale:.{decimals}f}"
    return f"{text} ± {std * scale:.{decimals}f}" if np.isfinite(std) else text


def format_table(
    summary: pd.DataFrame,
    rows: Sequence[tuple[str, str]],
    row_labels: Mapping[str, Sequence[str]],
    metrics: Mapping[str, tuple[str, float, int]],
) -> pd.DataFrame:
    """A display table: one row per (method, setting), one ``mean ± std`` column per metric.

    Args:
        summary: output of :func:`summarise`.
        rows: (method, setting) pairs in display order.
        row_labels: names of the leading label columns -> one value per row.
        metrics: metric -> (title, display scale, decimals); metrics absent everywhere are dropped.
    """
    indexed = summary.set_index(["method", "setting", "metric"])
    table = pd.DataFrame(row_labels)
    for metric, (title, scale, decimals) in metrics.items():
        cells = []
        for method, setting in rows:
            key = (method, setting, metric)
            found = indexed.loc[key] if key in indexed.index else None
            cells.append(_cell(found["mean"], found["std"], scale, decimals) if found is not None else "–")
        if any(cell != "–" for cell in cells):
            table[title] = cells
    return table


def write_table(summary: pd.DataFrame, table: pd.DataFrame, paths: Mapping[str, str], caption: str) -> None:
    """Write the numeric summary (CSV) and the display table (Markdown, LaTeX)."""
    write_csv(paths["csv"], summary)
    write_text(paths["md"], table.to_markdown(index=False) + "\n")
    latex = table.to_latex(index=False, caption=caption, escape=True).replace("±", r"$\pm$")
    write_text(paths["tex"], latex.replace("↑", r"$\uparrow$").replace("↓", r"$\downarrow$"))


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
