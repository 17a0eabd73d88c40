"""Per-epoch RegGAN misalignment redrawn on the training device (the official code's behaviour).

The stored, fixed pairs of :mod:`radsynth.translation.misalign` stay the default; this module redraws fresh
transforms for a whole batch already on a device (CPU or CUDA), with the same distribution and
the same conventions: pixel coordinates in array order, sampling matrices ``A`` (output pixel ->
input pixel), an optional elastic part ``S(p) = A p + d(p)`` on the same cubic B-spline control
grid, and a returned field in the MONAI ``Warp`` convention, ``warp(moved_source, field) ~=
moved_target``. Everything is batched: no Python loop over samples or pixels (only over the
4**ndim spline taps and the fixed-point iterations of the elastic inverse).

Images are warped with ``grid_sample(align_corners=True)`` on ``image - fill`` with zero padding,
plus ``fill`` (what MONAI ``Warp`` and :func:`radsynth.translation.misalign.warp` do). The sampling grid is
built in pixels rather than with ``affine_grid``: it is the same product, but staying in pixels
lets the elastic part and the ground-truth field share one grid.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from radsynth.translation.elastic import CONTROL_PAD, INVERSE_MAX_ITER, INVERSE_TOL, control_shape, control_spacing
from radsynth.translation.misalign import level_strength


def _about(axis: int, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """(B, 3, 3) right-handed rotations about array axis ``axis``."""
    one, zero = torch.ones_like(cos), torch.zeros_like(cos)
    rows = {
        0: [[one, zero, zero], [zero, cos, -sin], [zero, sin, cos]],
        1: [[cos, zero, sin], [zero, one, zero], [-sin, zero, cos]],
        2: [[cos, -sin, zero], [sin, cos, zero], [zero, zero, one]],
    }[axis]
    return torch.stack([torch.stack(row, -1) for row in rows], -2)


def rotation_matrices(angles: torch.Tensor) -> torch.Tensor:
    """Batched rotations exactly as :func:`radsynth.translation.misalign.affine_matrix` builds them.

    Args:
        angles: degrees, (B, 1) for 2D (``Rotation.from_euler("Z", a)`` restricted to the
            plane, axis 0 towards axis 1) or (B, 3) for 3D (intrinsic ``"XYZ"`` =
            ``Rx(a0) @ Ry(a1) @ Rz(a2)``, x, y, z = array axes 0, 1, 2).

    Returns:
        (B, ndim, ndim) rotation matrices.
    """
    rad = torch.deg2rad(angles)
    cos, sin = torch.cos(rad), torch.sin(rad)
    if angles.shape[1] == 1:
        return _about(2, cos[:, 0], sin[:, 0])[:, :2, :2]
    return (
        _about(0, cos[:, 0], sin[:, 0])
        @ _about(1, cos[:, 1], sin[:, 1])
        @ _about(2, cos[:, 2], sin[:, 2])
    )


def affine_matrices(
    shape: Sequence[int], angles: torch.Tensor, translation: torch.Tensor, scale: torch.Tensor
) -> torch.Tensor:
    """Batched :func:`radsynth.translation.misalign.affine_matrix`: sampling matrices of content motions.

    Args:
        shape: spatial shape.
        angles: degrees, (B, 1) in 2D or (B, 3) in 3D (see :func:`rotation_matrices`).
        translation: (B, ndim) content shift in pixels.
        scale: (B,) isotropic content scale.

    Returns:
        (B, ndim+1, ndim+1) matrices, dtype and device of ``angles``.
    """
    ndim = len(shape)
    batch = angles.shape[0]
    linear = scale[:, None, None] * rotation_matrices(angles)
    centre = (torch.tensor(shape, dtype=angles.dtype, device=angles.device) - 1) / 2
    forward = torch.eye(ndim + 1, dtype=angles.dtype, device=angles.device).repeat(batch, 1, 1)
    forward[:, :ndim, :ndim] = linear
    forward[:, :ndim, ndim] = centre - linear @ centre + translation
    return torch.linalg.inv(forward)


def random_matrices(
    level: int, shape: Sequence[int], batch: int, generator: torch.Generator, whole_pixels: bool = False
) -> torch.Tensor:
    """``batch`` independent draws of :func:`radsynth.translation.misalign.random_affine` (same law).

    Args:
        level: noise level L >= 0 (0 draws the mild level-1 motion).
        shape: spatial shape (2D or 3D); translation bounds are 0.02 L of each axis' size.
        batch: number of draws.
        generator: the only source of randomness; draws happen on its device (angles, then
            translations, then scales, each for the whole batch).
        whole_pixels: round each translation to whole pixels, as torchvision's
            ``RandomAffine`` (the official RegGAN draw) does; the same draws otherwise.

    Returns:
        float64 (batch, ndim+1, ndim+1) on the generator's device.
    """
    ndim, strength = level_strength(level, shape)
    options = {"generator": generator, "device": generator.device, "dtype": torch.float64}

    def uniform(*size: int) -> torch.Tensor:  # uniform in [-1, 1)
        return 2 * torch.rand(size, **options) - 1

    angles = strength * uniform(batch, 1 if ndim == 2 else 3)
    size = torch.tensor(shape, dtype=torch.float64, device=generator.device)
    translation = uniform(batch, ndim) * 0.02 * strength * size
    if whole_pixels:
        translation = torch.round(translation)
    scale = 1 + 0.02 * strength * uniform(batch)
    return affine_matrices(shape, angles, translation, scale)


def _cubic_weights(t: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Cubic B-spline weights of taps floor(u) - 1 .. floor(u) + 2 (as in radsynth.translation.misalign)."""
    t2 = t * t
    t3 = t2 * t
    w3 = t3 / 6
    w0 = 1 / 6 + (t2 - t) / 2 - w3  # (1 - t)^3 / 6
    w1 = 2 / 3 - t2 + t3 / 2
    return w0, w1, 1 - w0 - w1 - w3, w3


