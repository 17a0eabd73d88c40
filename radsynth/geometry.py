"""SimpleITK geometry for real scans: affines, orientation, grids, resampling, rigid registration.

SimpleITK works in LPS world coordinates; nibabel and :func:`radsynth.io.write_nifti` expect
a voxel -> RAS affine. :func:`affine_of` is the one place that converts between the two.
Images are 3D throughout; 2D pictures become 3D with one slice (:func:`as_volume`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])
_AXIS_OF = {"R": 0, "L": 0, "A": 1, "P": 1, "S": 2, "I": 2}
INTERPOLATORS = {"linear": sitk.sitkLinear, "bspline": sitk.sitkBSpline, "nearest": sitk.sitkNearestNeighbor}


@dataclass(frozen=True)
class Grid:
    """Where the voxels of a 3D image lie in SimpleITK's (LPS) world space.

    Args:
        size: voxels along each index axis.
        spacing: mm between voxel centres along each index axis.
        origin: world position of the centre of voxel (0, 0, 0).
        direction: 3x3 matrix whose columns are the index axes' world directions.
    """

    size: tuple[int, ...]
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: np.ndarray

    @classmethod
    def of(cls, image: sitk.Image) -> Grid:
        """The grid of ``image``."""
        dim = image.GetDimension()
        direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(dim, dim)
        return cls(image.GetSize(), image.GetSpacing(), image.GetOrigin(), direction)

    @property
    def affine(self) -> np.ndarray:
        """The 4x4 voxel -> RAS mm matrix of this grid, as nibabel writes it."""
        affine = np.eye(4)
        affine[:3, :3] = _LPS_TO_RAS @ self.direction @ np.diag(self.spacing)
        affine[:3, 3] = _LPS_TO_RAS @ np.asarray(self.origin, dtype=np.float64)
        return affine


def affine_of(image: sitk.Image) -> np.ndarray:
    """The voxel -> RAS affine of a 3D SimpleITK image: ``diag(-1, -1, 1) @ [direction * spacing | origin]``.

    Args:
        image: a 3D image (use :func:`as_volume` for 2D pictures).

    Returns:
        4x4 float64 matrix, equal to ``nibabel.load(path).affine`` of the image written as NIfTI.
    """
    if image.GetDimension() != 3:
        raise ValueError(f"affine_of needs a 3D image, got {image.GetDimension()}D (use as_volume)")
    return Grid.of(image).affine


def as_volume(image: sitk.Image) -> sitk.Image:
    """``image`` as 3D: a 2D picture becomes one slice (Z size 1, spacing 1 mm); 3D unchanged."""
    if image.GetDimension() == 2:
        return sitk.JoinSeries(image)
    if image.GetDimension() != 3:
        raise ValueError(f"expected a 2D or 3D image, got {image.GetDimension()}D")
    return image


def check_orientation(code: str) -> str:
    """``code`` upper-cased if it names each anatomical axis once (``"RAS"``, ``"LPI"``...).

    The letters say where each index axis points to (the nibabel ``aff2axcodes`` meaning).

    Raises:
        ValueError: anything else.
    """
    upper = str(code).upper()
    if len(upper) != 3 or any(c not in _AXIS_OF for c in upper) or len({_AXIS_OF[c] for c in upper}) != 3:
        raise ValueError(f"orientation {code!r} must name each axis once, from R/L, A/P, S/I (e.g. 'RAS')")
    return upper


def reorient(image: sitk.Image, orientation: str) -> sitk.Image:
    """Permute and flip the axes of ``image`` so that they point along ``orientation``."""
    return sitk.DICOMOrient(image, check_orientation(orientation))


def respaced(grid: Grid, spacing: Sequence[float]) -> Grid:
    """The grid with ``spacing`` over about the same extent, first voxel centre unchanged.

    An axis of size 1 (a 2D picture's Z) keeps its size and spacing: there is nothing to
    resample along it.
    """
    new_spacing, new_size = [], []
    for n, old, new in zip(grid.size, grid.spacing, spacing):
        if n == 1:
            new_spacing.append(float(old))
            new_size.append(1)
        else:
            new_spacing.append(float(new))
            new_size.append(max(1, int(round(n * old / new))))
    return Grid(tuple(new_size), tuple(new_spacing), grid.origin, grid.direction)


def resized(grid: Grid, size: Sequence[int]) -> Grid:
    """The grid of ``size`` voxels covering the same physical box as ``grid`` (outer corners)."""
    spacing = np.asarray(grid.spacing) * np.asarray(grid.size) / np.asarray(size, dtype=np.float64)
    # Voxel centres sit half a voxel inside the box corner, so the origin moves by the change
    # of half a voxel, along the grid's axes.
    origin = np.asarray(grid.origin) + grid.direction @ ((spacing - np.asarray(grid.spacing)) / 2)
    return Grid(tuple(int(n) for n in size), tuple(spacing.tolist()), tuple(origin.tolist()), grid.direction)


def letterboxed(grid: Grid, size: Sequence[int], axes: Sequence[int]) -> Grid:
    """The grid of ``size`` voxels holding all of ``grid`` with one voxel size along ``axes``.

    The picture keeps its aspect ratio: the side that fills its target length sets the
    voxel size, the other sides are padded equally on both ends (a letterbox). Axes not in
    ``axes`` keep their voxels (``size`` must repeat them).

    Args:
        grid: the image's grid.
        size: output voxels along each index axis.
        axes: the axes that share one voxel size (the in-plane axes of a picture).
    """
    size = np.asarray(size, dtype=np.int64)
    spacing = np.asarray(grid.spacing, dtype=np.float64)
    extent = spacing * np.asarray(grid.size)
    new = spacing.copy()
    new[list(axes)] = max(extent[a] / size[a] for a in axes)
    # Centre on the old grid's centre: equal padding on both ends of every padded axis.
    centre = np.asarray(grid.origin) + grid.direction @ (spacing * (np.asarray(grid.size) - 1) / 2)
    origin = centre - grid.direction @ (new * (size - 1) / 2)
    return Grid(tuple(int(n) for n in size), tuple(new.tolist()), tuple(origin.tolist()), grid.direction)


def resample(
    image: sitk.Image,
    grid: Grid,
    interpolation: str = "linear",
    transform: sitk.Transform | None = None,
    default: float | None = None,
) -> sitk.Image:
    """``image`` resampled onto ``grid``, keeping its pixel type.

    Args:
        image: the image to resample.
        grid: the output grid.
        interpolation: ``"linear"``, ``"bspline"`` (clipped to the input range, as cubic
            B-splines overshoot at edges) or ``"nearest"`` (labels, masks).
        transform: maps output world points to ``image`` world points; identity when None.
        default: value outside ``image``; its minimum when None (background, not a new value).
    """
    low = high = None
    if default is None or interpolation == "bspline":
        low_high = sitk.MinimumMaximumImageFilter()
        low_high.Execute(image)
        low, high = low_high.GetMinimum(), low_high.GetMaximum()
    out = sitk.Resample(
        image,
        [int(n) for n in grid.size],
        transform if transform is not None else sitk.Transform(),
        INTERPOLATORS[interpolation],
        [float(x) for x in grid.origin],
        [float(x) for x in grid.spacing],
        [float(x) for x in grid.direction.ravel()],
        float(low if default is None else default),
        image.GetPixelID(),
    )
    if interpolation == "bspline":
        out = sitk.Clamp(out, image.GetPixelID(), low, high)
    return out


def per_axis(values: Sequence, kept: Sequence, slice_axis: int) -> list:
    """3 values from 2 in-plane ``values`` and ``kept[slice_axis]``; 3 values unchanged.

    In-plane means the two axes other than the slice axis, in array order.
    """
    values = list(values)
    return values if len(values) == 3 else values[:slice_axis] + [kept[slice_axis]] + values[slice_axis:]


def common_grid(
    images: Mapping[str, sitk.Image],
    masks: Sequence[sitk.Image | None],
    *,
    orientation: str | None = "RAS",
    spacing: Sequence[float] | None = None,
    interpolation: str = "linear",
    register_to: str | None = None,
    slice_axis: int = 2,
) -> tuple[dict[str, sitk.Image], list[sitk.Image | None]]:
    """Channels, labels and masks reoriented, co-registered and resampled onto one 3D grid.

    Each channel is interpolated at most once, through its registration transform straight
    onto the new grid; channels are reoriented one at a time to hold one extra copy only.

    Args:
        images: channel name -> image, all on one grid (the first is the reference when
            ``register_to`` is None).
        masks: labels and masks on that grid (None entries pass through); nearest-neighbour,
            never registered: they are in the reference channel's space.
        orientation: axis code to turn everything to; None keeps the axes.
        spacing: new voxel size in mm, 3 values or 2 in-plane (see :func:`per_axis`); None
            keeps the grid.
        interpolation: ``"linear"`` or ``"bspline"`` for the channels.
        register_to: channel that the others are rigidly registered to (:func:`register_rigid`).
        slice_axis: the axis 2 ``spacing`` values leave alone.

    Returns:
        ``(images, masks)`` in the same order, on the grid of the reference channel after
        reorientation (and new spacing).
    """
    def turned(image):
        image = as_volume(image)
        return reorient(image, orientation) if orientation else image

    reference_name = register_to or next(iter(images))
    reference = turned(images[reference_name])
    grid = Grid.of(reference)
    if spacing is not None:
        grid = respaced(grid, per_axis(spacing, grid.spacing, slice_axis))
    out = {}
    for name, image in images.items():
        image = reference if name == reference_name else turned(image)
        moved = register_rigid(reference, image) if register_to and name != register_to else None
        if spacing is not None or moved is not None:
            image = resample(image, grid, interpolation, moved)
        out[name] = image
    masks = [None if mask is None else turned(mask) for mask in masks]
    if spacing is not None:
        masks = [None if mask is None else resample(mask, grid, "nearest", default=0) for mask in masks]
    return out, masks


def register_rigid(
    fixed: sitk.Image,
    moving: sitk.Image,
    *,
    sampling: float = 0.05,
    min_samples: int = 20_000,
    seed: int = 20240601,
    iterations: int = 200,
) -> sitk.Transform:
    """Rigid transform aligning ``moving`` to ``fixed`` (Mattes mutual information).

    Regular-step gradient descent over a 3-level pyramid (shrink 4, 2, 1; smoothing 2, 1, 0
    voxels) from a geometric-centre initialisation. A fixed fraction of voxels is sampled with
    a fixed seed, and the metric runs on one thread (threaded sums change the last digits
    from run to run), so the result is bit-for-bit reproducible. Images with one slice
    (2D in 3D) are registered in-plane with an Euler 2D transform.

    Args:
        fixed: the reference image (3D).
        moving: the image to align, on any grid overlapping ``fixed``.
        sampling: fraction of the fixed image's voxels sampled by the metric at each level...
        min_samples: ...raised so that at least this many full-resolution voxels are sampled
            (small pictures use all their pixels).
        seed: seed of the voxel sampling.
        iterations: maximum optimiser iterations per level.

    Returns:
        A 3D transform mapping ``fixed`` world points to ``moving`` world points, as
        :func:`resample` takes it.
    """
    flat = fixed.GetSize()[2] == 1 and moving.GetSize()[2] == 1
    pair = [_plane(fixed), _plane(moving)] if flat else [fixed, moving]
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(min(1.0, max(sampling, min_samples / np.prod(fixed.GetSize()))), seed)
    method.SetInterpolator(sitk.sitkLinear)
    # Gradients at the sampled points only: a precomputed gradient image is 24 bytes a voxel.
    method.SetMetricUseFixedImageGradientFilter(False)
    method.SetMetricUseMovingImageGradientFilter(False)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=1.0, minStep=1e-4, numberOfIterations=iterations, relaxationFactor=0.5
    )
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel([4, 2, 1])
    method.SetSmoothingSigmasPerLevel([2, 1, 0])
    # Voxel units: the same pyramid suits 1 mm MRI and 0.1 mm ultrasound pixels.
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    start = sitk.Euler2DTransform() if flat else sitk.Euler3DTransform()
    initial = sitk.CenteredTransformInitializer(*pair, start, sitk.CenteredTransformInitializerFilter.GEOMETRY)
    method.SetInitialTransform(initial, inPlace=False)
    threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    try:
        found = method.Execute(*pair)
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
    return _lift(found, fixed) if flat else found


def _plane(image: sitk.Image) -> sitk.Image:
    """The single slice of ``image`` in its in-plane frame: index * spacing, no origin or rotation.

    Registering in this frame and lifting back with :func:`_lift` is exact for any direction.
    """
    plane = sitk.GetImageFromArray(sitk.GetArrayViewFromImage(image)[0])
    plane.SetSpacing(image.GetSpacing()[:2])
    return plane


def _lift(transform: sitk.Transform, image: sitk.Image) -> sitk.Transform:
    """A 2D rigid transform of :func:`_plane`'s frame as a 3D world transform of ``image``'s plane."""
    if transform.GetName() == "CompositeTransform":  # what ImageRegistrationMethod returns
        transform = sitk.CompositeTransform(transform).GetNthTransform(0)
    rigid = sitk.Euler2DTransform(transform)
    to_world = np.asarray(image.GetDirection()).reshape(3, 3)
    origin = np.asarray(image.GetOrigin())
    rotation = np.eye(3)
    rotation[:2, :2] = np.asarray(rigid.GetMatrix()).reshape(2, 2)
    # world p = origin + D q; T3(p) = origin + D T2(D^-1 (p - origin)), q and T2 padded with z = 0.
    lifted = sitk.AffineTransform(3)
    lifted.SetMatrix((to_world @ rotation @ np.linalg.inv(to_world)).ravel().tolist())
    lifted.SetCenter((origin + to_world @ [*rigid.GetCenter(), 0.0]).tolist())
    lifted.SetTranslation((to_world @ [*rigid.GetTranslation(), 0.0]).tolist())
    return lifted
