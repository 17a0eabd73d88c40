"""Export prepared subjects (and synthetic pairs) as an nnU-Net v2 raw dataset.

The folder written is what ``nnUNetv2_plan_and_preprocess`` reads from ``nnUNet_raw``::

    DatasetXXX_Name/
        dataset.json
        imagesTr/<case>_0000.nii.gz, <case>_0001.nii.gz, ...   one file per channel
        labelsTr/<case>.nii.gz
        imagesTs/..., labelsTs/...                              held-out cases, for evaluation

Real cases are the preprocessed volumes, with their geometry copied exactly. Synthetic pairs
(``synthetic/train/<generator>.npz``) are single slices, written as (H, W, 1) volumes placed where
their source slice lies in the source subject. A dataset that mixes 3D real cases with
single-slice synthetic cases is meant for nnU-Net's ``2d`` configuration only
(``nnUNetv2_plan_and_preprocess -c 2d``, ``nnUNetv2_train ... 2d``): the 3D configurations
would plan patches no one-slice case can fill.

nnU-Net v2 wants label values 0..K: classes such as BraTS's [1, 2, 4] are renumbered to
[1, 2, 3] in the exported labels, and ``dataset.json`` keeps the original values under
``radsynth_label_values`` so predictions can be mapped back.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

import nibabel as nib
import numpy as np

from radsynth.io import InputError, write_json, write_nifti

_DATASET_NAME = re.compile(r"Dataset\d{3}_(\S+)")
_CASE_ID = re.compile(r"[A-Za-z0-9._-]+")  # what radsynth.data.base.safe_id produces
_SYNTHETIC_KEYS = ("image", "channels", "label", "subject", "sample", "slice")


def export_nnunet(
    out_dir: str | os.PathLike,
    train_dirs: Mapping[str, str | os.PathLike],
    test_dirs: Mapping[str, str | os.PathLike],
    channels: Sequence[str],
    classes: Sequence[int],
    synthetic: Mapping[str, np.ndarray] | None = None,
    description: str = "",
) -> dict:
    """Write an nnU-Net v2 raw dataset; the folder appears complete or not at all.

    Everything is built in a hidden sibling folder, checked with :func:`check_nnunet` and
    renamed onto ``out_dir`` (an existing ``out_dir`` is replaced only then). On any error
    neither ``out_dir`` nor the temporary folder remains.

    Args:
        out_dir: the ``DatasetXXX_Name`` folder to create (XXX: three digits).
        train_dirs: case id -> ``preprocessed/<subject>`` folder, exported to
            ``imagesTr``/``labelsTr``.
        test_dirs: case id -> folder, exported to ``imagesTs``/``labelsTs``.
        channels: channel names, in the order of ``_0000``, ``_0001``, ...
        classes: foreground label values.
        synthetic: arrays of ``synthetic/train/<generator>.npz`` (``image``, ``channels``, ``label``,
            ``subject``, ``sample``, ``slice``); each pair becomes the training case
            ``synth_<subject>_s<slice>_k<sample>``. Its source subject must be a key of
            ``train_dirs``.
        description: free text for ``dataset.json``.

    Returns:
        The ``dataset.json`` content written.

    Raises:
        ValueError: bad names, classes or synthetic arrays (synthetic data from a subject
            that is not a training case, missing channels), or a structural problem found
            by :func:`check_nnunet`.
        InputError: a missing or unreadable file, or label values outside ``classes``.
    """
    out_dir = Path(out_dir)
    name = _DATASET_NAME.fullmatch(out_dir.name)
    if name is None:
        raise ValueError(f"{out_dir}: nnU-Net needs a folder named DatasetXXX_Name (XXX: three digits)")
    channels = [str(c) for c in channels]
    if not channels or len(set(channels)) != len(channels):
        raise ValueError(f"channels {channels} must be a non-empty list of distinct names")
    values = _label_values(classes)
    pairs = _synthetic_cases(synthetic, train_dirs, channels) if synthetic is not None else []
    _check_case_ids([*train_dirs, *(case for case, _ in pairs), *test_dirs])

    dataset = {
        "name": name.group(1),
        "description": description,
        "channel_names": {str(i): c for i, c in enumerate(channels)},
        "labels": {"background": 0, **{f"class_{orig}": new for orig, new in values.items()}},
        "numTraining": len(train_dirs) + len(pairs),
        "file_ending": ".nii.gz",
    }
    if any(orig != new for orig, new in values.items()):
        dataset["radsynth_label_values"] = {str(new): orig for orig, new in values.items()}
    if pairs:
        dataset["radsynth_synthetic_cases"] = [case for case, _ in pairs]

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{secrets.token_hex(4)}")
    tmp.mkdir()
    try:
        for split, cases in (("Tr", train_dirs), ("Ts", test_dirs)):
            if split == "Ts" and not cases:
                continue  # no empty test folders
            (tmp / f"images{split}").mkdir()
            (tmp / f"labels{split}").mkdir()
            for case, folder in cases.items():
                _copy_case(tmp, split, case, Path(folder), channels, values)
        for case, row in pairs:
            _write_synthetic(tmp, case, row, synthetic, train_dirs, channels, values)
        write_json(tmp / "dataset.json", dataset)
        problems = check_nnunet(tmp)
        if problems:
            raise ValueError(f"{out_dir}: exported dataset fails its check:\n  " + "\n  ".join(problems))
        _replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dataset


def _label_values(classes: Sequence[int]) -> dict[int, int]:
    """Original foreground value -> exported value 1..K, in increasing order."""
    originals = sorted({int(c) for c in classes})
    if not originals or originals[0] <= 0 or len(originals) != len(classes):
        raise ValueError(f"classes {list(classes)} must be distinct positive label values")
    return {orig: new for new, orig in enumerate(originals, start=1)}


def _remap(label: np.ndarray, values: Mapping[int, int], where: str | os.PathLike) -> np.ndarray:
    """``label`` with original values replaced by exported ones, as uint8."""
    found = set(np.unique(label).tolist())
    extra = sorted(found - {0, *values})
    if extra:
        raise InputError(where, f"label values {extra} are not 0 or a declared class {sorted(values)}")
    lut = np.zeros(int(max(found | {0})) + 1, dtype=np.uint8)
    for orig, new in values.items():
        if orig < len(lut):
            lut[orig] = new
    return lut[label.astype(np.int64)]


def _check_case_ids(cases: Sequence[str]) -> None:
    bad = [case for case in cases if not _CASE_ID.fullmatch(str(case))]
    if bad:
        raise ValueError(f"case ids {bad} may hold only letters, digits, '.', '_' and '-'")
    seen, repeated = set(), set()
    for case in cases:
        (repeated if case in seen else seen).add(case)
    if repeated:
        raise ValueError(f"case ids {sorted(repeated)} are used more than once")


def _copy_case(root: Path, split: str, case: str, folder: Path, channels: Sequence[str],
               values: Mapping[int, int]) -> None:
    """Copy one preprocessed subject: channel files byte for byte, the label checked (and
    renumbered when the classes are not 1..K)."""
    for index, channel in enumerate(channels):
        source = folder / f"{channel}.nii.gz"
        if not source.is_file():
            raise InputError(source, f"missing channel {channel} of case {case}")
        shutil.copyfile(source, root / f"images{split}" / f"{case}_{index:04d}.nii.gz")
    source = folder / "label.nii.gz"
    target = root / f"labels{split}" / f"{case}.nii.gz"
    if not source.is_file():
        raise InputError(source, f"missing label of case {case}")
    try:
        image = nib.load(str(source))
        label = np.asarray(image.dataobj)
    except Exception as err:  # nibabel raises many types for truncated or foreign files
        raise InputError(source, f"cannot read NIfTI ({type(err).__name__}: {err})") from err
    remapped = _remap(label, values, source)
    if all(orig == new for orig, new in values.items()) and label.dtype == np.uint8:
        shutil.copyfile(source, target)
        return
    # Keep the source header (qform and sform codes included); only voxels and dtype change.
    out = nib.Nifti1Image(remapped, image.affine, image.header)
    out.set_data_dtype(np.uint8)
    nib.save(out, str(target))


def _synthetic_cases(synthetic: Mapping[str, np.ndarray], train_dirs: Mapping[str, str | os.PathLike],
                     channels: Sequence[str]) -> list[tuple[str, int]]:
    """(case id, row) of every synthetic pair, after checking the arrays."""
    missing_keys = [key for key in _SYNTHETIC_KEYS if key not in synthetic]
    if missing_keys:
        raise ValueError(f"synthetic arrays lack {missing_keys}")
    names = [str(c) for c in np.asarray(synthetic["channels"]).tolist()]
    missing = [c for c in channels if c not in names]
    if missing:
        raise ValueError(f"synthetic images lack channels {missing} (they have {names})")
    n = len(synthetic["image"])
    if any(len(synthetic[key]) != n for key in ("label", "subject", "sample", "slice")):
        raise ValueError("synthetic arrays image, label, subject, sample and slice differ in length")
    subjects = [str(s) for s in np.asarray(synthetic["subject"]).tolist()]
    outside = sorted(set(subjects) - set(train_dirs))
    if outside:
        raise ValueError(
            f"synthetic pairs come from subjects {outside} that are not training cases: "
            "synthetic data must come from training subjects only"
        )
    return [
        (f"synth_{subject}_s{int(z)}_k{int(k)}", row)
        for row, (subject, z, k) in enumerate(zip(subjects, synthetic["slice"], synthetic["sample"]))
    ]


def _write_synthetic(root: Path, case: str, row: int, synthetic: Mapping[str, np.ndarray],
                     train_dirs: Mapping[str, str | os.PathLike], channels: Sequence[str],
                     values: Mapping[int, int]) -> None:
    """One synthetic pair as an (H, W, 1) case on its source slice's grid."""
    subject = str(synthetic["subject"][row])
    z = int(synthetic["slice"][row])
    reference = Path(train_dirs[subject]) / f"{channels[0]}.nii.gz"
    try:
        header = nib.load(str(reference))  # header only: shape and affine
    except Exception as err:
        raise InputError(reference, f"cannot read NIfTI ({type(err).__name__}: {err})") from err
    image = np.asarray(synthetic["image"][row], dtype=np.float32)  # (C, H, W)
    if tuple(header.shape[:2]) != image.shape[1:] or not 0 <= z < (header.shape + (1,))[2]:
        raise ValueError(f"synthetic case {case}: slice {z} of shape {image.shape[1:]} does not fit "
                         f"{reference} of shape {header.shape}")
    # Shift the origin to the source slice, so the case lies where its mask came from.
    affine = header.affine @ np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, z], [0, 0, 0, 1]], float)
    names = [str(c) for c in np.asarray(synthetic["channels"]).tolist()]
    for index, channel in enumerate(channels):
        plane = image[names.index(channel)][:, :, None]
        write_nifti(root / "imagesTr" / f"{case}_{index:04d}.nii.gz", plane, affine)
    label = _remap(np.asarray(synthetic["label"][row]), values, f"synthetic case {case}")
    write_nifti(root / "labelsTr" / f"{case}.nii.gz", label[:, :, None], affine)