def _spacing(shape: Sequence[int], like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(control_spacing(shape), dtype=like.dtype, device=like.device)


def _normalise(coords: torch.Tensor, sizes: Sequence[int]) -> torch.Tensor:
    """Pixel coordinates (B, ndim, *shape) -> ``grid_sample`` grid (B, *shape, ndim).

    ``align_corners=True``: index i sits at -1 + 2 i / (n - 1) (MONAI ``Warp``'s convention);
    ``grid_sample`` wants the axes reversed, (x, y[, z]) = (last, ..., first).
    """
    ndim = coords.shape[1]
    scale = torch.tensor(
        [2 / max(n - 1, 1) for n in sizes], dtype=coords.dtype, device=coords.device
    )
    return (coords * scale.view(1, ndim, *([1] * ndim)) - 1).movedim(1, -1).flip(-1)


def elastic_at(
    coefficients: torch.Tensor, shape: Sequence[int], points: torch.Tensor
) -> torch.Tensor:
    """Elastic displacement of B-spline ``coefficients`` at arbitrary pixel ``points``.

    Same spline as :func:`radsynth.translation.misalign.elastic_field`, taps clamped at the grid edge. The
    cubic B-spline weights are positive, so each pair of neighbouring taps is one linear fetch
    at a shifted position (Sigg & Hadwiger, GPU Gems 2, ch. 20): 2**ndim ``grid_sample`` calls
    with border padding evaluate it exactly, instead of 4**ndim gathers.

    Args:
        coefficients: (B, ndim, *control_shape(shape)).
        shape: spatial shape of the image the coefficients belong to.
        points: (B, ndim, *grid) pixel coordinates, ``grid`` of ndim axes.

    Returns:
        (B, ndim, *grid) displacement in pixels, dtype of ``points``.
    """
    ndim = len(shape)
    control = coefficients.shape[2:]
    coefficients = coefficients.to(points.dtype)
    # Channel-last, axes reversed (grid_sample's layout) from the start: fewer copies later.
    spacing = _spacing(shape, points).flip(0)
    coords = (points.movedim(1, -1).flip(-1) / spacing + CONTROL_PAD).contiguous()
    base = torch.floor(coords)
    w0, w1, w2, w3 = _cubic_weights(coords - base)
    gains = (w0 + w1, w2 + w3)  # both >= 1/6
    # Shifted fetch positions, normalised for align_corners=True on the control grid.
    to_grid = torch.tensor(
        [2 / (n - 1) for n in reversed(control)], dtype=points.dtype, device=points.device
    )
    positions = ((base - 1 + w1 / gains[0]) * to_grid - 1, (base + 1 + w3 / gains[1]) * to_grid - 1)
    out = torch.zeros_like(points)
    for pick in itertools.product(range(2), repeat=ndim):
        grid = torch.stack([positions[p][..., axis] for axis, p in enumerate(pick)], -1)
        gain = gains[pick[0]][..., 0]
        for axis in range(1, ndim):
            gain = gain * gains[pick[axis]][..., axis]
        fetched = F.grid_sample(coefficients, grid, "bilinear", "border", align_corners=True)
        out += gain.unsqueeze(1) * fetched
    return out


def elastic_field(coefficients: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """Dense (B, ndim, *shape) elastic displacement on the pixel grid (separable, fast)."""
    out = coefficients
    spacing = control_spacing(shape)
    for axis, size in enumerate(shape):
        n_control = out.shape[2 + axis]
        u = (
            torch.arange(size, dtype=out.dtype, device=out.device) / float(spacing[axis])
            + CONTROL_PAD
        )
        base = torch.floor(u)
        weights = torch.stack(_cubic_weights(u - base))
        matrix = torch.zeros(size, n_control, dtype=out.dtype, device=out.device)
        rows = torch.arange(size, device=out.device)
        for tap in range(4):
            columns = (base.long() + tap - 1).clamp(0, n_control - 1)
            matrix.index_put_((rows, columns), weights[tap], accumulate=True)
        out = (out.movedim(2 + axis, -1) @ matrix.T).movedim(-1, 2 + axis)
    return out


def random_elastic(
    elastic: float, shape: Sequence[int], batch: int, generator: torch.Generator
) -> torch.Tensor:
    """``batch`` draws of :func:`radsynth.translation.misalign.random_elastic` (peak ``|d|`` = ``elastic``).

    Returns:
        float64 (batch, ndim, *control_shape(shape)) on the generator's device.
    """
    if elastic <= 0:
        raise ValueError(f"elastic must be > 0 to draw a field, got {elastic}")
    size = (batch, len(shape), *control_shape(shape))
    coefficients = torch.randn(
        size, generator=generator, device=generator.device, dtype=torch.float64
    )
    peak = elastic_field(coefficients, shape).square().sum(1).flatten(1).amax(1).sqrt()
    return coefficients * (elastic / peak).view((batch,) + (1,) * (len(size) - 1))


def _grid(shape: Sequence[int], like: torch.Tensor) -> torch.Tensor:
    axes = [torch.arange(n, dtype=like.dtype, device=like.device) for n in shape]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"))


def _apply_affine(matrix: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """``A p`` for (B, ndim+1, ndim+1) matrices and (B or 1, ndim, *any) points."""
    ndim = matrix.shape[1] - 1
    linear = matrix[:, :ndim, :ndim].to(points.dtype)
    offset = (
        matrix[:, :ndim, ndim]
        .to(points.dtype)
        .view(matrix.shape[0], ndim, *([1] * (points.dim() - 2)))
    )
    return (
        torch.einsum("bij,bj...->bi...", linear, points.expand(matrix.shape[0], *points.shape[1:]))
        + offset
    )


def sampling_field(
    matrix: torch.Tensor,
    shape: Sequence[int],
    coefficients: torch.Tensor | None,
    like: torch.Tensor,
) -> torch.Tensor:
    """(B, ndim, *shape) field ``S(p) - p`` of ``S(p) = A p + d(p)``, dtype/device of ``like``."""
    grid = _grid(shape, like).unsqueeze(0)
    field = _apply_affine(matrix.to(like.device), grid) - grid
    if coefficients is not None:
        field = field + elastic_field(coefficients.to(like.device), shape).to(like.dtype)
    return field


def warp(
    image: torch.Tensor, field: torch.Tensor, mode: str = "bilinear", fill: float = -1.0
) -> torch.Tensor:
    """``out(p) = image(p + field(p))`` for (B, C, *shape) images, as MONAI ``Warp``.

    Args:
        image: (B, C, H, W) or (B, C, D, H, W).
        field: (B, ndim, *shape) displacement in pixels, channel i along spatial axis i.
        mode: ``"bilinear"`` for images (trilinear in 3D), ``"nearest"`` for masks.
        fill: value outside the image (zero padding of ``image - fill``).

    Returns:
        Warped image, same shape and dtype.
    """
    grid = _normalise(_grid(image.shape[2:], field).unsqueeze(0) + field, image.shape[2:])
    if mode == "nearest":  # copies values exactly: (v - fill) + fill can round off v
        inside = torch.ones_like(image[:, :1], dtype=field.dtype)
        inside = F.grid_sample(inside, grid, mode="nearest", padding_mode="zeros", align_corners=True)
        out = F.grid_sample(image.to(field.dtype), grid, mode="nearest", padding_mode="zeros", align_corners=True)
        return torch.where(inside > 0, out, torch.full_like(out, fill)).to(image.dtype)
    values = image.to(field.dtype) - fill
    out = F.grid_sample(values, grid, mode=mode, padding_mode="zeros", align_corners=True)
    return (out + fill).to(image.dtype)


def _invert(
    matrix: torch.Tensor,
    coefficients: torch.Tensor | None,
    shape: Sequence[int],
    targets: torch.Tensor,
) -> torch.Tensor:
    """Points ``x`` with ``A x + d(x) = targets``; see :func:`radsynth.translation.misalign._invert`."""
    inverse = torch.linalg.inv(matrix).to(targets.device)
    points = _apply_affine(inverse, targets)
    if coefficients is None:
        return points
    coefficients = coefficients.to(device=targets.device, dtype=targets.dtype)
    # In float32 the coordinates themselves are only good to ~eps * size: do not ask for more.
    tol = max(INVERSE_TOL, 4 * torch.finfo(targets.dtype).eps * max(shape))
    for _ in range(INVERSE_MAX_ITER):
        update = _apply_affine(inverse, targets - elastic_at(coefficients, shape, points))
        change = (update - points).abs().max()
        points = update
        if change < tol:  # one host sync per iteration, not per pixel
            return points
    raise ValueError(
        "the elastic transform could not be inverted (it may fold): use a smaller elastic"
    )


def transform_pair(
    source: torch.Tensor,
    target: torch.Tensor,
    a_source: torch.Tensor,
    a_target: torch.Tensor,
    e_source: torch.Tensor | None = None,
    e_target: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    fill: float = -1.0,
    shared: bool = False,
    mode: str = "bilinear",
) -> tuple[torch.Tensor, ...]:
    """Move a batch by explicit per-sample transforms (torch twin of ``misalign_with``).

    Args:
        source, target: (B, C, *shape) images in [-1, 1] on one device.
        a_source, a_target: (B, ndim+1, ndim+1) sampling matrices (any device; float64 best).
        e_source, e_target: (B, ndim, *control_shape(shape)) elastic coefficients, or None.
        mask: optional (B, C', *shape) target mask, moved with the target (nearest, fill 0).
        fill: intensity outside the image.
        shared: the two transforms are one (level 0): the field is exactly zero.
        mode: image interpolation, "bilinear" or "nearest" (the official RegGAN draw: every
            moved value is one of the image's; the field is then right to half a pixel).

    Returns:
        ``(moved_source, moved_target, field)``, plus ``moved_mask`` when a mask is given;
        ``field`` (B, ndim, *shape) in pixels (float64 for float64 images, else float32), with
        ``warp(moved_source, field) ~= moved_target``.
    """
    if source.shape != target.shape or (mask is not None and mask.shape[2:] != target.shape[2:]):
        raise ValueError("source, target and mask must share one spatial shape")
    shape = tuple(source.shape[2:])
    if len(shape) not in (2, 3):
        raise ValueError(f"expected (B, C, H, W) or (B, C, D, H, W), got {tuple(source.shape)}")
    # Work in at least float32; images in float16 would put pixel coordinates off by ~0.1.
    dtype = source.dtype if source.dtype in (torch.float32, torch.float64) else torch.float32
    like = torch.empty((), dtype=dtype, device=source.device)
    f_source = sampling_field(a_source, shape, e_source, like)
    f_target = f_source if shared else sampling_field(a_target, shape, e_target, like)
    moved_source = warp(source, f_source, mode, fill)
    moved_target = warp(target, f_target, mode, fill)
    if shared:
        field = torch.zeros_like(f_source)
    else:
        grid = _grid(shape, like).unsqueeze(0)
        field = _invert(a_source.to(torch.float64), e_source, shape, grid + f_target) - grid
    out = (moved_source, moved_target, field)
    if mask is None:
        return out
    moved_mask = warp(mask.to(dtype), f_target, "nearest", 0.0).to(mask.dtype)
    return out + (moved_mask,)


def redraw_batch(
    source: torch.Tensor,
    target: torch.Tensor,
    level: int,
    generator: torch.Generator,
    elastic: float = 0.0,
    mask: torch.Tensor | None = None,
    fill: float = -1.0,
    interpolation: str = "bilinear",
) -> tuple[torch.Tensor, ...]:
    """Redraw RegGAN misalignment of ``level`` for a batch, on the batch's device.

    Per sample: independent source and target affines with the law of
    :func:`radsynth.translation.misalign.random_affine` (3D: three Euler angles, each within +-L degrees,
    as there), plus optional elastic parts; level 0: one mild draw shared by both (field 0).

    Args:
        source: (B, C, H, W) or (B, C, D, H, W) in [-1, 1], background ``fill``.
        target: aligned with ``source``, same shape.
        level: noise level L >= 0.
        generator: the only randomness (a CPU generator works with CUDA batches: the few
            parameters are drawn on its device and moved). Draw order: source matrices, target
            matrices, source elastic, target elastic (absent ones skipped).
        elastic: peak elastic displacement in pixels (0: affine only).
        mask: optional target mask, moved with the target (nearest, fill 0).
        fill: intensity outside the image.
        interpolation: "bilinear" (radsynth's default), or "nearest" with whole-pixel
            translations: the official torchvision ``RandomAffine`` draw.

    Returns:
        ``(moved_source, moved_target, field)`` (+ ``moved_mask`` when ``mask`` is given);
        ``field`` (B, ndim, *shape) in pixels, MONAI ``Warp`` convention, such that
        ``Warp(moved_source_like, field) ~= moved_target``.
    """
    shape, batch = tuple(source.shape[2:]), source.shape[0]
    if elastic < 0:
        raise ValueError(f"elastic must be >= 0, got {elastic}")
    if interpolation not in ("bilinear", "nearest"):
        raise ValueError(f"interpolation must be 'bilinear' or 'nearest', got {interpolation!r}")
    whole = interpolation == "nearest"
    a_source = random_matrices(level, shape, batch, generator, whole)
    a_target = a_source if level == 0 else random_matrices(level, shape, batch, generator, whole)
    e_source = e_target = None
    if elastic > 0:
        e_source = random_elastic(elastic, shape, batch, generator)
        e_target = e_source if level == 0 else random_elastic(elastic, shape, batch, generator)
    return transform_pair(
        source, target, a_source, a_target, e_source, e_target, mask, fill, shared=level == 0, mode=interpolation
    )
