"""Time and memory per rule, from the benchmark TSVs Snakemake writes for each job.

A benchmark file (``benchmark:`` directive) has one row per repeat (``--benchmark-repeats``)
with at least ``s`` (wall-clock seconds), ``max_rss`` (MB), ``mean_load`` (CPU use in % of
one core, averaged over the run time) and ``cpu_time`` (s); memory and load are ``NA`` when
the job ended before the first measurement.

A job forked from the warm worker (:mod:`radsynth.warm`) runs outside the process Snakemake
measures; its peak memory and CPU time come from the record the worker wrote beside its log
(:func:`radsynth.warm.usage_path`), its wall-clock time still from Snakemake.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from radsynth.io import atomic_path

COLUMNS = ["rule", "jobs", "total_s", "mean_s", "max_s", "max_rss_mb", "mean_load", "cpu_time_s"]
_NUMERIC = ["s", "max_rss", "mean_load", "cpu_time"]


def read_benchmark(path: str | os.PathLike, usage: str | os.PathLike | None = None) -> dict[str, float]:
    """One job's record: repeats averaged, except the memory peak (their maximum).

    Args:
        path: the job's benchmark TSV.
        usage: the warm worker's record of the job (JSON: ``max_rss`` MB, ``cpu_time`` s,
            ``s``); when it exists, memory, CPU time and load come from it.

    Raises:
        ValueError: the file has no row or lacks the wall-clock column ``s``.
    """
    frame = pd.read_csv(path, sep="\t", na_values=["NA", "-"])
    if frame.empty or "s" not in frame:
        raise ValueError(f"{path}: not a Snakemake benchmark file (no rows, or no 's' column)")
    values = {c: pd.to_numeric(frame[c], errors="coerce") if c in frame else pd.Series(dtype=float)
              for c in _NUMERIC}
    record = {
        "s": float(values["s"].mean()),
        "max_rss": float(values["max_rss"].max()),
        "mean_load": float(values["mean_load"].mean()),
        "cpu_time": float(values["cpu_time"].mean()),
    }
    if usage is not None and os.path.exists(usage):
        with open(usage) as handle:
            worker = json.load(handle)
        record["max_rss"], record["cpu_time"] = float(worker["max_rss"]), float(worker["cpu_time"])
        record["mean_load"] = 100.0 * worker["cpu_time"] / worker["s"] if worker["s"] > 0 else float("nan")
    return record


def benchmark_table(
    files: Mapping[str, Sequence[str | os.PathLike]],
    usage: Mapping[str, Sequence[str | os.PathLike]] | None = None,
) -> pd.DataFrame:
    """One row per rule: jobs, total / mean / max wall-clock s, peak RSS (MB) over its jobs,
    mean CPU load (%) and total CPU time (s); slowest rule (total wall time) first.

    Args:
        files: rule name -> benchmark files of its jobs (rules without jobs are left out).
        usage: rule name -> the warm worker's records of the same jobs, in the same order
            (:func:`read_benchmark`); missing ones are skipped.
    """
    rows = []
    for rule, paths in files.items():
        if not paths:
            continue
        records = list((usage or {}).get(rule, [])) or [None] * len(paths)
        jobs = pd.DataFrame([read_benchmark(path, record) for path, record in zip(paths, records, strict=True)])
        rows.append({
            "rule": rule,
            "jobs": len(jobs),
            "total_s": jobs["s"].sum(),
            "mean_s": jobs["s"].mean(),
            "max_s": jobs["s"].max(),
            "max_rss_mb": jobs["max_rss"].max(),
            "mean_load": jobs["mean_load"].mean(),
            "cpu_time_s": jobs["cpu_time"].sum(min_count=1),
        })
    table = pd.DataFrame(rows, columns=COLUMNS)
    table = table.sort_values(["total_s", "rule"], ascending=[False, True], kind="stable")
    return table.reset_index(drop=True)


def benchmark_figure(table: pd.DataFrame, path: str | os.PathLike) -> None:
    """Horizontal bars per rule (order of ``table``): total wall-clock time with each job's
    mean as a tick, and peak RSS; the title gives the sum over rules."""
    rules = table["rule"].tolist()
    height = 1.2 + 0.22 * max(len(rules), 1)
    fig = Figure(figsize=(9.0, height))
    FigureCanvasAgg(fig)
    time_ax, memory_ax = fig.subplots(1, 2, sharey=True)
    y = np.arange(len(rules))
    time_ax.barh(y, table["total_s"], color="#4878a8", label="total")
    time_ax.plot(table["mean_s"], y, "|", color="#f0a030", markersize=8, label="mean per job")
    time_ax.set_xlabel("wall-clock time (s)", fontsize=8)
    time_ax.legend(fontsize=6, loc="lower right")
    memory = table["max_rss_mb"].to_numpy(dtype=float)
    memory_ax.barh(y, np.nan_to_num(memory), color="#58a060")
    memory_ax.set_xlabel("peak RSS of a job (MB)", fontsize=8)
    time_ax.set_yticks(y, [f"{rule} ({jobs})" for rule, jobs in zip(rules, table["jobs"])], fontsize=6)
    time_ax.invert_yaxis()
    for ax in (time_ax, memory_ax):
        ax.tick_params(axis="x", labelsize=6)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"{int(table['jobs'].sum())} jobs, {table['total_s'].sum():.0f} s wall-clock in all "
                 "(rule (jobs))", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
