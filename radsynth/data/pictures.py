"""Reading 2D pictures (PNG, TIF, JPEG, BMP) for the picture adapters.

Used by :mod:`radsynth.data.image_pairs` (one picture per subject) and
:mod:`radsynth.data.slices` (a stack of pictures per subject). A picture is read as
(rows, cols) or (rows, cols, planes); the adapters turn its colour planes into channels
with :func:`channel_planes` and its mask into classes with :func:`mask_plane`, then build
volumes with x along the columns (pass ``plane.T`` to :func:`base.image_from_array`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import imageio.v3 as iio
import numpy as np
import tifffile

from radsynth.data.base import apply_label_map, check_label_values
from radsynth.io import InputError

__all__ = [
    "EXTENSIONS", "channel_planes", "is_picture", "mask_plane", "merged_masks", "picture_spacing", "read_picture",
]

EXTENSIONS = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")


def is_picture(name: str) -> bool:
    """Whether a file name has a picture extension (any case); dot files never are."""
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in EXTENSIONS


def read_picture(path: str) -> np.ndarray:
    """A 2D picture as (rows, cols) or (rows, cols, planes).

    Args:
        path: a picture file with one of :data:`EXTENSIONS`.

    Raises:
        InputError: unreadable or truncated, or 3D (a multi-page TIF or a stack).
    """
    try:
        picture = iio.imread(path)
        pages = 1
        if path.lower().endswith((".tif", ".tiff")):
            # imageio reads only the first series of a TIF: count the pages to catch stacks.
            with tifffile.TiffFile(path) as tif:
                pages = len(tif.pages)
                if pages == 1 and tif.pages[0].planarconfig == tifffile.PLANARCONFIG.SEPARATE:
                    picture = np.moveaxis(picture, 0, -1)  # planes first: (planes, rows, cols)
    except Exception as err:  # the imageio plugins raise many types for bad files
        raise InputError(path, f"unreadable or truncated picture ({type(err).__name__}: {err})") from err
    if picture.ndim < 2 or picture.size == 0:  # e.g. a TIF header without image data
        raise InputError(path, f"unreadable or truncated picture (read as shape {picture.shape})")
    # A trailing axis of 1-4 is colour planes (grey, grey+alpha, RGB, RGBA); more axes are 3D.
    is_2d = picture.ndim == 2 or (picture.ndim == 3 and picture.shape[-1] <= 4)
    if pages > 1 or not is_2d:
        shape = f"{pages} pages of {picture.shape}" if pages > 1 else f"shape {picture.shape}"
        raise InputError(path, f"3D picture ({shape}) where a 2D picture is expected")
    return picture


def channel_planes(path: str, picture: np.ndarray, channels: Sequence[str]) -> list[np.ndarray]:
    """One float32 (rows, cols) array per channel.

    Planes map to channels in order; an RGB picture with one channel becomes grey.

    Args:
        path: the picture's file, named in errors.
        picture: as returned by :func:`read_picture`.
        channels: the declared channel names.

    Raises:
        InputError: the number of planes does not fit the number of channels.
    """
    planes = _planes(picture)
    if len(planes) == len(channels):
        return [p.astype(np.float32) for p in planes]
    if len(planes) == 3 and len(channels) == 1:
        from skimage.color import rgb2gray  # imported here: discovery does not need skimage

        # On floats rgb2gray keeps the scale, so RGB and grey files of one dataset agree
        # (on uint8 it would rescale to [0, 1]).
        return [rgb2gray(np.stack(planes, axis=-1).astype(np.float32)).astype(np.float32)]
    kind = "grey" if len(planes) == 1 else "RGB"
    if picture.ndim == 3 and picture.shape[-1] in (2, 4):
        kind += ", alpha dropped"
    raise InputError(
        path,
        f"has {len(planes)} colour plane(s) ({kind}) but {len(channels)} channel(s) are "
        f"declared ({', '.join(channels)}): declare 1 channel (grey) or one per plane",
    )


def mask_plane(path: str, picture: np.ndarray) -> np.ndarray:
    """A mask as int32 (rows, cols); RGB masks must have identical planes.

    Args:
        path: the mask's file, named in errors.
        picture: as returned by :func:`read_picture`.

    Raises:
        InputError: RGB planes differ, or values are not whole numbers.
    """
    planes = _planes(picture)
    if any(not np.array_equal(planes[0], p) for p in planes[1:]):
        raise InputError(path, f"mask has {len(planes)} colour planes that differ; expected a grey mask")
    if not np.array_equal(planes[0], np.round(planes[0])):
        raise InputError(path, "mask has values that are not whole numbers")
    return planes[0].astype(np.int32)


def merged_masks(paths: Sequence[str], label_map: Mapping | None, classes: Sequence[int]) -> np.ndarray:
    """Several masks of one picture as one int32 (rows, cols) label.

    Each mask gets ``label_map`` first, then they merge by the voxel-wise maximum of their
    classes: the union of the lesions for binary masks (BUSI's ``_mask``, ``_mask_1``).

    Args:
        paths: the mask files; the first sets the expected size.
        label_map: raw value -> class (:func:`radsynth.data.base.apply_label_map`).
        classes: the declared classes; with several masks each is checked against them
            here, so the error names the mask that holds the stray value.

    Raises:
        InputError: naming a mask that is unreadable, of another size than the first, or
            (several masks) with values outside the classes.
    """
    merged = None
    for path in paths:
        mask = apply_label_map(mask_plane(path, read_picture(path)), label_map)
        if merged is not None and mask.shape != merged.shape:
            raise InputError(path, f"mask shape {mask.shape} differs from {merged.shape} of {paths[0]}")
        if len(paths) > 1:
            check_label_values(mask, path, classes)
        merged = mask if merged is None else np.maximum(merged, mask)
    return merged


def picture_spacing(dataset: dict) -> list[float]:
    """(x, y, z) spacing in mm from ``dataset["spacing"]``; missing entries are 1.

    Args:
        dataset: the ``dataset`` config section (optional ``spacing``).
    """
    given = [float(s) for s in (dataset.get("spacing") or [])][:3]
    return given + [1.0] * (3 - len(given))


def _planes(picture: np.ndarray) -> list[np.ndarray]:
    """The colour planes of a picture, alpha dropped."""
    if picture.ndim == 2:
        return [picture]
    count = picture.shape[-1] - (picture.shape[-1] in (2, 4))  # 2 and 4 end with alpha
    return [picture[..., i] for i in range(count)]
