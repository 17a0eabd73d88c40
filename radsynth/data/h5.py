"""HDF5 volumes in the layout of the DTC / UA-MT semi-supervised segmentation code.

::

    <root>/<case>/mri_norm2.h5    datasets "image" (X, Y, Z) float and "label" (X, Y, Z) int
    <root>/cases.list             optional: one case per line (``case_list``)

The file name (``file``) and dataset names (``image_key``, ``label_key``) are configurable.
h5 files carry no geometry: images get ``dataset.spacing`` (1 mm by default), an identity
direction and ``oriented=False``. One image per case, so one channel. With ``labels:
false`` the label dataset is neither needed nor read.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from radsynth.data.base import (
    LABEL,
    RawSubject,
    SubjectSource,
    image_from_array,
    label_image,
    unique_ids,
    wants_labels,
)
from radsynth.io import InputError


def discover(dataset: dict) -> list[SubjectSource]:
    """List the cases named in ``case_list``, or every subfolder of the root holding ``file``.

    Args:
        dataset: the validated ``dataset`` config section (``root``, ``file``, ``case_list``).

    Raises:
        ValueError: more than one channel is configured.
        InputError: the root or case list is missing or unreadable, no case is found, or two
            cases map to the same subject identifier.
    """
    _channel(dataset)
    root, file = Path(dataset["root"]), _file(dataset)
    if not root.is_dir():
        raise InputError(root, "dataset folder not found")
    if dataset.get("case_list"):
        where = root / dataset["case_list"]  # an absolute case_list replaces root
        try:
            names = [line.strip() for line in where.read_text().splitlines() if line.strip()]
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(where, f"cannot read case list ({type(err).__name__}: {err})") from err
    else:
        where = root
        with os.scandir(root) as entries:
            names = [e.name for e in entries if e.name[0] != "." and os.path.isfile(os.path.join(e.path, file))]
    if not names:
        raise InputError(where, f"no cases found (expected <case>/{file} folders)")
    ids = unique_ids(names, str(where))
    # A listed case whose file is missing gets no files here; load names the missing file.
    sources = []
    for ident, name in ids.items():
        path = root / name / file
        sources.append(SubjectSource(ident, name, (str(path),) if path.is_file() else ()))
    return sources


def load(source: SubjectSource, dataset: dict) -> RawSubject:
    """Read one case's image and label arrays (no label with ``labels: false``).

    Args:
        source: as listed by :func:`discover`.
        dataset: the validated ``dataset`` config section.

    Raises:
        InputError: naming the h5 file when it is missing, unreadable or truncated, lacks a
            dataset key, or holds a non-3D array.
    """
    channel = _channel(dataset)
    path = str(Path(dataset["root"]) / source.name / _file(dataset))
    if not os.path.isfile(path):
        raise InputError(path, "file not found")
    keys = {channel: dataset.get("image_key") or "image"}
    if wants_labels(dataset):
        keys[LABEL] = dataset.get("label_key") or "label"
    try:
        with h5py.File(path, "r") as handle:
            arrays = {role: _array(handle, key, path) for role, key in keys.items()}
    except OSError as err:  # h5py raises OSError for truncated or non-HDF5 files
        raise InputError(path, f"unreadable or truncated h5 ({err})") from err
    spacing = dataset.get("spacing") or [1.0, 1.0, 1.0]
    image = image_from_array(arrays[channel].astype(np.float32, copy=False), spacing)
    label = None
    if LABEL in arrays:
        # SimpleITK takes neither bool nor float16 arrays; whole-number checks happen in label_image.
        values = arrays[LABEL].astype(np.float64 if arrays[LABEL].dtype.kind == "f" else np.int64)
        label = label_image(values, path, dataset.get("label_map"), spacing)
    # No geometry in the file: the same path for every role, and never reoriented.
    return RawSubject(source.subject, {channel: image}, label, {role: path for role in keys}, oriented=False)


def _channel(dataset: dict) -> str:
    channels = dataset.get("channels") or ["image"]
    if len(channels) != 1:
        raise ValueError(f"an h5 case holds one image; dataset.channels must name one channel, not {channels}")
    return channels[0]


def _file(dataset: dict) -> str:
    return dataset.get("file") or "mri_norm2.h5"


def _array(handle: h5py.File, key: str, path: str) -> np.ndarray:
    """The 3D array stored under ``key``."""
    item = handle.get(key)
    if not isinstance(item, h5py.Dataset):
        raise InputError(path, f"no dataset {key!r} (present: {sorted(handle.keys())})")
    array = item[()]
    if array.ndim != 3:
        raise InputError(path, f"dataset {key!r} has shape {array.shape}; expected a 3D (X, Y, Z) volume")
    return array
