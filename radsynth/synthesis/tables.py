"""Augmentation tables of the cross-validated comparison (settings ``cv<fold>``).

A cell is mean ± std *over folds* of the per-fold mean over that fold's cases (held-out
subjects, or synthetic samples), so the std is the spread between folds, not between cases.
Both tables return ``(summary, table)`` for :func:`radsynth.report.tables.write_table`.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from radsynth.report.tables import cell
from radsynth.segmentation.tables import SEGMENTATION_METRICS

AUGMENTATION_NAMES = {
    "none": "None",
    "contrast": "Contrast",
    "noise": "Noise",
    "rotate": "Rotate",
    "scale": "Scale",
    "deepstack": "DeepStack",
    "gan": "GAN",
    "ddpm": "DDPM",
    "controlnet": "ControlNet",
    "real": "Real slices",
}
# metric -> (column title, display scale, decimals); structure_dice is already in %.
AUGMENTATION_METRICS = {m: SEGMENTATION_METRICS[m] for m in ("dice", "jaccard", "hd95", "hd95_vox")}
STRUCTURE = {"structure_dice": ("Structure Dice (%) ↑", 1.0, 2)}
SYNTHESIS_METRICS = {
    **STRUCTURE,
    "diversity": ("Diversity (1 - MS-SSIM)", 1.0, 4),
    "ms_ssim_to_source": ("MS-SSIM to source", 1.0, 4),
    "fsd": ("FSD ↓", 1.0, 3),
}


def fold_summary(metrics: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over folds of the per-fold means (NaN values skipped).

    Args:
        metrics: long-form ``case, method, setting, metric, value`` rows, one setting per fold.

    Returns:
        Columns method, metric, mean, std (between folds; NaN with one fold), folds (the folds
        with a finite per-fold mean).
    """
    columns = ["method", "metric", "mean", "std", "folds"]
    if metrics.empty:
        return pd.DataFrame(columns=columns)
    per_fold = metrics.groupby(["method", "metric", "setting"], sort=False)["value"].mean().reset_index()
    summary = per_fold.groupby(["method", "metric"], sort=False)["value"].agg(mean="mean", std="std", folds="count")
    return summary.reset_index()[columns]


def _table(summary: pd.DataFrame, rows: Sequence[str], metrics: dict) -> pd.DataFrame:
    """One row per method, one ``mean ± std`` column per metric present anywhere ("–" where absent)."""
    indexed = summary.set_index(["method", "metric"])
    table = pd.DataFrame({"Method": [AUGMENTATION_NAMES.get(m, m) for m in rows]})
    for metric, (title, scale, decimals) in metrics.items():
        cells = [
            cell(indexed.at[(m, metric), "mean"], indexed.at[(m, metric), "std"], scale, decimals)
            if (m, metric) in indexed.index else "–"
            for m in rows
        ]
        if any(cell != "–" for cell in cells):
            table[title] = cells
    return table


def augmentation_table(
    segmentation: pd.DataFrame, synthesis: pd.DataFrame, order: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Segmentation of the held-out subjects per augmentation, and each generator's structure
    consistency.

    Cells are mean ± std over folds of the per-fold mean over held-out cases (the std is
    between folds). ``lcc_`` metrics are left out.

    Args:
        segmentation: long-form segmentation metrics; method = augmentation, setting ``cv<f>``.
        synthesis: long-form output of :func:`radsynth.synthesis.metrics.synthesis_scores`
            (its ``structure_dice`` rows fill the structure column of the generator rows).
        order: augmentation methods in display order; absent ones are skipped.

    Returns:
        ``(summary, table)``: :func:`fold_summary` of the shown metrics, and the display table
        (Method, Dice, Jaccard, 95HD in mm and in voxels when present, Structure Dice, Folds).
    """
    kept = segmentation[segmentation["metric"].isin(list(AUGMENTATION_METRICS))]
    structure = synthesis[(synthesis["metric"] == "structure_dice") & (synthesis["method"] != "real")]
    summary = pd.concat([fold_summary(kept), fold_summary(structure.drop_duplicates())], ignore_index=True)
    rows = [m for m in order if m in set(kept["method"])]
    summary = summary[summary["method"].isin(rows)].reset_index(drop=True)
    table = _table(summary, rows, {**AUGMENTATION_METRICS, **STRUCTURE})
    table["Folds"] = [kept.loc[kept["method"] == m, "setting"].nunique() for m in rows]
    return summary, table


def synthesis_table(synthesis: pd.DataFrame, order: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The generators' synthesis metrics, with the real-data segmenter on real slices as the
    structure-consistency ceiling.

    Args:
        synthesis: long-form output of :func:`radsynth.synthesis.metrics.synthesis_scores`,
            one setting per fold (the ``real`` rows, repeated per generator, count once).
        order: generators in display order (other methods and absent ones are skipped);
            the ``real`` row comes last.

    Returns:
        ``(summary, table)``: :func:`fold_summary` of the rows shown, and the display table
        (Method, Structure Dice, Diversity, MS-SSIM to source, FSD; "–" where a metric
        does not apply).
    """
    present = set(synthesis["method"])
    rows = [m for m in order if m in present and m != "real"] + (["real"] if "real" in present else [])
    summary = fold_summary(synthesis[synthesis["method"].isin(rows)].drop_duplicates())
    return summary, _table(summary, rows, SYNTHESIS_METRICS)
