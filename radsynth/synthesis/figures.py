"""The generators' samples beside the real slices whose masks conditioned them."""

from __future__ import annotations

import os
import textwrap

import numpy as np
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
