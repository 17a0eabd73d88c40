"""Adapter ``image_pairs``: 2D pictures with their masks (the BUSI layout).

Layout under ``dataset["root"]``::

    images/<stem>.<ext>                  one subject per picture, e.g. "benign (10).png"
    masks/<stem><mask_suffix>.<ext>      its mask; any supported extension
    masks/<stem><mask_suffix>_<n>.<ext>  further masks of the same picture (n = 1, 2, ...)

``images`` and ``masks`` name the two folders (they may be the same folder when
``mask_suffix`` tells masks apart, as in the original BUSI release with ``"_mask"``, where
``benign (4)_mask.png`` and ``benign (4)_mask_1.png`` are two lesions of one picture). All
masks of a picture are merged into one label: the voxel-wise maximum of their classes after
``label_map`` (their union for binary masks).

With ``dataset.groups`` the root holds group folders (the original BUSI download:
``benign/``, ``malignant/``, ``normal/`` with images and masks side by side: ``images: .``,
``masks: .``, ``mask_suffix: _mask``), each laid out as above; a subject is named
``<group>/<stem>`` (see :func:`radsynth.data.base.group_folders`).

Supported extensions (any case): png, tif, tiff, jpg, jpeg, bmp. Each picture becomes a
volume of shape (X, Y, 1), x being the picture's columns. Sizes may differ per subject.
With ``labels: false`` masks are neither needed nor read. Pictures are read with
:mod:`radsynth.data.pictures`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from radsynth.data.base import (
    LABEL,
    RawSubject,
    SubjectSource,
    group_folders,
    grouped_name,
    image_from_array,
    label_image,
    unique_ids,
    wants_labels,
)
from radsynth.data.pictures import (
    EXTENSIONS,
    channel_planes,
    is_picture,
    merged_masks,
    picture_spacing,
    read_picture,
)
from radsynth.io import InputError

__all__ = ["discover", "load"]


def _folders(dataset: dict, folder: Path) -> tuple[Path, Path, str]:
    """The images and masks folders of one group folder (the root without groups), and the suffix."""
    images = folder / dataset.get("images", "images")
    masks = folder / dataset.get("masks", "masks")
    return images, masks, dataset.get("mask_suffix") or ""


def _pictures_by_stem(folder: Path) -> dict[str, list[str]]:
    """Stem -> picture files in ``folder`` (one ``scandir``: fast for thousands of files)."""
    found: dict[str, list[str]] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            if is_picture(entry.name) and entry.is_file():
                found.setdefault(os.path.splitext(entry.name)[0], []).append(entry.path)
    return {stem: sorted(paths) for stem, paths in found.items()}


def _extra(suffix: str) -> re.Pattern:
    """Stems of further masks: ``<stem><suffix>_<n>`` (BUSI: ``benign (4)_mask_1``)."""
    return re.compile(rf"(?P<stem>.+){re.escape(suffix)}_(?P<n>\d+)")


def _masks_of(pictures: dict, masks: dict[str, list[str]], suffix: str) -> dict[str, list[str]]:
    """Picture stem -> its mask files: ``<stem><suffix>`` first, then ``_1``, ``_2``, ...

    A mask stem equal to a picture's stem plus the suffix is that picture's, even where it
    also reads as a further mask of another picture (suffix "": ``a_1`` of picture ``a_1``).
    """
    extra, owned = _extra(suffix), {}
    for stem, paths in masks.items():
        base = stem[: len(stem) - len(suffix)]
        if stem.endswith(suffix) and base in pictures:
            owned.setdefault(base, []).append((-1, paths))
        elif (hit := extra.fullmatch(stem)) and hit["stem"] in pictures:
            owned.setdefault(hit["stem"], []).append((int(hit["n"]), paths))
    return {stem: [p for _, paths in sorted(found) for p in paths] for stem, found in owned.items()}


def discover(dataset: dict) -> list[SubjectSource]:
    """List one subject per picture of the images folder(s), from file names only.

    Args:
        dataset: the ``dataset`` config section (``root``; optional ``images``, ``masks``,
            ``mask_suffix``, ``groups``, ``labels``).

    Returns:
        Sources sorted by subject id; ``files`` is ``(picture, *masks found)``, the masks
        in order (``<stem><suffix>``, then ``_1``, ``_2``, ...); ``group`` the group folder.

    Raises:
        InputError: root, a group, images or masks folder missing, no pictures, the images
            and masks folders are one folder without a ``mask_suffix``, two pictures share a
            stem, or two names map to the same subject id.
    """
    labels = wants_labels(dataset)
    found: dict[str, tuple[str, tuple[str, ...]]] = {}  # name -> (group, files)
    for group, folder in group_folders(dataset):
        images, masks, suffix = _folders(dataset, folder)
        for where in (images, masks) if labels else (images,):
            if not where.is_dir():
                raise InputError(where, "dataset folder not found")
        same_folder = masks.is_dir() and images.resolve() == masks.resolve()
        if same_folder and not suffix and labels:
            raise InputError(masks, "images and masks are one folder: set dataset.mask_suffix")
        pictures = _pictures_by_stem(images)
        if same_folder:  # the masks are not subjects
            extra = _extra(suffix)
            pictures = {s: p for s, p in pictures.items() if not s.endswith(suffix) and not extra.fullmatch(s)}
        if not pictures:
            raise InputError(images, f"no pictures ({', '.join(EXTENSIONS)}) found")
        for stem, paths in pictures.items():
            if len(paths) > 1:  # "a.png" and "a.jpg" would be one subject: ambiguous
                raise InputError(images, f"pictures {[Path(p).name for p in paths]} share the name {stem!r}")
        owned = _masks_of(pictures, _pictures_by_stem(masks), suffix) if labels else {}
        for stem, paths in pictures.items():
            found[grouped_name(group, stem)] = (group, (paths[0], *owned.get(stem, [])))
    return [
        SubjectSource(ident, name, found[name][1], found[name][0])
        for ident, name in unique_ids(found, str(dataset["root"])).items()
    ]


def load(source: SubjectSource, dataset: dict) -> RawSubject:
    """Read one picture and its masks (merged) as (X, Y, 1) volumes.

    Args:
        source: from :func:`discover`; ``files[0]`` is the picture, the rest its masks.
        dataset: the ``dataset`` config section (``channels``; optional ``label_map``,
            ``classes``, ``spacing``, ``masks``, ``mask_suffix``, ``labels``).

    Returns:
        Float32 channels and an Int32 label (after ``label_map``; None with ``labels:
        false``), ``oriented=False``, ``pictures=True``; ``info["masks"]`` lists the mask
        files merged into the label, ``paths["label"]`` is the first.

    Raises:
        InputError: missing mask, two files for one mask (``a.png`` and ``a.tif``),
            masks of different sizes or (several masks) with values outside the classes,
            unreadable file, 3D picture, or colour planes that do not fit the channels.
    """
    picture, found = source.files[0], list(source.files[1:])
    channels = list(dataset["channels"])
    planes = channel_planes(picture, read_picture(picture), channels)
    spacing = picture_spacing(dataset)
    raw = RawSubject(
        subject=source.subject,
        images={c: image_from_array(p.T[..., None], spacing) for c, p in zip(channels, planes)},
        label=None,
        paths={c: picture for c in channels},
        oriented=False,
        pictures=True,
    )
    if not wants_labels(dataset):
        return raw
    _, masks, suffix = _folders(dataset, Path(dataset["root"]) / source.group)
    if not found:
        expected = masks / f"{source.local_name}{suffix}.png"
        raise InputError(picture, f"mask not found: expected {expected} (or .tif, .jpg, .bmp)")
    stems: dict[str, str] = {}
    for path in found:
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem in stems:
            raise InputError(path, f"two files for one mask: {stems[stem]} and {path}")
        stems[stem] = path
    mask = merged_masks(found, dataset.get("label_map"), dataset.get("classes") or [1])
    raw.label = label_image(mask.T[..., None], found[0], None, spacing)
    raw.paths[LABEL] = found[0]
    raw.info["masks"] = found
    return raw
