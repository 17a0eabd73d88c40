"""Preprocessing: foreground, intensity normalisation to [-1, 1], in-plane crop/pad, slices.

RegGAN trains on images in [-1, 1] with background at -1; we normalise each channel by
percentiles inside the foreground so the background stays exactly -1 whatever the scanner
scale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu


@dataclass
class Subject:
    """One subject's channels, label and foreground mask on a common grid."""

    images: dict[str, np.ndarray]
    label: np.ndarray
    mask: np.ndarray
    affine: np.ndarray


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


def preprocess_subject(
    images: Mapping[str, np.ndarray],
    label: np.ndarray,
    mask: np.ndarray | None,
    affine: np.ndarray,
    size: Sequence[int],
    percentiles: Sequence[float] = (0.5, 99.5),
) -> Subject:
    """Normalise every channel and crop/pad the in-plane axes to ``size`` around the foreground.

    Args:
        images: channel name -> volume (X, Y, Z), all on one grid.
        label: integer classes on the same grid.
        mask: foreground; computed from the channels when None.
        affine: voxel -> world (mm) matrix of the grid; the output's is shifted by the crop.
        size: in-plane output size (X, Y); Z is kept.
        percentiles: intensity percentiles mapped to -1 and 1.
    """
    if mask is None:
        mask = foreground_mask(list(images.values()))
    mask = (np.asarray(mask) > 0).astype(np.uint8)
    start = window_around_foreground(mask, size)
    normalised = {
        name: crop_or_pad(normalise_intensity(image, mask, percentiles), start, size, -1.0)
        for name, image in images.items()
    }
    shift = np.eye(4)
    shift[: len(start), 3] = start
    return Subject(
        images=normalised,
        label=crop_or_pad(np.asarray(label).astype(np.uint8), start, size, 0),
        mask=crop_or_pad(mask, start, size, 0),
        affine=np.asarray(affine) @ shift,
    )


def foreground_slices(mask: np.ndarray, min_fraction: float, axis: int = -1) -> np.ndarray:
    """Indices of slices along ``axis`` whose foreground covers at least ``min_fraction``."""
    mask = np.moveaxis(np.asarray(mask) > 0, axis, 0)
    fraction = mask.reshape(mask.shape[0], -1).mean(axis=1)
    return np.flatnonzero(fraction >= min_fraction)
