"""RegGAN's tables: methods x misalignment levels, every mode at one level (table 1, with sizes:
Pix2Pix, CycleGAN, UNIT, MUNIT, NICE-GAN each in C, NC, C+R and NC+R)
and the unpaired setting (table 3), from the long-form translation metrics.

Each table can say which networks were tested (``selection``): those of the last iteration,
as the official RegGAN trainer does, or of the iteration best on the validation split; the
"Kept iteration" column names the rule and :func:`selection_caption` words it for captions."""

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
for _family, _title in (("unit", "UNIT"), ("munit", "MUNIT"), ("nicegan", "NICE-GAN")):
    METHOD_NAMES.update({_family: f"{_title} (C)", f"{_family}_nc": f"{_title} NC", f"{_family}_c_r": f"{_title} C+R",
                         f"{_family}_nc_r": f"{_title} NC+R"})

# metric -> (column title, scale factor for display, decimals)
TRANSLATION_METRICS = {
    "mae": ("MAE ↓", 1.0, 4),
    "psnr": ("PSNR (dB) ↑", 1.0, 2),
    "ssim": ("SSIM ↑", 1.0, 4),
    "epe": ("EPE of R (px) ↓", 1.0, 2),
    "epe_identity": ("EPE of identity (px)", 1.0, 2),
}


SELECTIONS = {"best_validation": "best validation MAE", "last": "last"}


def selection_caption(selection: str) -> str:
    """One sentence for a table caption saying which iteration's networks were tested."""
    if selection == "last":
        return "Networks of the last training iteration (the official RegGAN protocol)."
    if selection == "best_validation":
        return "Networks of the iteration with the lowest MAE on the aligned validation split."
    raise ValueError(f"selection must be one of {sorted(SELECTIONS)}, got {selection!r}")


def _kept_column(table: pd.DataFrame, rows, kept: Mapping | None, selection: str, key) -> pd.DataFrame:
    """Add "Kept iteration (<rule>)": per row, ``kept[key(method, setting)]`` (e.g. "80 / 80")."""
    if kept is not None:
        if selection not in SELECTIONS:
            raise ValueError(f"selection must be one of {sorted(SELECTIONS)}, got {selection!r}")
        table[f"Kept iteration ({SELECTIONS[selection]})"] = [kept.get(key(m, s), "–") for m, s in rows]
    return table


def translation_table(
    metrics: pd.DataFrame, kept: Mapping[tuple[str, str], str] | None = None, selection: str = "best_validation"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Methods x misalignment levels: MAE, PSNR, SSIM on the aligned test split (+ EPE of R).

    Args:
        metrics: long-form translation metrics.
        kept: (method, setting) -> the iteration tested, e.g. ``"80 / 80"``; a column when given.
        selection: "last" or "best_validation", named in that column's title.
    """
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
    table = format_table(summary, rows, labels, TRANSLATION_METRICS)
    return summary, _kept_column(table, rows, kept, selection, lambda m, s: (m, s))


MODE_ORDER = tuple(METHOD_NAMES)  # RegGAN's table 1: each method alone, then with its modes


def _methods_at(summary: pd.DataFrame, setting: str, methods: Sequence[str]) -> list[tuple[str, str]]:
    present = set(zip(summary["method"], summary["setting"]))
    return [(method, setting) for method in methods if (method, setting) in present]


def mode_table(
    metrics: pd.DataFrame,
    setting: str,
    parameters: Mapping[str, int],
    kept: Mapping[str, str] | None = None,
    selection: str = "best_validation",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """RegGAN table 1: every mode at one setting (a misalignment level), with its size.

    Args:
        metrics: long-form translation metrics.
        setting: the setting compared, e.g. ``"level5"``.
        parameters: method -> trainable parameters of what it trains against the
            discriminators (generators and R); shown in millions.
        kept: method -> the iteration tested, e.g. ``"700 / 1000"``; a column when given.
        selection: "last" or "best_validation", named in that column's title.
    """
    summary = summarise(metrics[metrics["setting"] == setting])
    rows = _methods_at(summary, setting, MODE_ORDER)
    table = format_table(
        summary, rows, {"Method": [METHOD_NAMES[m] for m, _ in rows]}, TRANSLATION_METRICS
    )
    table["Params (M)"] = [f"{parameters[m] / 1e6:.2f}" if m in parameters else "–" for m, _ in rows]
    return summary, _kept_column(table, rows, kept, selection, lambda m, s: m)


def unpaired_table(
    metrics: pd.DataFrame,
    setting: str = "unpaired",
    kept: Mapping[str, str] | None = None,
    selection: str = "best_validation",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """RegGAN table 3: the methods trained on unpaired data (targets from other subjects).

    Args:
        metrics: long-form translation metrics.
        setting: the unpaired setting's name.
        kept: method -> the iteration tested; a column when given.
        selection: "last" or "best_validation", named in that column's title.
    """
    summary = summarise(metrics[metrics["setting"] == setting])
    rows = _methods_at(summary, setting, MODE_ORDER)
    metrics_shown = {k: v for k, v in TRANSLATION_METRICS.items() if not k.startswith("epe")}
    table = format_table(summary, rows, {"Method": [METHOD_NAMES[m] for m, _ in rows]}, metrics_shown)
    return summary, _kept_column(table, rows, kept, selection, lambda m, s: m)
