"""The reconstruction figure: per acceleration, the target and each method's magnitude, its
absolute error and, for the diffusion methods, the std of its samples."""

from __future__ import annotations

import os

import numpy as np

from radsynth.recon.tables import METHOD_NAMES
from radsynth.report.figures import canvas, save_figure, show_image


def recon_figure(examples: dict[str, np.ndarray], methods, path: str | os.PathLike) -> None:
    """Three rows per acceleration (image, |error|, std), one column per method after the target.

    Args:
        examples: arrays of :func:`radsynth.recon.evaluate.reconstruct_test` (``target``,
            ``accelerations``, ``case``, and per method ``<method>`` and ``<method>_std``).
        methods: methods in display order.
        path: PNG to write.
    """
    methods = [m for m in methods if m in examples]
    target = examples["target"][0]
    peak = float(target.max()) or 1.0
    accelerations = [int(a) for a in examples["accelerations"]]
    fig, axes = canvas(3 * len(accelerations), 1 + len(methods), 1.6, 1.7)
    for ax in axes.ravel():
        ax.axis("off")
    error_peak = max(float(np.abs(examples[m] - target).max()) for m in methods) or 1.0
    for a, acceleration in enumerate(accelerations):
        top = 3 * a
        show_image(axes[top, 0], target, f"target\n{examples['case'][0]}", vmin=0.0, vmax=peak)
        axes[top + 1, 0].text(0.5, 0.5, f"{acceleration}x\n|error|", ha="center", va="center", fontsize=9)
        axes[top + 2, 0].text(0.5, 0.5, f"{acceleration}x\nsample std", ha="center", va="center", fontsize=9)
        for k, method in enumerate(methods, start=1):
            image = examples[method][a]
            show_image(axes[top, k], image, f"{METHOD_NAMES.get(method, method)} {acceleration}x", vmin=0.0, vmax=peak)
            show_image(axes[top + 1, k], np.abs(image - target), "", cmap="magma", vmin=0.0, vmax=error_peak)
            if f"{method}_std" in examples:
                show_image(axes[top + 2, k], examples[f"{method}_std"][a], "", cmap="magma", vmin=0.0, vmax=error_peak)
    save_figure(fig, path)
