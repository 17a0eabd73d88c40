"""Registration accuracy against a known (ground-truth) displacement field."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


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
