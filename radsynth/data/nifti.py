"""NIfTI folders: one folder per subject, one 3D file per channel and one label file.

::

    <root>/<subject>/<subject>_t1.nii.gz
                     <subject>_t2.nii.gz
                     <subject>_seg.nii.gz

With ``dataset.groups`` the root holds group folders, each with subject folders (the
``train/``, ``validation/``, ``test/`` of deepmedic's BraTS sample); a subject is named
``<group>/<folder>`` and ``{subject}`` stands for the folder name alone.

Which file plays which role (a channel name, ``label`` or the optional ``mask``) comes from a
glob pattern per role, relative to the subject folder; ``{subject}`` in a pattern stands for
the folder name. ``naming`` picks preset patterns (the BraTS releases, see :data:`NAMING`) and
``patterns`` overrides or extends them. With ``labels: false`` (AURORA, BraTS 2023
validation cases without ``-seg``) no label file is looked for. Any 3D format SimpleITK reads works (``.nii``,
``.nii.gz``, ``.nrrd``, ``.mha``); the geometry of the files is kept (``oriented=True``).
Files are read by :func:`radsynth.data.base.read_image` (NIfTI voxels through nibabel,
because SimpleITK 2.5 hides NaNs and truncation in them).
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

import numpy as np

from radsynth.data.base import (
    LABEL,
    MASK,
    RawSubject,
    SubjectSource,
    group_folders,
    grouped_name,
    label_image,
    read_image,
    unique_ids,
    wants_labels,
)
from radsynth.io import InputError

NAMING = {
    # BraTS <= 2021: BraTS2021_00000/BraTS2021_00000_t1ce.nii.gz
    "brats2021": {
        "t1": "*_t1.nii*",
        "t1ce": "*_t1ce.nii*",
        "t2": "*_t2.nii*",
        "flair": "*_flair.nii*",
        LABEL: "*_seg.nii*",
    },
    # BraTS 2023: BraTS-GLI-00000-000/BraTS-GLI-00000-000-t1c.nii.gz
    "brats2023": {
        "t1n": "*-t1n.nii*",
        "t1c": "*-t1c.nii*",
        "t2w": "*-t2w.nii*",
        "t2f": "*-t2f.nii*",
        LABEL: "*-seg.nii*",
    },
    "custom": {},
}


def discover(dataset: dict) -> list[SubjectSource]:
    """List the subject folders under ``dataset["root"]`` and the files their patterns match.

    Hidden folders and folders without any file are skipped. A subject whose files are
    missing or ambiguous is still listed: :func:`load` reports it.

    Args:
        dataset: the validated ``dataset`` config section (``root``, ``channels``,
            ``naming``, ``patterns``; optional ``groups``, ``labels``).

    Raises:
        ValueError: a channel or the label has no pattern (a config error).
        InputError: the root or a group folder is missing, no subject folder is found, or
            two names map to the same subject identifier.
    """
    patterns = _patterns(dataset)
    root = Path(dataset["root"])
    found: dict[str, tuple[str, tuple[str, ...]]] = {}  # name -> (group, files)
    for group, folder in group_folders(dataset):
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith(".") or not entry.is_dir():
                    continue
                matched = [path for pattern in patterns.values() for path in _match(entry.path, pattern, entry.name)]
                if matched or _has_files(entry.path):
                    found[grouped_name(group, entry.name)] = (group, tuple(dict.fromkeys(matched)))
    if not found:
        hint = "" if dataset.get("groups") else "; split or class subfolders (train/, test/): set dataset.groups"
        raise InputError(root, f"no subject folders found (expected one folder per subject{hint})")
    ids = unique_ids(found, str(root))
    return [SubjectSource(ident, name, found[name][1], found[name][0]) for ident, name in ids.items()]


def load(source: SubjectSource, dataset: dict) -> RawSubject:
    """Read one subject's channels, label (None with ``labels: false``) and optional mask.

    Args:
        source: as listed by :func:`discover`.
        dataset: the validated ``dataset`` config section.

    Raises:
        InputError: naming the file (or the folder and pattern) that is missing, matched
            more than once, unreadable or truncated, or not 3D.
    """
    patterns = _patterns(dataset)
    folder = os.path.join(dataset["root"], source.group, source.local_name)
    if not os.path.isdir(folder):
        raise InputError(folder, "subject folder not found")
    paths = {role: _one(folder, pattern, source.local_name, role) for role, pattern in patterns.items()}
    images = {name: read_image(paths[name]) for name in dataset["channels"]}
    label = None
    if LABEL in paths:
        label = label_image(read_image(paths[LABEL], np.float64), paths[LABEL], dataset.get("label_map"))
    mask = read_image(paths[MASK]) != 0 if MASK in paths else None
    return RawSubject(source.subject, images, label, paths, mask=mask, oriented=True)


def _patterns(dataset: dict) -> dict[str, str]:
    """Role -> pattern for the roles ``load`` reads: the channels, the label (unless
    ``labels: false``), the mask if any."""
    naming = dataset.get("naming") or "custom"
    if naming not in NAMING:
        raise ValueError(f"unknown dataset.naming {naming!r}; known: {sorted(NAMING)}")
    known = {**NAMING[naming], **(dataset.get("patterns") or {})}
    roles = [*dataset["channels"]] + ([LABEL] if wants_labels(dataset) else []) + ([MASK] if MASK in known else [])
    for role in roles:
        if not known.get(role):
            raise ValueError(
                f"no file pattern for {role!r} with naming {naming!r}; roles with a pattern: "
                f"{sorted(known)} (add one under dataset.patterns)"
            )
    return {role: known[role] for role in roles}


def _match(folder: str, pattern: str, name: str) -> list[str]:
    """Files in ``folder`` matching ``pattern`` with ``{subject}`` replaced by ``name``."""
    # Escape the name: a folder called "a[1]" must match itself, not "a1".
    pattern = pattern.replace("{subject}", glob.escape(name))
    # glob's wildcards skip dot files, so macOS "._x_t1.nii.gz" copies never make a match ambiguous.
    return sorted(
        path for path in (os.path.join(folder, m) for m in glob.glob(pattern, root_dir=folder)) if os.path.isfile(path)
    )


def _has_files(folder: str) -> bool:
    with os.scandir(folder) as entries:
        return any(not e.name.startswith(".") and e.is_file() for e in entries)


def _one(folder: str, pattern: str, name: str, role: str) -> str:
    """The single file of ``role``; a missing or ambiguous match names the folder and pattern."""
    matched = _match(folder, pattern, name)
    if not matched:
        raise InputError(folder, f"no file matches {pattern!r} for {role}")
    if len(matched) > 1:
        names = ", ".join(os.path.basename(m) for m in matched)
        reason = f"{len(matched)} files match {pattern!r} for {role} ({names}); make the pattern specific"
        raise InputError(folder, reason)
    return matched[0]