def _replace_dir(new: Path, target: Path) -> None:
    """Rename ``new`` onto ``target``; an existing ``target`` is moved aside first and
    removed only once ``new`` is in place (a directory cannot be replaced in one rename)."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{secrets.token_hex(4)}")
        os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old)


def check_nnunet(folder: str | os.PathLike) -> list[str]:
    """Structural problems of an nnU-Net v2 raw dataset folder, empty when there are none.

    Checks ``dataset.json`` (``channel_names``, ``labels`` with background 0 and consecutive
    values, ``numTraining`` equal to the number of labelled training cases, ``file_ending``),
    that every case of ``imagesTr`` has one file per channel and a label in ``labelsTr`` and
    the reverse, that label values are declared, that channels and label of a case share shape
    and affine (within 1e-4), and that case ids have no spaces. ``imagesTs``/``labelsTs`` get
    the same checks when present.

    Args:
        folder: the ``DatasetXXX_Name`` folder.

    Returns:
        Human-readable problems, one per string.
    """
    folder = Path(folder)
    meta_path = folder / "dataset.json"
    if not meta_path.is_file():
        return [f"{meta_path}: missing"]
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as err:
        return [f"{meta_path}: unreadable ({err})"]
    problems = [f"dataset.json: no {key!r}" for key in ("channel_names", "labels", "numTraining", "file_ending")
                if key not in meta]
    ending = meta.get("file_ending", ".nii.gz")
    channel_keys = sorted(str(k) for k in meta.get("channel_names", {}))
    n_channels = len(channel_keys)
    if channel_keys != sorted(str(i) for i in range(n_channels)):
        problems.append(f"dataset.json: channel_names keys {channel_keys} are not 0..{n_channels - 1}")
    declared = _declared_labels(meta.get("labels", {}), problems) if "labels" in meta else None

    labelled = _check_split(folder, "Tr", ending, n_channels, declared, problems)
    if "numTraining" in meta and meta["numTraining"] != len(labelled):
        problems.append(f"dataset.json: numTraining is {meta['numTraining']} but labelsTr has {len(labelled)} cases")
    if (folder / "imagesTs").is_dir() or (folder / "labelsTs").is_dir():
        _check_split(folder, "Ts", ending, n_channels, declared, problems)
    return problems


def _declared_labels(labels: Mapping, problems: list[str]) -> set[int]:
    """The label values of ``dataset.json``'s ``labels`` (region lists flattened)."""
    found = set()
    for name, value in labels.items():
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, int) and not isinstance(v, bool):
                found.add(v)
            else:
                problems.append(f"dataset.json: label {name!r} has a non-integer value {v!r}")
    if labels.get("background") != 0:
        problems.append("dataset.json: labels has no 'background': 0")
    if found and found != set(range(max(found) + 1)):
        problems.append(f"dataset.json: label values {sorted(found)} are not consecutive from 0")
    return found


