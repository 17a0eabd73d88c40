"""Figures of the anomaly stage: test slices with each method's healthy counterfactual and
anomaly map beside the ground truth, and the val sweep of noise level L x guidance scale."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from matplotlib.patches import Rectangle

from radsynth.anomaly.tables import METHOD_NAMES
from radsynth.report.figures import canvas, draw_contours, save_figure, show_image


def shown_channel(image: np.ndarray, mask: np.ndarray) -> int:
    """The channel where the lesion differs most from the rest of the slice."""
    inside, outside = mask > 0, mask == 0
    contrast = [abs(c[inside].mean() - c[outside].mean()) if inside.any() else 0.0 for c in image]
    return int(np.argmax(contrast))


def anomaly_figure(examples: dict[str, np.ndarray], path: str | os.PathLike) -> None:
    """One row per example slice: the image (lesion outline), then per method its healthy
    counterfactual and anomaly map, and the ground-truth mask.

    Args:
        examples: arrays of :func:`radsynth.anomaly.evaluate.examples`.
        path: PNG to write.
    """
    methods = [str(m) for m in examples["methods"]]
    rows = max(1, len(examples["image"]))
    fig, axes = canvas(rows, 2 + 2 * len(methods), 1.6, 1.7)
    for ax in axes.ravel():
        ax.axis("off")
    for r, (image, mask, case) in enumerate(zip(examples["image"], examples["mask"], examples["case"])):
        c = shown_channel(image, mask)
        show_image(axes[r, 0], image[c], f"{case}\nchannel {c}")
        draw_contours(axes[r, 0], mask.astype(np.uint8))
        for k, method in enumerate(methods):
            name = METHOD_NAMES.get(method, method)
            show_image(axes[r, 1 + 2 * k], examples[f"{method}_counterfactual"][r][c], f"{name}\nhealthy")
            heat = examples[f"{method}_map"][r]
            show_image(axes[r, 2 + 2 * k], heat, "map", cmap="magma", vmin=0.0, vmax=max(float(heat.max()), 1e-6))
        show_image(axes[r, -1], mask.astype(float), "ground truth", vmin=0.0, vmax=1.0)
    save_figure(fig, path)


def sweep_figure(sweep: pd.DataFrame, chosen: dict[str, dict], path: str | os.PathLike, metric: str = "auroc") -> None:
    """A heat map per DDPM method of the val sweep's mean ``metric`` over L (rows) x scale
    (columns), the chosen cell outlined.

    Args:
        sweep: rows of :func:`radsynth.anomaly.detect.sweep`.
        chosen: method -> ``{"noise_level", "scale"}`` chosen on val.
        path: PNG to write.
        metric: the sweep column shown (the one that chose).
    """
    methods = list(dict.fromkeys(sweep["method"]))
    fig, axes = canvas(1, max(1, len(methods)), 2.6, 2.4)
    if not methods:  # no val lesion slice: nothing was swept
        axes[0, 0].axis("off")
        axes[0, 0].text(0.5, 0.5, "no sweep: the val split has no lesion slice\n(first L and scale of each list)",
                        ha="center", va="center", fontsize=8)
    for ax, method in zip(axes[0], methods):
        grid = sweep[sweep["method"] == method].pivot(index="noise_level", columns="scale", values=metric)
        image = ax.imshow(grid.to_numpy() * 100, cmap="viridis", aspect="auto")
        ax.set_xticks(range(grid.shape[1]), [f"{s:g}" for s in grid.columns], fontsize=7)
        ax.set_yticks(range(grid.shape[0]), [str(v) for v in grid.index], fontsize=7)
        ax.set_xlabel("guidance w" if method == "classifier_free" else "classifier scale s", fontsize=8)
        ax.set_ylabel("noise level L", fontsize=8)
        ax.set_title(f"{METHOD_NAMES.get(method, method)}\nval {metric.upper()} (%)", fontsize=8)
        for (i, level), (j, scale) in ((a, b) for a in enumerate(grid.index) for b in enumerate(grid.columns)):
            ax.text(j, i, f"{grid.loc[level, scale] * 100:.1f}", ha="center", va="center", fontsize=7, color="white")
        pick = chosen.get(method)
        if pick:
            i, j = list(grid.index).index(pick["noise_level"]), list(grid.columns).index(pick["scale"])
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2))
        fig.colorbar(image, ax=ax, fraction=0.046)
    save_figure(fig, path)
