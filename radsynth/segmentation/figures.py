"""Segmentation figures: per-case Dice of every run, and DTC's signed distance maps."""

from __future__ import annotations

import os

import numpy as np
from matplotlib.colors import ListedColormap

from radsynth.io import atomic_path
from radsynth.report.figures import LABEL_COLOURS, canvas, draw_contours, most_labelled_slice, radiological, save_figure


def dice_figure(metrics: "pd.DataFrame", path: str | os.PathLike, metric: str = "dice") -> None:
    """Box plot (with the individual cases) of a per-case metric for each segmentation run.

    Args:
        metrics: long-form ``case, method, setting, metric, value`` rows.
        path: PNG to write.
        metric: which metric to plot.
    """
    rows = metrics[metrics["metric"] == metric]
    runs = list(dict.fromkeys(rows["method"] + "-" + rows["setting"].astype(str)))
    values = [rows.loc[(rows["method"] + "-" + rows["setting"].astype(str)) == run, "value"] for run in runs]
    fig, axes = canvas(1, 1, max(4.0, 1.1 * len(runs)), 3.6)
    ax = axes[0, 0]
    ax.boxplot([v.to_numpy(dtype=float) for v in values], showfliers=False)
    for position, value in enumerate(values, start=1):
        jitter = np.linspace(-0.12, 0.12, len(value)) if len(value) > 1 else np.zeros(1)
        ax.scatter(position + jitter, value, s=10, alpha=0.7, color="#1f77b4", zorder=3)
    ax.set_xticks(range(1, len(runs) + 1), runs, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel(f"{metric} per test subject")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(axis="y", alpha=0.3)
    save_figure(fig, path)


def sdf_figure(labels: list[np.ndarray], maps: list[np.ndarray], names: list[str], classes: list[int],
               path: str | os.PathLike) -> None:
    """One row per subject: the label on its most labelled slice, then each class's signed
    distance map on that slice (negative inside, zero on the boundary, positive outside) with
    the class boundary drawn over it.

    Args:
        labels: (X, Y, Z) label maps.
        maps: (X, Y, Z, K) SDF maps in [-1, 1], one channel per class of ``classes``.
        names: row titles, one per subject.
        classes: the class value of each SDF channel.
        path: PNG to write.
    """
    fig, axes = canvas(max(len(labels), 1), len(classes) + 1, 2.0, 2.1)
    for row, (label, sdf, name) in enumerate(zip(labels, maps, names)):
        z = most_labelled_slice(label, label.shape[2])
        plane = label[:, :, z]
        axes[row, 0].imshow(radiological(plane), cmap=ListedColormap(["black", *LABEL_COLOURS]),
                            vmin=-0.5, vmax=len(LABEL_COLOURS) + 0.5, interpolation="nearest")
        axes[row, 0].set_ylabel(f"{name}\nslice {z}", fontsize=8)
        for k, value in enumerate(classes):
            ax = axes[row, k + 1]
            image = ax.imshow(radiological(sdf[:, :, z, k]), cmap="RdBu_r", vmin=-1, vmax=1,
                              interpolation="nearest")
            if (plane == value).any():
                draw_contours(ax, (plane == value).astype(np.uint8) * int(value))
    axes[0, 0].set_title("label", fontsize=8)
    for k, value in enumerate(classes):
        axes[0, k + 1].set_title(f"SDF of class {value}", fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout(rect=(0, 0, 0.84, 1))
    if labels and classes:
        colorbar = fig.colorbar(image, cax=fig.add_axes((0.86, 0.2, 0.02, 0.6)))
        colorbar.ax.tick_params(labelsize=6)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
