r"""Adapter ``multichannel_slices``: 2D slices whose colour planes are modalities (Kaggle LGG).

Picture files (png, tif, tiff, jpg, jpeg, bmp) lie anywhere under ``dataset["root"]``. The
stem of each, with ``mask_suffix`` (default ``"_mask"``) removed from mask stems, is matched
with ``re.fullmatch`` by ``subject_pattern``, whose named groups ``subject`` and ``slice``
group files into subjects (default ``^(?P<subject>.+)_(?P<slice>\d+)$``)::

    TCGA_CS_4941_19960909/TCGA_CS_4941_19960909_1.tif        planes (T1, FLAIR, T1c)
    TCGA_CS_4941_19960909/TCGA_CS_4941_19960909_1_mask.tif   its {0, 255} mask

Files whose stem does not match are ignored. A subject's slices are stacked in numeric slice
order (9 before 10) into an (X, Y, Z) volume, x being the pictures' columns. Pictures are
read with :mod:`radsynth.data.pictures`. With ``dataset.groups`` the files are looked for
under each group folder and a subject is named ``<group>/<subject>``; with ``labels:
false`` mask files are neither needed nor read.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

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
from radsynth.data.pictures import channel_planes, is_picture, mask_plane, picture_spacing, read_picture
from radsynth.io import InputError

__all__ = ["discover", "load"]

DEFAULT_PATTERN = r"^(?P<subject>.+)_(?P<slice>\d+)$"


def _settings(dataset: dict) -> tuple[re.Pattern, str]:
    """The compiled ``subject_pattern`` and the ``mask_suffix``."""
    pattern = dataset.get("subject_pattern") or DEFAULT_PATTERN
    try:
        regex = re.compile(pattern)
    except re.error as err:
        raise InputError(dataset["root"], f"subject_pattern {pattern!r} is not a regular expression ({err})") from err
    if not {"subject", "slice"} <= set(regex.groupindex):
        raise InputError(dataset["root"], f"subject_pattern {pattern!r} needs named groups 'subject' and 'slice'")
    return regex, dataset.get("mask_suffix", "_mask")


def _parse(path: str, regex: re.Pattern, suffix: str) -> tuple[str, int, bool] | None:
    """(subject, slice number, is mask) of a file; None when its stem does not match."""
    stem = os.path.splitext(os.path.basename(path))[0]
    is_mask = bool(suffix) and stem.endswith(suffix)
    match = regex.fullmatch(stem[: -len(suffix)] if is_mask else stem)
    if match is None:
        return None
    try:
        number = int(match["slice"])
    except ValueError as err:  # numeric order needs numbers: the pattern is wrong
        reason = f"slice {match['slice']!r} from subject_pattern {regex.pattern!r} is not a number"
        raise InputError(path, reason) from err
    return match["subject"], number, is_mask


def discover(dataset: dict) -> list[SubjectSource]:
    """Group the slice and mask files under the root into subjects, from names only.

    Args:
        dataset: the ``dataset`` config section (``root``; optional ``subject_pattern``,
            ``mask_suffix``, ``groups``, ``labels``).

    Returns:
        Sources sorted by subject id; ``files`` holds slices and masks (none with
        ``labels: false``) in slice order.

    Raises:
        InputError: root or a group folder missing, bad ``subject_pattern``, no matching
            file, or two subject names map to the same id.
    """
    root = Path(dataset["root"])
    regex, suffix = _settings(dataset)
    labels = wants_labels(dataset)
    found: dict[str, list[tuple[int, str]]] = {}
    groups: dict[str, str] = {}
    for group, top in group_folders(dataset):
        for folder, dirs, names in os.walk(top):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in filter(is_picture, names):
                path = os.path.join(folder, name)
                parsed = _parse(path, regex, suffix)
                if parsed and (labels or not parsed[2]):
                    subject = grouped_name(group, parsed[0])
                    found.setdefault(subject, []).append((parsed[1], path))
                    groups[subject] = group
    if not found:
        raise InputError(root, f"no picture whose name matches subject_pattern {regex.pattern!r}")
    return [
        SubjectSource(ident, name, tuple(path for _, path in sorted(found[name])), groups[name])
        for ident, name in unique_ids(found, str(root)).items()
    ]


def load(source: SubjectSource, dataset: dict) -> RawSubject:
    """Read and stack one subject's slices and masks.

    Args:
        source: from :func:`discover`.
        dataset: the ``dataset`` config section (``channels``; optional ``label_map``,
            ``spacing``, ``subject_pattern``, ``mask_suffix``).

    Returns:
        Float32 (X, Y, Z) channels and an Int32 label (after ``label_map``; None with
        ``labels: false``),
        ``oriented=False``, ``info["slices"]`` = the slice numbers in stacking order.
        ``paths`` name the folders of the slices and masks (no single file holds a stack).

    Raises:
        InputError: a slice without mask (or the reverse), two files for one slice,
            slices of different sizes, unreadable or 3D file, or colour planes that do
            not fit the declared channels.
    """
    regex, suffix = _settings(dataset)
    labels = wants_labels(dataset)
    slices: dict[int, list[str]] = {}
    masks: dict[int, list[str]] = {}
    for path in source.files:
        _, number, is_mask = _parse(path, regex, suffix)
        if labels or not is_mask:
            (masks if is_mask else slices).setdefault(number, []).append(path)
    # Pairing problems first: they need no reads.
    for number, paths in [*slices.items(), *masks.items()]:
        if len(paths) > 1:
            raise InputError(paths[1], f"slice {number} of {source.name} is also {paths[0]}")
    for number, (path,) in masks.items():
        if number not in slices:
            raise InputError(path, f"mask without its slice {number} of {source.name}")
    for number, (path,) in slices.items():
        if labels and number not in masks:
            stem, ext = os.path.splitext(path)
            raise InputError(path, f"mask not found: expected {stem}{suffix}{ext}")

    channels = list(dataset["channels"])
    numbers = sorted(slices)
    stacks: list[list[np.ndarray]] = [[] for _ in channels]
    reference = None  # (file, shape) of the first slice: every other must match it
    label_planes: list[np.ndarray] = []
    for number in numbers:
        path = slices[number][0]
        planes = channel_planes(path, read_picture(path), channels)
        reference = reference or (path, planes[0].shape)
        read = [(path, planes[0])]
        if labels:
            mask_path = masks[number][0]
            read.append((mask_path, mask_plane(mask_path, read_picture(mask_path))))
            label_planes.append(read[-1][1].T)
        for file, plane in read:
            if plane.shape != reference[1]:
                raise InputError(file, f"shape {plane.shape} differs from {reference[1]} of {reference[0]}")
        for stack, plane in zip(stacks, planes):
            stack.append(plane.T)

    spacing = picture_spacing(dataset)
    folder = os.path.commonpath([os.path.dirname(slices[n][0]) for n in numbers])
    raw = RawSubject(
        subject=source.subject,
        images={c: image_from_array(np.stack(s, axis=-1), spacing) for c, s in zip(channels, stacks)},
        label=None,
        paths={c: folder for c in channels},
        oriented=False,
        info={"slices": numbers},
        pictures=True,
    )
    if labels:
        mask_folder = os.path.commonpath([os.path.dirname(masks[n][0]) for n in numbers])
        raw.label = label_image(np.stack(label_planes, axis=-1), mask_folder, dataset.get("label_map"), spacing)
        raw.paths[LABEL] = mask_folder
    return raw
