"""Medical Segmentation Decathlon and nnU-Net v2 raw datasets.

::

    <root>/dataset.json                  channel_names (v2) or modality (MSD v1): {"0": "T2", ...}
    <root>/labelsTr/<case>.nii.gz        one label per case; the cases are these files
    <root>/imagesTr/<case>_0000.nii.gz   nnU-Net v2: one 3D file per channel (4-digit index)
    <root>/imagesTr/<case>.nii.gz        MSD v1: one 4D file, the 4th axis indexes the channels

``.nii.gz`` is the default of dataset.json's ``file_ending``. The layout is detected per case.
Config channel names match dataset.json's names case-insensitively. With ``labels: false``
the cases are the images of ``imagesTr`` (``labelsTr`` is neither needed nor read).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from radsynth.data.base import LABEL, RawSubject, SubjectSource, label_image, read_image, unique_ids, wants_labels
from radsynth.io import InputError


def discover(dataset: dict) -> list[SubjectSource]:
    """List the cases of ``labelsTr`` (of ``imagesTr`` with ``labels: false``) with their files.

    Args:
        dataset: the validated ``dataset`` config section (``root``, ``channels``; optional
            ``labels``).

    Raises:
        ValueError: a configured channel is not in dataset.json.
        InputError: the root, dataset.json or labelsTr (imagesTr) is missing or unreadable,
            holds no case, or two cases map to the same subject identifier.
    """
    root = Path(dataset["root"])
    if not root.is_dir():
        raise InputError(root, "dataset folder not found")
    channels, _, ending = _index(root, dataset)
    labelled = wants_labels(dataset)
    labels, images = root / "labelsTr", root / "imagesTr"
    listed = labels if labelled else images
    if not listed.is_dir():
        raise InputError(listed, "folder not found (MSD / nnU-Net layout: imagesTr/, labelsTr/, dataset.json)")
    # Skip dot files: MSD tarballs ship macOS "._la_003.nii.gz" copies next to the real ones.
    names = [n[: -len(ending)] for n in os.listdir(listed) if n.endswith(ending) and n[0] != "." and n != ending]
    # Without labels the cases are the image names less the nnU-Net v2 channel index.
    cases = names if labelled else sorted({re.sub(r"_\d{4}$", "", n) for n in names})
    if not cases:
        raise InputError(listed, f"no {'label' if labelled else 'image'} file ending in {ending!r}")
    # One listing of imagesTr instead of a stat per file keeps this fast for thousands of cases.
    present = set(os.listdir(images)) if images.is_dir() else set()
    ids = unique_ids(cases, str(listed))
    sources = []
    for ident, case in ids.items():
        names = [f"{case}_{i:04d}{ending}" for i in channels.values()] + [f"{case}{ending}"]
        files = [str(images / n) for n in names if n in present]
        files += [str(labels / f"{case}{ending}")] if labelled else []
        sources.append(SubjectSource(ident, case, tuple(files)))
    return sources


def load(source: SubjectSource, dataset: dict) -> RawSubject:
    """Read one case: a 3D file per channel (v2) or the channels of one 4D file (v1), and
    its label (None with ``labels: false``).

    Args:
        source: as listed by :func:`discover`.
        dataset: the validated ``dataset`` config section.

    Raises:
        InputError: naming the image or label file that is missing, unreadable, truncated,
            of the wrong dimension, or (v1) holds another number of channels than dataset.json.
    """
    root = Path(dataset["root"])
    channels, count, ending = _index(root, dataset)
    images_dir, case = root / "imagesTr", source.name
    split = {name: images_dir / f"{case}_{i:04d}{ending}" for name, i in channels.items()}
    single = images_dir / f"{case}{ending}"
    if any(p.is_file() for p in split.values()) or not single.is_file():
        layout = "nnunet_v2"
        for name, path in split.items():
            if not path.is_file():
                raise InputError(
                    path, f"missing: no {path.name} for channel {name} in {images_dir} (nor a 4D {single.name})"
                )
        images = {name: read_image(str(path)) for name, path in split.items()}
        paths = {name: str(path) for name, path in split.items()}
    else:
        layout = "msd_v1"
        images = _split_channels(str(single), channels, count)
        paths = {name: str(single) for name in channels}
    label = None
    if wants_labels(dataset):
        label_path = str(root / "labelsTr" / f"{case}{ending}")
        if not os.path.isfile(label_path):
            raise InputError(label_path, "label file not found")
        label = label_image(read_image(label_path, np.float64), label_path, dataset.get("label_map"))
        paths[LABEL] = label_path
    return RawSubject(source.subject, images, label, paths, oriented=True, info={"layout": layout})


def _index(root: Path, dataset: dict) -> tuple[dict[str, int], int, str]:
    """From dataset.json: (config channel name -> index, number of channels, file ending)."""
    path = root / "dataset.json"
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise InputError(path, f"cannot read dataset.json ({type(err).__name__}: {err})") from err
    named = (meta.get("channel_names") or meta.get("modality")) if isinstance(meta, dict) else None
    if not isinstance(named, dict) or not named:
        raise InputError(path, "has no channel_names (nnU-Net v2) or modality (MSD v1)")
    try:
        available = {str(name).lower(): int(index) for index, name in named.items()}
    except ValueError as err:
        raise InputError(path, f"channel indices must be integers ({err})") from err
    wanted = dataset.get("channels") or [named[k] for k in sorted(named, key=int)]
    unknown = [c for c in wanted if c.lower() not in available]
    if unknown:
        raise ValueError(f"channels {unknown} are not in {path}; available: {sorted(named.values())}")
    return {c: available[c.lower()] for c in wanted}, len(named), meta.get("file_ending") or ".nii.gz"


def _split_channels(path: str, channels: dict[str, int], count: int) -> dict[str, sitk.Image]:
    """The 3D channel images of an MSD v1 file (4D, or 3D when there is one channel)."""
    volume = read_image(path, dimensions=(3, 4))
    if volume.GetDimension() == 3:
        if count != 1:
            raise InputError(path, f"is 3D but dataset.json lists {count} channels; expected a 4D file")
        return {name: volume for name in channels}
    size = list(volume.GetSize())
    if size[3] != count:
        raise InputError(path, f"holds {size[3]} channels on axis 4 but dataset.json lists {count}")
    # Extract collapses axis 4 and keeps spacing, origin and direction of the first three axes.
    return {name: sitk.Extract(volume, size[:3] + [0], [0, 0, 0, i]) for name, i in channels.items()}
