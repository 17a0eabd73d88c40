"""Image-translation metrics as RegGAN reports them (MAE, PSNR, SSIM), and the end-point error
of a registration against its known (ground-truth) displacement field."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from skimage.metrics import structural_similarity


def translation_metrics(
    output: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None
) -> dict[str, float]:
    """MAE, PSNR and SSIM of a synthetic image against its target.

    Args:
        output: synthetic image in [-1, 1] (2D or 3D); not clipped.
        target: reference image in [-1, 1], same shape.
        mask: foreground (bool); None = every pixel.

    Returns:
        ``mae``: mean absolute error over foreground pixels on the [0, 1] scale
        (``(x + 1) / 2``). ``psnr``: ``10 log10(1 / MSE)`` over foreground pixels on [0, 1]
        (data range 1); ``inf`` for identical foregrounds (no cap, so a leak shows). Both are
        NaN for an empty mask. ``ssim``: over the whole image on the [-1, 1] scale with data
        range 2, by ``skimage.metrics.structural_similarity`` with its defaults, which are
        those of the official RegGAN evaluation: a 7-pixel uniform window (7x7, or 7x7x7 for a
        3D array, so every axis needs at least 7 pixels), K1 = 0.01, K2 = 0.03.
    """
    output = np.asarray(output, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if output.shape != target.shape:
        raise ValueError(f"output {output.shape} and target {target.shape} differ in shape")
    mask = np.ones(output.shape, bool) if mask is None else np.asarray(mask).astype(bool)
    # On [0, 1] the difference is half the difference on [-1, 1].
    difference = (output - target)[mask] / 2
    if difference.size:
        mae = float(np.abs(difference).mean())
        mse = float((difference**2).mean())
        with np.errstate(divide="ignore"):
            psnr = float(10 * np.log10(1.0 / mse)) if mse > 0 else float("inf")
    else:
        mae = psnr = float("nan")
    ssim = float(structural_similarity(output, target, data_range=2.0))
    return {"mae": mae, "psnr": psnr, "ssim": ssim}


def endpoint_error(
    field: np.ndarray,
    truth: np.ndarray,
    mask: np.ndarray | None = None,
    spacing: Sequence[float] | None = None,
) -> float:
    """Mean end-point error: the Euclidean norm of ``field - truth`` averaged over ``mask``.

    Args:
        field: predicted displacement (ndim, *spatial), channel i along axis i, in pixels
            (channel-first, as MONAI ``Warp``; move a NIfTI (..., C) field's last axis first).
        truth: ground-truth displacement, same shape.
        mask: pixels to average over (bool, spatial shape); None = all.
        spacing: pixel size per component (length ndim) to report mm; None = pixels.

    Returns:
        Mean end-point error (pixels or mm); NaN for an empty mask.
    """
    field = np.asarray(field, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    if field.shape != truth.shape:
        raise ValueError(f"field {field.shape} and truth {truth.shape} differ in shape")
    difference = field - truth
    if spacing is not None:
        if len(spacing) != field.shape[0]:
            raise ValueError(f"spacing needs {field.shape[0]} values, got {len(spacing)}")
        difference *= np.reshape(np.asarray(spacing, float), (-1,) + (1,) * (field.ndim - 1))
    norm = np.sqrt((difference**2).sum(axis=0))
    if mask is not None:
        norm = norm[np.asarray(mask).astype(bool)]
    return float(norm.mean()) if norm.size else float("nan")
