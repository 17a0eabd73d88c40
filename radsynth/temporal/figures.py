"""Figures of the temporal stage: a row of generated frames per method against the truth, and
an animated GIF of the generated cycle (ED -> ES -> ED)."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from radsynth.io import atomic_path
from radsynth.report.figures import canvas, draw_contours, save_figure, show_image
from radsynth.temporal.phantom import UNLABELLED
from radsynth.temporal.tables import METHOD_NAMES


def _plane(frames: np.ndarray) -> np.ndarray:
    """(F, H, W) as they are, or the middle slice of (F, H, W, D)."""
    return frames if frames.ndim == 3 else frames[..., frames.shape[-1] // 2]


def frames_figure(examples: dict[str, np.ndarray], methods, path: str | os.PathLike, shown: int = 6) -> None:
    """Rows: the truth, then each method; columns: ``shown`` frames from ED to ES, with each
    row's labels outlined (the truth's where it has them).

    Args:
        examples: arrays of :func:`radsynth.temporal.evaluate.generate_and_score`.
        methods: methods in display order.
        path: PNG to write.
    """
    methods = [m for m in methods if m in examples]
    truth = _plane(examples["truth"])
    picks = np.unique(np.round(np.linspace(0, len(truth) - 1, min(shown, len(truth)))).astype(int))
    fig, axes = canvas(1 + len(methods), len(picks), 1.6, 1.7)
    rows = [("truth", truth, _plane(examples["truth_labels"]))]
    rows += [(METHOD_NAMES.get(m, m), _plane(examples[m]), _plane(examples[f"{m}_labels"])) for m in methods]
    for r, (name, frames, labels) in enumerate(rows):
        for c, k in enumerate(picks):
            ax = axes[r, c]
            ax.axis("off")
            show_image(ax, frames[k], f"{name}\nframe {k}" if c == 0 else f"frame {k}", vmin=0.0, vmax=1.0)
            if (labels[k] != UNLABELLED).any():
                draw_contours(ax, labels[k])
    save_figure(fig, path)


def cycle_gif(panels, path: str | os.PathLike, milliseconds: int = 120) -> None:
    """An animated GIF of frames ED .. ES and back, the panels side by side (the truth beside the
    generated frames). Each panel (F, H, W) or (F, H, W, D) in [0, 1], the same F and size."""
    planes = np.concatenate([_plane(frames) for frames in panels], axis=2)  # side by side
    cycle = np.concatenate([planes, planes[-2:0:-1]])
    images = [Image.fromarray((np.clip(p, 0, 1) * 255).astype(np.uint8)).resize((p.shape[1] * 3, p.shape[0] * 3))
              for p in cycle]
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=milliseconds, loop=0)