def _check_split(folder: Path, split: str, ending: str, n_channels: int, declared: set[int] | None,
                 problems: list[str]) -> set[str]:
    """Check ``images<split>``/``labels<split>``; return the case ids that have a label."""
    images_dir, labels_dir = folder / f"images{split}", folder / f"labels{split}"
    found: dict[str, list[int]] = defaultdict(list)
    if not images_dir.is_dir():
        problems.append(f"{images_dir.name}: missing")
    else:
        for name in sorted(os.listdir(images_dir)):
            match = re.fullmatch(r"(.+)_(\d{4})" + re.escape(ending), name)
            if match is None:
                problems.append(f"{images_dir.name}/{name}: not <case>_XXXX{ending}")
            else:
                found[match.group(1)].append(int(match.group(2)))
    labelled = set()
    if labels_dir.is_dir():
        for name in sorted(os.listdir(labels_dir)):
            if name.endswith(ending):
                labelled.add(name[: -len(ending)])
            else:
                problems.append(f"{labels_dir.name}/{name}: not <case>{ending}")
    elif split == "Tr":
        problems.append(f"{labels_dir.name}: missing")

    expected = list(range(n_channels))
    for case in sorted(set(found) | labelled):
        if re.search(r"\s", case):
            problems.append(f"case {case!r}: id contains whitespace")
        if case not in found:
            problems.append(f"{labels_dir.name}/{case}{ending}: no images in {images_dir.name}")
            continue
        if sorted(found[case]) != expected:
            have = ", ".join(f"_{i:04d}" for i in sorted(found[case]))
            problems.append(f"{images_dir.name}: case {case} has channels {have}; "
                            f"expected _0000.._{n_channels - 1:04d}")
        if case not in labelled:
            if labels_dir.is_dir():
                problems.append(f"{images_dir.name}: case {case} has no label in {labels_dir.name}")
            continue
        _check_case(images_dir, labels_dir, case, sorted(set(found[case])), ending, declared, problems)
    return labelled


