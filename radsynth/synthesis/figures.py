"""The generators' samples beside the real slices whose masks conditioned them."""

from __future__ import annotations

import os
import textwrap

import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap

from radsynth.report.figures import LABEL_COLOURS, canvas, draw_contours, radiological, save_figure, show_image


def generator_figure(
    real: np.ndarray,
    labels: np.ndarray,
    samples: dict[str, dict[str, np.ndarray]],
    channels: list[str],
    path: str | os.PathLike,
    prompts: dict[str, str] | None = None,
) -> None:
    """Each generator's samples beside the real slice whose mask conditioned them.

    One row per source slice: the real image (first channel), its mask over it, then each
    generator's K samples (first channel) with the contours of the sample's own label (for an
    unconditional generator such as the DDPM, the mask it drew with the image).

    Args:
        real: (N, C, H, W) real slices in [-1, 1].
        labels: (N, H, W) their masks.
        samples: generator -> ``image`` (N, K, C, H, W) in [-1, 1] and ``label`` (N, K, H, W).
        channels: channel names (C,); the first is shown.
        path: PNG to write.
        prompts: generator -> text prompt, printed under that generator's first column title.
    """
    columns = [(None, 0), (None, 1)] + [(g, k) for g, s in samples.items() for k in range(s["image"].shape[1])]
    fig, axes = canvas(len(real), len(columns), 1.6, 1.7)
    for row in range(len(real)):
        show_image(axes[row, 0], real[row, 0])
        show_image(axes[row, 1], real[row, 0])
        mask = radiological(labels[row]).astype(float)
        mask[mask == 0] = np.nan  # background stays transparent
        axes[row, 1].imshow(mask, cmap=ListedColormap(LABEL_COLOURS), vmin=0.5, vmax=len(LABEL_COLOURS) + 0.5,
                            alpha=0.45, interpolation="nearest")
        for col, (generator, k) in enumerate(columns[2:], start=2):
            show_image(axes[row, col], samples[generator]["image"][row, k, 0])
            draw_contours(axes[row, col], samples[generator]["label"][row, k])
    titles = [f"real {channels[0]}", "real mask"] + [f"{g} {k + 1}" for g, k in columns[2:]]
    for col, ((generator, k), title) in enumerate(zip(columns, titles)):
        prompt = (prompts or {}).get(generator) if k == 0 else None
        # Prompts are long: wrapped, in small type, under the generator's first column only.
        axes[0, col].set_title(title + ("\n" + textwrap.fill(prompt, 28) if prompt else ""), fontsize=6)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    save_figure(fig, path)


def structure_curve_figure(curve: pd.DataFrame, path: str | os.PathLike) -> None:
    """Structure Dice against the training step, one line per generator: the mean over folds
    with a band from the lowest to the highest fold, and the segmenter on the real held-out
    slices (generator ``real``) as a dashed line. A second panel, when an unconditional
    generator drew its own masks, shows the share of them that are not empty.

    Args:
        curve: the rows of :data:`radsynth.synthesis.curve.COLUMNS` (``real`` rows: step NaN).
        path: PNG to write.
    """
    trained = curve[curve["generator"] != "real"]
    shares = trained.dropna(subset=["nonempty_share"])
    panels = [("structure_dice", "structure Dice (%)", trained)]
    if len(shares):
        panels.append(("nonempty_share", "non-empty drawn masks (%)", shares))
    colours = {generator: f"C{i}" for i, generator in enumerate(trained["generator"].unique())}  # same in both panels
    fig, axes = canvas(1, len(panels), 3.6, 2.8)
    for ax, (column, title, rows) in zip(axes[0], panels):
        scale = 100.0 if column == "nonempty_share" else 1.0
        for generator, frame in rows.groupby("generator", sort=False):
            by_step = frame.groupby("step")[column].agg(["mean", "min", "max"]) * scale
            colour = colours[generator]
            ax.plot(by_step.index, by_step["mean"], marker="o", markersize=3, linewidth=1.2, color=colour, label=generator)
            ax.fill_between(by_step.index, by_step["min"], by_step["max"], color=colour, alpha=0.2, linewidth=0)
        ceiling = curve.loc[curve["generator"] == "real", "structure_dice"]
        if column == "structure_dice" and ceiling.notna().any():
            ax.axhline(ceiling.mean(), color="black", linestyle="--", linewidth=1.0, label="real slices")
        if not len(rows):
            ax.text(0.5, 0.5, "no held-out masks", ha="center", va="center", transform=ax.transAxes, fontsize=8)
        ax.set_ylim(-2, 102)
        ax.set_xlabel("training step", fontsize=7)
        ax.set_ylabel(title, fontsize=7)
        ax.tick_params(labelsize=6)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6, loc="best")
    save_figure(fig, path)
