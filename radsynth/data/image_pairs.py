"""Adapter ``image_pairs``: 2D pictures with one mask each (the BUSI layout).

Layout under ``dataset["root"]``::

    images/<stem>.<ext>                  one subject per picture, e.g. "benign (10).png"
    masks/<stem><mask_suffix>.<ext>      its mask; any supported extension

``images`` and ``masks`` name the two folders (they may be the same folder when
``mask_suffix`` tells masks apart, as in the original BUSI release with ``"_mask"``).
Supported extensions (any case): png, tif, tiff, jpg, jpeg, bmp. Each picture becomes a
volume of shape (X, Y, 1), x being the picture's columns. Sizes may differ per subject.
Pictures are read with :mod:`radsynth.data.pictures`.
"""

from __future__ import annotations

import os
from pathlib import Path

from radsynth.data.base import LABEL, RawSubject, SubjectSource, image_from_array, label_image, unique_ids
from radsynth.data.pictures import EXTENSIONS, channel_planes, is_picture, mask_plane, picture_spacing, read_picture
from radsynth.io import InputError

__all__ = ["discover", "load"]


def _folders(dataset: dict) -> tuple[Path, Path, str]:
    root = Path(dataset["root"])
    images = root / dataset.get("images", "images")
    masks = root / dataset.get("masks", "masks")
    return images, masks, dataset.get("mask_suffix", "")


def _pictures_by_stem(folder: Path) -> dict[str, list[str]]:
    """Stem -> picture files in ``folder`` (one ``scandir``: fast for thousands of files)."""
    found: dict[str, list[str]] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            if is_picture(entry.name) and entry.is_file():
                found.setdefault(os.path.splitext(entry.name)[0], []).append(entry.path)
    return {stem: sorted(paths) for stem, paths in found.items()}


def discover(dataset: dict) -> list[SubjectSource]:
    """List one subject per picture of the images folder, from file names only.

    Args:
        dataset: the ``dataset`` config section (``root``; optional ``images``, ``masks``,
            ``mask_suffix``).

    Returns:
        Sources sorted by subject id; ``files`` is ``(picture, *masks found)``.

    Raises:
        InputError: root, images or masks folder missing, no pictures, the images and masks
            folders are one folder without a ``mask_suffix``, two pictures share a stem, or
            two stems map to the same subject id.
    """
    images, masks, suffix = _folders(dataset)
    for folder in (Path(dataset["root"]), images, masks):
        if not folder.is_dir():
            raise InputError(folder, "dataset folder not found")
    same_folder = images.resolve() == masks.resolve()
    if same_folder and not suffix:
        raise InputError(masks, "images and masks are one folder: set dataset.mask_suffix")
    pictures = _pictures_by_stem(images)
    mask_files = _pictures_by_stem(masks)
    if same_folder:  # the masks are not subjects
        pictures = {stem: p for stem, p in pictures.items() if not stem.endswith(suffix)}
    if not pictures:
        raise InputError(images, f"no pictures ({', '.join(EXTENSIONS)}) found")
    for stem, paths in pictures.items():
        if len(paths) > 1:  # "a.png" and "a.jpg" would be one subject: ambiguous
            raise InputError(images, f"pictures {[Path(p).name for p in paths]} share the name {stem!r}")
    return [
        SubjectSource(ident, stem, (pictures[stem][0], *mask_files.get(stem + suffix, [])))
        for ident, stem in unique_ids(pictures, str(images)).items()
    ]


def load(source: SubjectSource, dataset: dict) -> RawSubject:
    """Read one picture and its mask as (X, Y, 1) volumes.

    Args:
        source: from :func:`discover`; ``files[0]`` is the picture, the rest its masks.
        dataset: the ``dataset`` config section (``channels``; optional ``label_map``,
            ``spacing``, ``masks``, ``mask_suffix``).

    Returns:
        Float32 channels and an Int32 label (after ``label_map``), ``oriented=False``.

    Raises:
        InputError: missing or ambiguous mask, unreadable file, 3D picture, or colour
            planes that do not fit the declared channels.
    """
    picture, found = source.files[0], source.files[1:]
    _, masks, suffix = _folders(dataset)
    if not found:
        expected = masks / f"{source.name}{suffix}.png"
        raise InputError(picture, f"mask not found: expected {expected} (or .tif, .jpg, .bmp)")
    if len(found) > 1:
        raise InputError(picture, f"several masks: {', '.join(found)}")
    channels = list(dataset["channels"])
    planes = channel_planes(picture, read_picture(picture), channels)
    mask = mask_plane(found[0], read_picture(found[0]))
    spacing = picture_spacing(dataset)
    return RawSubject(
        subject=source.subject,
        images={c: image_from_array(p.T[..., None], spacing) for c, p in zip(channels, planes)},
        label=label_image(mask.T[..., None], found[0], dataset.get("label_map"), spacing),
        paths={**{c: picture for c in channels}, LABEL: found[0]},
        oriented=False,
    )