def _check_case(images_dir: Path, labels_dir: Path, case: str, indices: list[int], ending: str,
                declared: set[int] | None, problems: list[str]) -> None:
    """Shape, affine and label values of one case (image headers only; label voxels read)."""
    label_path = labels_dir / f"{case}{ending}"
    try:
        label = nib.load(str(label_path))
        values = set(np.unique(np.asarray(label.dataobj)).tolist())
    except Exception as err:  # nibabel raises many types for truncated or foreign files
        problems.append(f"{labels_dir.name}/{label_path.name}: unreadable ({type(err).__name__})")
        return
    if declared is not None and not values <= declared:
        extra = sorted(values - declared)
        problems.append(f"{labels_dir.name}/{label_path.name}: values {extra} are not declared labels")
    for index in indices:
        path = images_dir / f"{case}_{index:04d}{ending}"
        try:
            image = nib.load(str(path))
        except Exception as err:
            problems.append(f"{images_dir.name}/{path.name}: unreadable ({type(err).__name__})")
            continue
        if image.shape != label.shape:
            problems.append(f"{images_dir.name}/{path.name}: shape {image.shape} differs from its label's "
                            f"{label.shape}")
        elif not np.allclose(image.affine, label.affine, atol=1e-4):
            problems.append(f"{images_dir.name}/{path.name}: affine differs from its label's")
