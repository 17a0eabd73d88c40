"""Segmentation tables: the DTC table (methods x labelled amounts) and the augmentation table.

Run settings are ``<augmentation>-<labelled>-s<seed>`` (labelled: ``25`` for 25 % of the
training subjects, ``n8`` for 8 of them). With one seed a cell is mean ± std over test cases;
with several it is mean ± std over the seeds' means (``n`` then counts seeds). Metrics
prefixed ``lcc_`` (after largest-connected-component post-processing) become rows of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd

from radsynth.report.tables import format_table

SEGMENTATION_METRICS = {
    "dice": ("Dice (%) ↑", 100.0, 2),
    "jaccard": ("Jaccard (%) ↑", 100.0, 2),
    "hd95": ("95HD (mm) ↓", 1.0, 2),
    "asd": ("ASD (mm) ↓", 1.0, 2),
    "hd95_vox": ("95HD (vox) ↓", 1.0, 2),
    "asd_vox": ("ASD (vox) ↓", 1.0, 2),
}
METHOD_ORDER = ("supervised", "supervised_sdf", "mean_teacher", "dtc")
METHOD_NAMES = {
    "supervised": "Supervised",
    "supervised_sdf": "Supervised + SDF head",
    "mean_teacher": "Mean teacher",
    "dtc": "DTC",
}


def parse_setting(setting: str) -> tuple[str, str, int]:
    """``"none-n8-s1"`` -> ``("none", "n8", 1)``."""
    augmentation, labelled, seed = setting.split("-")
    return augmentation, labelled, int(seed.removeprefix("s"))


def labelled_amount(token: str) -> tuple[int, float]:
    """Sort key of a labelled token: counts before shares, each ascending."""
    return (0, float(token[1:])) if token.startswith("n") else (1, float(token))


def labelled_label(token: str) -> str:
    """Display text: ``n8`` -> ``8``, ``25`` -> ``25%``."""
    return token[1:] if token.startswith("n") else f"{token}%"


def summarise_runs(metrics: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and n per (method, setting without the seed, post-processing, metric).

    Returns:
        Columns method, setting (``<augmentation>-<labelled>``), post (``""`` or ``"lcc"``),
        metric, mean, std, n, seeds.
    """
    parts = metrics["setting"].map(parse_setting)
    frame = metrics.assign(
        setting=[f"{a}-{l}" for a, l, _ in parts],
        seed=[seed for *_, seed in parts],
        post=metrics["metric"].str.startswith("lcc_").map({True: "lcc", False: ""}),
        metric=metrics["metric"].str.removeprefix("lcc_"),
    )
    keys = ["method", "setting", "post", "metric"]
    per_seed = frame.groupby([*keys, "seed"], sort=False)["value"].agg(mean="mean", std="std", n="count").reset_index()
    rows = []
    for key, group in per_seed.groupby(keys, sort=False):
        if len(group) == 1:  # one seed: spread over cases
            row = group.iloc[0]
            rows.append((*key, row["mean"], row["std"], int(row["n"]), 1))
        else:
            means = group["mean"]
            rows.append((*key, means.mean(), means.std(), int(means.notna().sum()), len(group)))
    return pd.DataFrame(rows, columns=[*keys, "mean", "std", "n", "seeds"])


def segmentation_table(
    metrics: pd.DataFrame, keep: Callable[[str, str, str], bool], labels: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows of the runs selected by ``keep(method, augmentation, labelled token)``.

    Args:
        metrics: long-form segmentation metrics.
        keep: predicate on (method, augmentation, labelled token such as ``"25"``/``"n8"``).
        labels: label columns to show among "Method", "Augmentation", "Labelled"; a
            "Post-processing" column is added when LCC metrics are present.

    Returns:
        ``(summary, table)``: :func:`summarise_runs` of the kept runs and the display table,
        ordered by labelled amount, then method, then post-processing.
    """
    parts = metrics["setting"].map(parse_setting)
    selected = metrics[[keep(m, a, l) for m, (a, l, _) in zip(metrics["method"], parts)]]
    summary = summarise_runs(selected)
    combos = summary[["method", "setting", "post"]].drop_duplicates()
    order = {name: i for i, name in enumerate(METHOD_ORDER)}
    combos = combos.assign(
        _labelled=combos["setting"].map(lambda s: labelled_amount(s.split("-")[1])),
        _method=combos["method"].map(lambda m: order.get(m, len(order))),
    ).sort_values(["_labelled", "_method", "post"], kind="stable")
    rows = [(m, f"{s}|{p}") for m, s, p in zip(combos["method"], combos["setting"], combos["post"])]
    columns = {
        "Method": [METHOD_NAMES.get(m, m) for m in combos["method"]],
        "Augmentation": [s.split("-")[0] for s in combos["setting"]],
        "Labelled": [labelled_label(s.split("-")[1]) for s in combos["setting"]],
    }
    shown = {k: columns[k] for k in labels}
    if (combos["post"] == "lcc").any():
        shown["Post-processing"] = ["LCC" if p == "lcc" else "–" for p in combos["post"]]
    keyed = summary.assign(setting=summary["setting"] + "|" + summary["post"])
    return summary, format_table(keyed, rows, shown, SEGMENTATION_METRICS)
