"""RegGAN-style controlled misalignment: random affines, their displacement fields, warping.

Conventions (those of ``monai.networks.blocks.Warp``, so a field written here can be fed to a
registration network's loss unchanged):

- Coordinates are array indices in array order (axis 0, axis 1[, axis 2]), in pixels; the
  centre of an image of shape ``s`` is ``(s - 1) / 2``.
- An affine ``A`` is a homogeneous (ndim+1, ndim+1) matrix mapping an *output* pixel to the
  *input* pixel it samples: ``moved(p) = image(A p)``.
- A displacement field has shape (ndim, *shape), channel i along axis i, and warps as
  ``warped(p) = image(p + field(p))``.

Level L draws the motion of the image *content* the way torchvision's ``RandomAffine`` (used
by the official RegGAN code) does: rotation uniform in +-L degrees, translation uniform in
+-0.02 L of the image size per axis, isotropic scale uniform in [1 - 0.02 L, 1 + 0.02 L]; the
sampling matrix is the inverse of that motion. Level 0 is the mild draw of level 1, shared by
source and target. Only NumPy and SciPy are imported: this runs in light per-subject jobs
(:mod:`radsynth.translation.misalign_torch` redraws batches on the training device).

Optional elastic part (``elastic`` > 0, pixels): a smooth random displacement ``d`` added to the
affine's sampling map, ``S(p) = A p + d(p)``, so ``moved(p) = image(S(p))``. ``d`` is a cubic
B-spline on a control grid spaced a quarter of the image, scaled so that ``max_p |d(p)|`` over
the image grid is exactly ``elastic``. The ground-truth field ``S_s^-1(S_t(p)) - p`` has no
closed form then; the inverse is found by fixed-point iteration to ``INVERSE_TOL`` pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy.ndimage import map_coordinates
from scipy.spatial.transform import Rotation

from radsynth.translation.elastic import INVERSE_MAX_ITER, INVERSE_TOL, elastic_at, elastic_field, random_elastic


class Misaligned(NamedTuple):
    """Result of :func:`misalign_pair` / :func:`misalign_volume`.

    ``field`` is channel-first (2, H, W) for a pair and channel-last (*volume_shape, C) for a
    volume (the NIfTI layout of ``misaligned/<subject>/level<L>/field.nii.gz``). ``mask`` is
    the moved target mask, or None when no mask was given.
    """

    source: np.ndarray
    target: np.ndarray
    field: np.ndarray
    mask: np.ndarray | None


def affine_matrix(
    shape: Sequence[int],
    angles: Sequence[float] | float,
    translation: Sequence[float],
    scale: float,
) -> np.ndarray:
    """Sampling matrix (output pixel -> input pixel) of a content motion about the image centre.

    The content motion is ``q = c + scale * R (p - c) + translation`` (content at ``p`` moves
    to ``q``); the returned matrix is its inverse, so ``warp(image, affine_field(A, shape))``
    shows the moved content.

    Args:
        shape: spatial shape (2D or 3D).
        angles: degrees. 2D: one angle, rotating axis 0 towards axis 1. 3D: three angles,
            intrinsic rotations about axes 0, 1, 2 in that order
            (``Rotation.from_euler("XYZ", angles)`` with x, y, z = array axes 0, 1, 2).
        translation: content shift per axis, in pixels.
        scale: isotropic content scale (> 1 enlarges).

    Returns:
        (ndim+1, ndim+1) float64 homogeneous matrix.
    """
    ndim = len(shape)
    angles = np.atleast_1d(np.asarray(angles, dtype=np.float64))
    if ndim == 2 and angles.size == 1:
        # Same sign convention as a 3D rotation about an (implicit) third axis.
        rotation = Rotation.from_euler("Z", angles[0], degrees=True).as_matrix()[:2, :2]
    elif ndim == 3 and angles.size == 3:
        rotation = Rotation.from_euler("XYZ", angles, degrees=True).as_matrix()
    else:
        raise ValueError(f"{ndim}D needs {1 if ndim == 2 else 3} angle(s), got {angles.size}")
    centre = (np.asarray(shape, dtype=np.float64) - 1) / 2
    forward = np.eye(ndim + 1)
    forward[:ndim, :ndim] = scale * rotation
    forward[:ndim, ndim] = centre - scale * rotation @ centre + np.asarray(translation, float)
    return np.linalg.inv(forward)


def level_strength(level: int, shape: Sequence[int]) -> tuple[int, float]:
    """``(ndim, L)`` of a level's draw after checking it; level 0 draws as level 1 (one mild
    motion shared by source and target)."""
    if level < 0:
        raise ValueError(f"misalignment level must be >= 0, got {level}")
    if len(shape) not in (2, 3):
        raise ValueError(f"only 2D and 3D shapes are supported, got {tuple(shape)}")
    return len(shape), max(float(level), 1.0)


def random_affine(level: int, shape: Sequence[int], rng: np.random.Generator) -> np.ndarray:
    """Draw a RegGAN misalignment of ``level`` for an image of ``shape`` (2D or 3D).

    Args:
        level: noise level L >= 0 (0 draws the mild level-1 motion).
        shape: spatial shape; translation bounds are 0.02 L of each axis' size.
        rng: the only source of randomness (draw order: angles, translation, scale).

    Returns:
        (ndim+1, ndim+1) sampling matrix, see :func:`affine_matrix`. In 3D each of the three
        Euler angles is uniform in +-L degrees.
    """
    ndim, strength = level_strength(level, shape)
    angles = rng.uniform(-strength, strength, size=1 if ndim == 2 else 3)
    translation = rng.uniform(-1.0, 1.0, size=ndim) * 0.02 * strength * np.asarray(shape, float)
    scale = rng.uniform(1.0 - 0.02 * strength, 1.0 + 0.02 * strength)
    return affine_matrix(shape, angles, translation, scale)


def pair_matrices(
    level: int, shape: Sequence[int], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Sampling matrices (A_source, A_target): one shared draw at level 0, independent above."""
    source = random_affine(level, shape, rng)
    target = source if level == 0 else random_affine(level, shape, rng)
    return source, target


