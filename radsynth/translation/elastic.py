"""The elastic part of a controlled misalignment: a smooth random displacement ``d`` on a cubic
B-spline control grid spaced a quarter of the image, scaled so that its peak length over the
image grid is a given number of pixels (:func:`random_elastic`), evaluated densely
(:func:`elastic_field`, separable) or at arbitrary points (:func:`elastic_at`).

NumPy and SciPy only, like :mod:`radsynth.translation.misalign`, which adds ``d`` to the
affine's sampling map; :mod:`radsynth.translation.misalign_torch` has the torch twin.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.ndimage import map_coordinates

# Elastic control grid: one cubic B-spline coefficient every quarter of each axis, plus
# CONTROL_PAD beyond each edge so the spline near the border is as random as in the middle
# (and the taps of every in-image point stay inside the grid, no clamping there).
CONTROL_DIVISIONS = 4
CONTROL_PAD = 2
# Fixed-point inversion of S_s stops when no point moves by more than this (pixels).
INVERSE_TOL = 1e-4
INVERSE_MAX_ITER = 100


def control_spacing(shape: Sequence[int]) -> np.ndarray:
    """Elastic control-point spacing per axis, in pixels (a quarter of the extent, >= 1)."""
    return np.maximum((np.asarray(shape, dtype=np.float64) - 1) / CONTROL_DIVISIONS, 1.0)


def control_shape(shape: Sequence[int]) -> tuple[int, ...]:
    """Shape of the elastic coefficient grid (without the channel axis) for an image shape."""
    extent = (np.asarray(shape, dtype=np.float64) - 1) / control_spacing(shape)
    return tuple(int(n) for n in np.ceil(extent - 1e-9).astype(int) + 1 + 2 * CONTROL_PAD)


def cubic_bspline_weights(t: np.ndarray) -> np.ndarray:
    """Weights of the taps ``floor(u) - 1 .. floor(u) + 2`` at fraction ``t = u - floor(u)``."""
    return np.stack(
        [
            (1 - t) ** 3 / 6,
            (3 * t**3 - 6 * t**2 + 4) / 6,
            (-3 * t**3 + 3 * t**2 + 3 * t + 1) / 6,
            t**3 / 6,
        ]
    )


def _axis_weights(size: int, spacing: float, n_control: int) -> np.ndarray:
    """(size, n_control) matrix: B-spline weights of every pixel of one axis (clamped taps)."""
    u = np.arange(size) / spacing + CONTROL_PAD
    base = np.floor(u).astype(np.intp)
    weights = cubic_bspline_weights(u - base)
    matrix = np.zeros((size, n_control))
    for tap in range(4):
        np.add.at(
            matrix, (np.arange(size), np.clip(base + tap - 1, 0, n_control - 1)), weights[tap]
        )
    return matrix


def elastic_field(coefficients: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Dense elastic displacement on the pixel grid of ``shape``.

    Args:
        coefficients: (ndim, *control_shape(shape)) cubic B-spline coefficients, in pixels.
        shape: spatial shape.

    Returns:
        float64 (ndim, *shape); separable, so it is cheap even for volumes.
    """
    out = np.asarray(coefficients, dtype=np.float64)
    for axis, (size, spacing) in enumerate(zip(shape, control_spacing(shape))):
        weights = _axis_weights(size, spacing, out.shape[1 + axis])
        out = np.moveaxis(np.tensordot(weights, out, axes=([1], [1 + axis])), 0, 1 + axis)
    return out


def elastic_at(coefficients: np.ndarray, shape: Sequence[int], points: np.ndarray) -> np.ndarray:
    """Elastic displacement at arbitrary points (ndim, ...) in pixels, same spline as above."""
    spacing = control_spacing(shape).reshape((-1,) + (1,) * (points.ndim - 1))
    coords = points / spacing + CONTROL_PAD
    # prefilter=False: the array already holds B-spline coefficients; mode="nearest" clamps
    # taps exactly like _axis_weights (checked in the tests).
    return np.stack(
        [map_coordinates(c, coords, order=3, prefilter=False, mode="nearest") for c in coefficients]
    )


def random_elastic(elastic: float, shape: Sequence[int], rng: np.random.Generator) -> np.ndarray:
    """Draw elastic B-spline coefficients whose displacement peaks at ``elastic`` pixels.

    Args:
        elastic: peak displacement length ``max_p |d(p)|`` over the image grid, in pixels (> 0).
        shape: spatial shape (2D or 3D).
        rng: draws one standard normal per coefficient (array order).

    Returns:
        float64 (ndim, *control_shape(shape)); see :func:`elastic_field`.
    """
    if elastic <= 0:
        raise ValueError(f"elastic must be > 0 to draw a field, got {elastic}")
    coefficients = rng.standard_normal((len(shape), *control_shape(shape)))
    peak = np.sqrt((elastic_field(coefficients, shape) ** 2).sum(0)).max()
    return coefficients * (elastic / peak)
