"""Preprocessing: geometry, foreground, intensity normalisation, crop/pad, letterbox or resize, slices.

:func:`preprocess_subject` takes a :class:`~radsynth.data.base.RawSubject` (SimpleITK images)
through reorientation, rigid co-registration and resampling (:mod:`radsynth.geometry`), then
works on numpy arrays in index order (X, Y, Z) with a voxel -> RAS affine, as nibabel does.

RegGAN trains on images in [-1, 1] with background at -1; we normalise each channel by
percentiles inside the foreground so the background stays exactly -1 whatever the scanner
scale. z-scores (nnU-Net, DTC) are the alternative.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage
from skimage.filters import threshold_otsu

from radsynth.data.base import RawSubject, array_of
from radsynth.geometry import (
    Grid,
    affine_of,
    check_orientation,
    common_grid,
    letterboxed,
    per_axis,
    resample,
    resized,
)
from radsynth.io import InputError

__all__ = [
    "Subject", "affine_of", "crop_or_pad", "foreground_mask", "foreground_slices", "normalise_intensity",
    "preprocess_subject", "window_around_foreground",
]


@dataclass
class Subject:
    """One subject's channels, label and foreground mask on a common grid.

    Args:
        images: channel name -> float32 array (X, Y, Z).
        label: uint8 classes on the same grid; None for a subject without label.
        mask: uint8 foreground (0/1).
        affine: 4x4 voxel -> RAS mm matrix of the grid, as :func:`radsynth.io.write_nifti` takes.
        label_kept: share of the label's voxels (on the resampled grid) inside the output:
            1.0 when nothing was cropped away, None without label.
        warning: what the data report should say about this subject ("" when all is well),
            e.g. that the crop cut the label.
    """

    images: dict[str, np.ndarray]
    label: np.ndarray | None
    mask: np.ndarray
    affine: np.ndarray
    label_kept: float | None = None
    warning: str = ""


def foreground_mask(images: Sequence[np.ndarray]) -> np.ndarray:
    """Head/body foreground from the channels when the dataset gives no mask.

    Otsu threshold of the channel mean, holes filled, largest connected component kept.
    """
    mean = np.mean([np.asarray(image, dtype=np.float32) for image in images], axis=0)
    if np.ptp(mean) == 0:
        return np.zeros(mean.shape, dtype=np.uint8)
    mask = mean > threshold_otsu(mean)
    components, count = ndimage.label(mask)
    if count > 1:
        sizes = ndimage.sum_labels(mask, components, index=range(1, count + 1))
        mask = components == (1 + int(np.argmax(sizes)))
    return ndimage.binary_fill_holes(mask).astype(np.uint8)


def normalise_intensity(
    image: np.ndarray, mask: np.ndarray, percentiles: Sequence[float] = (0.5, 99.5)
) -> np.ndarray:
    """Clip to foreground percentiles and map to [-1, 1]; background becomes -1.

    Args:
        image: intensities of one channel.
        mask: foreground (non-zero) where the percentiles are taken.
        percentiles: lower and upper percentile mapped to -1 and 1.

    Returns:
        float32 array in [-1, 1].
    """
    image = np.asarray(image, dtype=np.float32)
    inside = np.asarray(mask) > 0
    out = np.full(image.shape, -1.0, dtype=np.float32)
    if not inside.any():
        return out
    low, high = np.percentile(image[inside], percentiles)
    scale = max(float(high - low), 1e-8)
    out[inside] = np.clip((image[inside] - low) / scale, 0.0, 1.0) * 2.0 - 1.0
    return out


def crop_or_pad(array: np.ndarray, start: Sequence[int], size: Sequence[int], fill: float) -> np.ndarray:
    """The window ``[start, start + size)`` of the leading axes, padded with ``fill`` outside.

    Args:
        array: the volume; axes beyond ``len(size)`` are kept whole.
        start: first index of the window along each leading axis (may be negative).
        size: window size along each leading axis.
        fill: value for the part of the window outside the array.
    """
    out_shape = tuple(size) + array.shape[len(size) :]
    out = np.full(out_shape, fill, dtype=array.dtype)
    src, dst = [], []
    for first, length, extent in zip(start, size, array.shape):
        lo, hi = max(first, 0), min(first + length, extent)
        src.append(slice(lo, max(hi, lo)))
        dst.append(slice(lo - first, lo - first + max(hi - lo, 0)))
    out[tuple(dst)] = array[tuple(src)]
    return out


def window_around_foreground(mask: np.ndarray, size: Sequence[int]) -> list[int]:
    """Start indices of a ``size`` window centred on the foreground's bounding box."""
    found = np.nonzero(np.asarray(mask) > 0)
    starts = []
    for axis, length in enumerate(size):
        if len(found[axis]):
            centre = (int(found[axis].min()) + int(found[axis].max()) + 1) // 2
        else:
            centre = mask.shape[axis] // 2
        starts.append(centre - length // 2)
    return starts


NORMALISE = ("percentile", "zscore", "none")
FOREGROUND = ("otsu", "nonzero", "all")
FIT = ("auto", "crop", "letterbox", "resize")
CROP_CENTRE = ("foreground", "label")


def preprocess_subject(
    raw: RawSubject,
    *,
    orientation: str | None = "RAS",
    spacing: Sequence[float] | None = None,
    interpolation: str = "linear",
    register_to: str | None = None,
    foreground: str = "otsu",
    size: Sequence[int] | None = None,
    fit: str = "auto",
    crop_centre: str = "foreground",
    normalise: str = "percentile",
    percentiles: Sequence[float] = (0.5, 99.5),
    slice_axis: int = 2,
) -> Subject:
    """One subject on a common, normalised grid, ready to write and slice.

    Steps: reorient, co-register, resample to ``spacing`` (one interpolation per channel),
    foreground mask, normalise on the whole grid, crop/pad, letterbox or resize, slice axis
    last.

    Where two values are given for ``spacing`` or ``size`` they are the in-plane axes, the
    two other than ``slice_axis`` in array order (X, Y by default); the slice axis is kept.

    Args:
        raw: the subject as an adapter read it (``raw.label`` None: no label, none made up).
        orientation: axis code the volumes are turned to (nibabel ``aff2axcodes`` meaning),
            only when ``raw.oriented``; None keeps the file's axes.
        spacing: voxel size in mm (2 or 3 values); None keeps the grid.
        interpolation: ``"linear"`` or ``"bspline"`` for images; labels and masks are always
            resampled nearest-neighbour.
        register_to: channel that the others are rigidly registered to; the label and mask
            are taken to be in its space.
        foreground: where the body is when ``raw.mask`` is None: ``"otsu"`` (threshold of
            the channel mean, largest component, holes filled), ``"nonzero"`` (any channel
            non-zero: skull-stripped volumes, ultrasound sectors) or ``"all"``.
        size: output size (2 or 3 values). None with ``fit="crop"``: the foreground's box.
        fit: ``"crop"``: crop/pad ``size`` around ``crop_centre``; ``"letterbox"``: resample
            the whole field of view onto ``size`` with square voxels, keeping its aspect
            ratio and padding the short side with background; ``"resize"``: resample the
            whole field of view onto ``size`` (voxels stretched differently per image);
            ``"auto"``: letterbox for pictures (``raw.pictures``) given a size, else crop.
        crop_centre: what a ``size`` crop is centred on: ``"foreground"`` (the foreground's
            bounding box) or ``"label"`` (the label's, the window kept inside the image where
            it fits; the foreground's for an empty or missing label).
        normalise: ``"percentile"``: foreground percentiles to [-1, 1], background and
            padding -1; ``"zscore"``: foreground mean 0 and std 1, background and padding 0;
            ``"none"``: unchanged, padding with the channel's minimum.
        percentiles: lower and upper percentile mapped to -1 and 1.
        slice_axis: array axis moved last, where later stages take 2D slices.

    Returns:
        The :class:`Subject`, arrays in index order with the slice axis last, with the share
        of label voxels kept and a warning when the crop lost some.

    Raises:
        ValueError: an unknown or inconsistent option.
        InputError: the data gives no foreground.
    """
    axis = _check_options(
        raw, orientation, spacing, interpolation, register_to, size, fit, crop_centre, normalise, percentiles,
        slice_axis,
    )
    if foreground not in FOREGROUND:
        raise ValueError(f"unknown foreground {foreground!r} (use one of {', '.join(FOREGROUND)})")
    if fit == "auto":
        fit = "letterbox" if raw.pictures and size is not None else "crop"
    how = foreground
    images, (label, mask) = common_grid(
        raw.images,
        [raw.label, raw.mask],
        orientation=orientation if raw.oriented else None,
        spacing=spacing,
        interpolation=interpolation,
        register_to=register_to,
        slice_axis=axis,
    )
    grid = Grid.of(next(iter(images.values())))  # the label's and mask's grid too
    arrays = {}
    for name in list(images):
        arrays[name] = array_of(images[name])
        if fit == "crop":  # only resizing resamples again: free each image once it is an array
            del images[name]
    if mask is not None:
        foreground = (array_of(mask) > 0).astype(np.uint8)
    elif how == "all":
        foreground = np.ones(grid.size, dtype=np.uint8)
    elif how == "nonzero":
        foreground = np.any([array != 0 for array in arrays.values()], axis=0).astype(np.uint8)
    elif grid.size[2] == 1:  # fill holes in the picture's plane, not in a one-slice volume
        foreground = foreground_mask([array[..., 0] for array in arrays.values()])[..., None]
    else:
        foreground = foreground_mask(list(arrays.values()))
    _require_foreground(foreground, raw)

    window = None  # resizing: nothing to cut
    if fit in ("resize", "letterbox"):
        full = per_axis(size, grid.size, axis)
        if fit == "resize":
            target = resized(grid, full)
        else:
            target = letterboxed(grid, full, [a for a in range(3) if len(size) == 3 or a != axis])
        mask_image = sitk.GetImageFromArray(np.ascontiguousarray(foreground.transpose()))
        mask_image.CopyInformation(next(iter(images.values())))
        arrays = {name: array_of(resample(image, target, interpolation)) for name, image in images.items()}
        del images
        labels = None if label is None else _label_array(resample(label, target, "nearest", default=0), raw)
        foreground = array_of(resample(mask_image, target, "nearest", default=0))
        _require_foreground(foreground, raw)
        affine = target.affine
    else:
        labels = None if label is None else _label_array(label, raw)
        centre_on = labels if crop_centre == "label" and labels is not None and labels.any() else None
        start, window = _window(foreground, size, axis, centre_on)
        affine = grid.affine
        affine[:3, 3] += affine[:3, :3] @ start  # the world position of the window's first voxel

    def cut(array: np.ndarray, fill: float) -> np.ndarray:
        return array if window is None else crop_or_pad(array, start, window, fill)

    normalised = {}
    for name in list(arrays):
        # Statistics over the whole grid, then the window is cut: the numbers of the phantom
        # path from before resampling existed stay the same.
        values, fill = _normalised(arrays.pop(name), foreground, normalise, percentiles)
        normalised[name] = cut(values, fill)
    kept = None if labels is None else cut(labels, 0)
    subject = Subject(normalised, kept, cut(foreground, 0), affine)
    if labels is not None:
        subject.label_kept, subject.warning = _label_kept(labels, kept, size, crop_centre)
    return _slice_axis_last(subject, axis)


def _label_kept(before: np.ndarray, after: np.ndarray, size, crop_centre: str) -> tuple[float, str]:
    """Share of labelled voxels the crop kept, and the data report's warning when under 1."""
    total, kept = int(np.count_nonzero(before)), int(np.count_nonzero(after))
    if kept >= total:
        return 1.0, ""
    if size is None:  # the label reaches outside the foreground's bounding box
        crop, hint = "the foreground's box", "another preprocess.foreground, or a size with crop_centre: label"
    else:
        crop = f"{'x'.join(map(str, size))} around the {crop_centre}"
        hint = "a larger preprocess.size" if crop_centre == "label" else "preprocess.crop_centre: label"
    share = f"{100 * kept / total:.1f} % of the label voxels ({kept} of {total}; crop {crop})"
    return kept / total, f"preprocessing keeps {share}: set {hint}"


def _check_options(
    raw, orientation, spacing, interpolation, register_to, size, fit, crop_centre, normalise, percentiles, slice_axis
) -> int:
    """Raise ValueError for a bad option of :func:`preprocess_subject`; return ``slice_axis`` in 0..2."""
    if orientation is not None:
        check_orientation(orientation)
    choices = {"interpolation": (interpolation, ("linear", "bspline")), "fit": (fit, FIT),
               "crop_centre": (crop_centre, CROP_CENTRE), "normalise": (normalise, NORMALISE)}
    for option, (value, allowed) in choices.items():
        if value not in allowed:
            raise ValueError(f"unknown {option} {value!r} (use one of {', '.join(allowed)})")
    if spacing is not None and (len(spacing) not in (2, 3) or not all(float(s) > 0 for s in spacing)):
        raise ValueError(f"spacing must be 2 or 3 positive numbers (mm), got {list(spacing)}")
    if size is not None and (len(size) not in (2, 3) or not all(int(n) == n and n >= 1 for n in size)):
        raise ValueError(f"size must be 2 or 3 positive integers, got {list(size)}")
    if fit in ("resize", "letterbox") and size is None:
        raise ValueError(f"fit={fit!r} needs a size")
    if len(percentiles) != 2 or not 0 <= percentiles[0] < percentiles[1] <= 100:
        raise ValueError(f"percentiles must be two increasing values in [0, 100], got {list(percentiles)}")
    if register_to is not None and register_to not in raw.images:
        raise ValueError(f"register_to {register_to!r} is not a channel (channels: {', '.join(raw.images)})")
    if slice_axis not in (-3, -2, -1, 0, 1, 2):
        raise ValueError(f"slice_axis must be 0, 1 or 2, got {slice_axis}")
    return slice_axis % 3


def _require_foreground(foreground: np.ndarray, raw: RawSubject) -> None:
    if not foreground.any():
        path = raw.paths.get("mask") if raw.mask is not None else None
        where = "the given mask" if path else "no foreground found in the channels"
        path = path or raw.paths[next(iter(raw.images))]
        raise InputError(path, f"{where}: the foreground is empty, nothing to crop or normalise")


def _window(
    foreground: np.ndarray, size: Sequence[int] | None, axis: int, label: np.ndarray | None = None
) -> tuple[np.ndarray, list[int]]:
    """Start and size of the crop: ``size`` centred on the foreground (or on ``label``, the
    window then kept inside the image where it fits), or the foreground's bounding box."""
    if size is None:
        found = np.nonzero(foreground)
        start = [int(f.min()) for f in found]
        return np.array(start), [int(f.max()) + 1 - s for f, s in zip(found, start)]
    window = per_axis(size, foreground.shape, axis)
    if label is None:
        if len(size) == 3:
            return np.array(window_around_foreground(foreground, size)), list(size)
        start = window_around_foreground(np.moveaxis(foreground, axis, -1), size)
        return np.array(per_axis(start, [0, 0, 0], axis)), window
    start = np.array(window_around_foreground(label, window))
    # Inside the image where the window fits: more real image, and a label box no larger
    # than the window stays whole (the shift never moves the window off the box).
    room = np.asarray(foreground.shape) - np.asarray(window)
    start = np.where(room >= 0, np.clip(start, 0, np.maximum(room, 0)), start)
    return start, window


def _normalised(array: np.ndarray, foreground: np.ndarray, mode: str, percentiles) -> tuple[np.ndarray, float]:
    """One channel normalised over the foreground, and the value for padding."""
    if mode == "percentile":
        return normalise_intensity(array, foreground, percentiles), -1.0
    array = np.asarray(array, dtype=np.float32)
    if mode == "none":
        return array, float(array.min())
    inside = foreground > 0
    values = array[inside]
    # float64 accumulators for the two scalars only; the voxels stay float32.
    mean, std = values.mean(dtype=np.float64), values.std(dtype=np.float64)
    out = np.zeros(array.shape, dtype=np.float32)
    out[inside] = (values - np.float32(mean)) / np.float32(max(std, 1e-8))
    return out, 0.0


def _label_array(label: sitk.Image, raw: RawSubject) -> np.ndarray:
    array = array_of(label)
    low, high = array.min(), array.max()
    if low < 0 or high > 255:
        raise InputError(raw.paths.get("label", "label"), f"label values {low}..{high} do not fit in uint8 classes")
    return array.astype(np.uint8)


def _slice_axis_last(subject: Subject, axis: int) -> Subject:
    """``subject`` with array ``axis`` moved last and the affine's columns to match."""
    if axis == 2:
        return subject
    order = [a for a in range(3) if a != axis] + [axis]
    affine = subject.affine.copy()
    affine[:, :3] = subject.affine[:, order]

    def last(array):
        return None if array is None else np.moveaxis(array, axis, -1)

    return Subject({k: last(v) for k, v in subject.images.items()}, last(subject.label), last(subject.mask), affine,
                   subject.label_kept, subject.warning)


def foreground_slices(mask: np.ndarray, min_fraction: float, axis: int = -1) -> np.ndarray:
    """Indices of slices along ``axis`` whose foreground covers at least ``min_fraction``."""
    mask = np.moveaxis(np.asarray(mask) > 0, axis, 0)
    fraction = mask.reshape(mask.shape[0], -1).mean(axis=1)
    return np.flatnonzero(fraction >= min_fraction)
