"""Building blocks of the paper-style tables (mean ± std over cases) of every task family,
from long-form per-case metric CSVs.

Each table is written three ways: a numeric CSV (method, setting, metric, mean, std, n) for
further analysis, Markdown for the README, LaTeX for the paper. The tables themselves live
with their family (``radsynth.<family>.tables``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from radsynth.io import write_csv, write_text


def read_metrics(paths: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """Concatenate long-form metric CSVs (``case, method, setting, metric, value``)."""
    frames = [pd.read_csv(path, dtype={"setting": str}) for path in paths]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def summarise(metrics: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and count over cases per (method, setting, metric); NaN values are skipped
    (e.g. a distance when the prediction is empty) and ``n`` says how many cases remain."""
    grouped = metrics.groupby(["method", "setting", "metric"], sort=False)["value"]
    return grouped.agg(mean="mean", std="std", n="count").reset_index()


def cell(mean: float, std: float, scale: float, decimals: int) -> str:
    """``mean ± std`` at a display scale and precision; "–" for a missing mean."""
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
            cells.append(cell(found["mean"], found["std"], scale, decimals) if found is not None else "–")
        if any(cell != "–" for cell in cells):
            table[title] = cells
    return table


def write_table(summary: pd.DataFrame, table: pd.DataFrame, paths: Mapping[str, str], caption: str) -> None:
    """Write the numeric summary (CSV) and the display table (Markdown, LaTeX)."""
    write_csv(paths["csv"], summary)
    write_text(paths["md"], table.to_markdown(index=False) + "\n")
    latex = table.to_latex(index=False, caption=caption, escape=True).replace("±", r"$\pm$")
    write_text(paths["tex"], latex.replace("↑", r"$\uparrow$").replace("↓", r"$\downarrow$"))