def _grid(shape: Sequence[int]) -> np.ndarray:
    return np.stack(np.meshgrid(*[np.arange(n, dtype=np.float64) for n in shape], indexing="ij"))


def affine_field(matrix: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Displacement field ``A p - p`` of a homogeneous sampling matrix.

    Args:
        matrix: (ndim+1, ndim+1) homogeneous matrix in array-index coordinates.
        shape: spatial shape.

    Returns:
        float64 (ndim, *shape) in pixels, channel i along axis i.
    """
    ndim = len(shape)
    grid = _grid(shape)
    linear = np.asarray(matrix, dtype=np.float64)[:ndim, :ndim] - np.eye(ndim)
    offset = np.asarray(matrix, dtype=np.float64)[:ndim, ndim]
    return np.tensordot(linear, grid, axes=1) + offset.reshape((ndim,) + (1,) * ndim)


def warp(image: np.ndarray, field: np.ndarray, order: int = 1, fill: float = -1.0) -> np.ndarray:
    """``out(p) = image(p + field(p))``, as MONAI ``Warp`` (zero padding of ``image - fill``).

    Args:
        image: (*shape) array.
        field: (ndim, *shape) displacement in pixels.
        order: spline order: 1 for images, 0 for labels and masks.
        fill: value outside the image: -1 for images in [-1, 1], 0 for labels.

    Returns:
        Warped array, same dtype as ``image``.
    """
    image = np.asarray(image)
    coords = _grid(image.shape) + field
    # "grid-constant" interpolates towards ``fill`` across the edge, exactly like grid_sample
    # with zero padding applied to ``image - fill`` (plain "constant" would not blend).
    out = map_coordinates(
        image.astype(np.float64, copy=False), coords, order=order, mode="grid-constant", cval=fill
    )
    return out.astype(image.dtype, copy=False)


def _invert(
    matrix: np.ndarray, coefficients: np.ndarray | None, shape: Sequence[int], targets: np.ndarray
) -> np.ndarray:
    """Points ``x`` with ``A x + d(x) = targets``, by the iteration ``x <- A^-1 (targets - d(x))``.

    The iteration contracts while ``|A^-1| * max|grad d| < 1`` (then S is also one-to-one);
    on exit every point moved by < INVERSE_TOL in the last step, so its error is about that.
    """
    ndim = len(shape)
    inverse = np.linalg.inv(matrix)
    linear, offset = inverse[:ndim, :ndim], inverse[:ndim, ndim].reshape((ndim,) + (1,) * ndim)
    points = np.tensordot(linear, targets, axes=1) + offset
    if coefficients is None:
        return points
    for _ in range(INVERSE_MAX_ITER):
        update = (
            np.tensordot(linear, targets - elastic_at(coefficients, shape, points), 1) + offset
        )
        change = np.abs(update - points).max()
        points = update
        if change < INVERSE_TOL:
            return points
    raise ValueError(
        "the elastic transform could not be inverted (it may fold): use a smaller elastic"
    )


def sampling_field(
    matrix: np.ndarray, shape: Sequence[int], coefficients: np.ndarray | None = None
) -> np.ndarray:
    """Field ``S(p) - p`` of the transform ``S(p) = A p + d(p)``: ``warp(image, it)`` moves it."""
    field = affine_field(matrix, shape)
    return field if coefficients is None else field + elastic_field(coefficients, shape)


def pair_field(
    a_source: np.ndarray,
    a_target: np.ndarray,
    shape: Sequence[int],
    e_source: np.ndarray | None = None,
    e_target: np.ndarray | None = None,
) -> np.ndarray:
    """Ground-truth registration field ``S_s^-1(S_t(p)) - p`` of two transforms.

    ``source(S_s(p + f(p))) = target(S_t(p))``, so ``warp(moved_source, f) ~= moved_target``.

    Args:
        a_source, a_target: sampling matrices.
        shape: spatial shape.
        e_source, e_target: elastic coefficients, or None for affine only.

    Returns:
        float64 (ndim, *shape). Affine only: the exact ``A_s^-1 A_t p - p``; with elastic
        parts, numerical to about ``INVERSE_TOL`` pixels.
    """
    if e_source is None and e_target is None:
        return affine_field(np.linalg.solve(a_source, a_target), shape)
    grid = _grid(shape)
    return (
        _invert(a_source, e_source, shape, grid + sampling_field(a_target, shape, e_target)) - grid
    )


def misalign_with(
    source: np.ndarray,
    target: np.ndarray,
    a_source: np.ndarray,
    a_target: np.ndarray,
    e_source: np.ndarray | None = None,
    e_target: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    fill: float = -1.0,
) -> Misaligned:
    """Move a pair by explicit transforms (what :func:`misalign_pair` does after drawing them).

    Args:
        source, target: images of one shape in [-1, 1] (2D or 3D).
        a_source, a_target: sampling matrices (:func:`affine_matrix`).
        e_source, e_target: elastic coefficients (:func:`random_elastic`) or None.
        mask: optional target mask, moved with the target (nearest, fill 0).
        fill: intensity outside the image.

    Returns:
        :class:`Misaligned`, ``field`` float32 (ndim, *shape) from :func:`pair_field`; exactly
        zero when both transforms are equal (level 0).
    """
    source, target = np.asarray(source), np.asarray(target)
    mask = None if mask is None else np.asarray(mask)
    if source.shape != target.shape or (mask is not None and mask.shape != target.shape):
        raise ValueError("source, target and mask must share one shape")
    shape = source.shape
    # Without elastic parts sampling_field is affine_field itself: the affine-only results
    # (and the stored pairs) stay byte-identical to those from before the elastic option.
    f_target = sampling_field(a_target, shape, e_target)
    moved_source = warp(source, sampling_field(a_source, shape, e_source), 1, fill)
    moved_target = warp(target, f_target, 1, fill)
    moved_mask = None if mask is None else warp(mask, f_target, 0, 0)
    same = np.array_equal(a_source, a_target) and (
        e_source is e_target or np.array_equal(e_source, e_target)
    )
    if same:
        field = np.zeros((source.ndim, *shape))
    else:
        field = pair_field(a_source, a_target, shape, e_source, e_target)
    return Misaligned(moved_source, moved_target, field.astype(np.float32), moved_mask)


def _pair(source, target, mask, level, rng, fill, elastic=0.0):
    if elastic < 0:
        raise ValueError(f"elastic must be >= 0, got {elastic}")
    a_source, a_target = pair_matrices(level, source.shape, rng)
    e_source = e_target = None
    if elastic > 0:
        # Drawn after both matrices, so elastic=0 consumes the generator exactly as before.
        e_source = random_elastic(elastic, source.shape, rng)
        e_target = e_source if level == 0 else random_elastic(elastic, source.shape, rng)
    return misalign_with(source, target, a_source, a_target, e_source, e_target, mask, fill)


def misalign_pair(
    source: np.ndarray,
    target: np.ndarray,
    level: int,
    rng: np.random.Generator,
    mask: np.ndarray | None = None,
    fill: float = -1.0,
    elastic: float = 0.0,
) -> Misaligned:
    """Move a 2D (or 3D) source/target pair by RegGAN misalignment of ``level``.

    Args:
        source: image in [-1, 1], background -1.
        target: image aligned with ``source``, same shape.
        level: 0 applies one shared mild draw to both (field zero); L > 0 independent draws.
        rng: random generator (two draws for L > 0, one for L = 0).
        mask: optional target foreground/label, moved with the target (nearest, fill 0).
        fill: intensity outside the image.
        elastic: peak displacement (pixels) of a smooth random elastic part added to each
            affine, drawn after the matrices (source, then target; shared at level 0). 0 keeps
            the affine-only result byte for byte.

    Returns:
        :class:`Misaligned` with ``field`` float32 (ndim, *shape) = ``S_s^-1(S_t(p)) - p``
        (``A_s^-1 A_t p - p`` without elastic part), so ``warp(moved_source_like_image,
        field) ~= moved_target``: what a registration network R(G(source), target) should
        predict.
    """
    source, target = np.asarray(source), np.asarray(target)
    mask = None if mask is None else np.asarray(mask)
    return _pair(source, target, mask, level, rng, fill, elastic)


def misalign_volume(
    source: np.ndarray,
    target: np.ndarray,
    level: int,
    rng: np.random.Generator,
    axis: int = -1,
    mask: np.ndarray | None = None,
    spatial_dims: int = 2,
    fill: float = -1.0,
    elastic: float = 0.0,
) -> Misaligned:
    """Misalign a 3D pair slice by slice (2D, RegGAN) or as whole volumes (3D).

    Args:
        source: (X, Y, Z) image in [-1, 1].
        target: (X, Y, Z) image aligned with ``source``.
        level: misalignment level (see :func:`misalign_pair`).
        rng: random generator; slices draw in index order, so results depend only on the seed.
        axis: slice axis for ``spatial_dims=2``.
        mask: optional target mask moved with the target.
        spatial_dims: 2 = an independent in-plane affine per slice; 3 = one 3D affine per
            volume (in voxel coordinates: anisotropic spacing is not compensated).
        fill: intensity outside the image.
        elastic: peak elastic displacement in pixels (see :func:`misalign_pair`), drawn per
            slice for ``spatial_dims=2`` and per volume for 3.

    Returns:
        :class:`Misaligned` of volumes; ``field`` float32 (X, Y, Z, C) channel-last with
        C = 2 (components along the two in-plane axes in array order) or C = 3.
    """
    source, target = np.asarray(source), np.asarray(target)
    mask = None if mask is None else np.asarray(mask)
    if source.ndim != 3:
        raise ValueError(f"expected a 3D volume, got shape {source.shape}")
    if spatial_dims == 3:
        moved = _pair(source, target, mask, level, rng, fill, elastic)
        return moved._replace(field=np.moveaxis(moved.field, 0, -1))
    if spatial_dims != 2:
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
    axis = axis % 3
    slices = [
        _pair(
            np.take(source, k, axis),
            np.take(target, k, axis),
            None if mask is None else np.take(mask, k, axis),
            level,
            rng,
            fill,
            elastic,
        )
        for k in range(source.shape[axis])
    ]
    # Stack along the slice axis; field components (2, H, W) go last.
    field = np.stack([np.moveaxis(s.field, 0, -1) for s in slices], axis=axis)
    return Misaligned(
        np.stack([s.source for s in slices], axis=axis),
        np.stack([s.target for s in slices], axis=axis),
        field,
        None if mask is None else np.stack([s.mask for s in slices], axis=axis),
    )
