"""Packing: one array file per split, so training feeds a GPU from memory.

2D mode takes slices along the last array axis (axial for RAS volumes) and keeps those whose
foreground covers at least ``min_foreground`` of the slice; 3D mode keeps whole volumes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from radsynth.io import read_nifti, spacing_of
from radsynth.preprocess import foreground_slices


def _slices(volume: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """(X, Y, Z, ...) -> (N, ..., X, Y) for the kept Z indices."""
    moved = np.moveaxis(volume[:, :, keep], 2, 0)  # (N, X, Y, ...)
    return np.moveaxis(moved, tuple(range(3, moved.ndim)), tuple(range(1, moved.ndim - 2)))


def _stack(parts: list[dict], empty: dict) -> dict[str, np.ndarray]:
    if not parts:
        return empty
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def _subjects_packed(parts: list[dict], channels: Sequence[str], spacing) -> dict[str, np.ndarray]:
    """Per-subject parts stacked, with the channel names and the spacing."""
    arrays = _stack(parts, empty={})
    if not arrays:
        raise ValueError("no subjects to pack")
    arrays["channels"] = np.array(list(channels))
    arrays["spacing"] = np.asarray(spacing, dtype=np.float64)
    return arrays


def pack_slices(
    subject_dirs: Sequence[str | os.PathLike],
    sdf_paths: Sequence[str | os.PathLike] | None,
    channels: Sequence[str],
    min_foreground: float,
) -> dict[str, np.ndarray]:
    """Slices of preprocessed subjects with their labels, SDFs and foreground masks.

    Args:
        subject_dirs: ``preprocessed/<subject>`` folders (the folder name is the subject).
        sdf_paths: ``sdf/<subject>.nii.gz`` in the same order; None for a dataset without
            labels (``dataset.labels: false``), whose slices are packed without ``label``
            and ``sdf`` (translation needs neither).
        channels: channel names, in the order of the packed ``image`` axis.
        min_foreground: minimum foreground fraction of a kept slice.

    Returns:
        Arrays as described in CONTRIBUTING.md (``image``, ``channels``, ``label``, ``sdf``,
        ``mask``, ``subject``, ``slice``, ``spacing``).
    """
    parts, spacing = [], np.ones(3)
    for index, folder in enumerate(map(Path, subject_dirs)):
        mask, affine = read_nifti(folder / "mask.nii.gz", np.uint8)
        spacing = spacing_of(affine)
        keep = foreground_slices(mask, min_foreground)
        image = np.stack([read_nifti(folder / f"{name}.nii.gz")[0] for name in channels], axis=-1)
        part = {"image": _slices(image, keep).astype(np.float32)}
        if sdf_paths is not None:
            sdf, _ = read_nifti(sdf_paths[index])
            part["label"] = _slices(read_nifti(folder / "label.nii.gz", np.uint8)[0], keep)
            part["sdf"] = _slices(sdf.reshape(*sdf.shape[:3], -1), keep).astype(np.float32)
        part.update(mask=_slices(mask, keep), subject=np.array([folder.name] * len(keep)), slice=keep.astype(np.int64))
        parts.append(part)
    return _subjects_packed(parts, channels, spacing)


def pack_volumes(
    subject_dirs: Sequence[str | os.PathLike],
    sdf_paths: Sequence[str | os.PathLike],
    channels: Sequence[str],
) -> dict[str, np.ndarray]:
    """Whole preprocessed volumes of a split, for volumetric (3D) networks.

    Patches are drawn from these at training time; the volumes must share one shape, which
    ``preprocess.size`` with three values gives.

    Args:
        subject_dirs: ``preprocessed/<subject>`` folders.
        sdf_paths: 3D signed distance maps (``sdf3d/<subject>.nii.gz``) in the same order.
        channels: channel names, in the order of the packed ``image`` axis.

    Returns:
        ``image`` float32 (N, C, X, Y, Z), ``label`` uint8 (N, X, Y, Z), ``sdf`` float32
        (N, K, X, Y, Z), ``mask`` uint8 (N, X, Y, Z), ``subject`` (N,), ``channels`` (C,),
        ``spacing`` (3,).

    Raises:
        ValueError: the volumes differ in shape.
    """
    parts, spacing, shape = [], np.ones(3), None
    for folder, sdf_path in zip(subject_dirs, sdf_paths):
        folder = Path(folder)
        label, affine = read_nifti(folder / "label.nii.gz", np.uint8)
        if shape is not None and label.shape != shape:
            raise ValueError(
                f"{folder}: volume shape {label.shape} differs from {shape}; 3D packing needs "
                "one shape (set preprocess.size to three values)"
            )
        shape, spacing = label.shape, spacing_of(affine)
        sdf, _ = read_nifti(sdf_path)
        parts.append(
            {
                "image": np.stack([read_nifti(folder / f"{name}.nii.gz")[0] for name in channels])[None],
                "label": label[None],
                "sdf": np.moveaxis(sdf.reshape(*shape, -1), -1, 0)[None].astype(np.float32),
                "mask": read_nifti(folder / "mask.nii.gz", np.uint8)[0][None],
                "subject": np.array([folder.name]),
            }
        )
    return _subjects_packed(parts, channels, spacing)


def pack_pairs(
    pair_dirs: Sequence[str | os.PathLike], min_foreground: float, spatial_dims: int = 2
) -> dict[str, np.ndarray]:
    """Misaligned translation pairs of ``misaligned/<subject>/level<L>`` folders.

    Args:
        pair_dirs: the pair folders of one split and level.
        min_foreground: 2D: keep slices whose mask covers at least this share.
        spatial_dims: 2 packs slices along the last axis; 3 packs whole volumes (which must
            share one shape).

    Returns:
        2D: ``source``, ``target`` (N, 1, H, W), ``field`` (N, 2, H, W), ``mask`` (N, H, W),
        ``subject``, ``slice``. 3D: ``source``, ``target`` (N, 1, X, Y, Z), ``field``
        (N, 3, X, Y, Z), ``mask`` (N, X, Y, Z), ``subject``.
    """
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
    parts, shape = [], None
    for folder in pair_dirs:
        folder = Path(folder)
        mask, _ = read_nifti(folder / "mask.nii.gz", np.uint8)
        field, _ = read_nifti(folder / "field.nii.gz")
        source, target = read_nifti(folder / "source.nii.gz")[0], read_nifti(folder / "target.nii.gz")[0]
        if spatial_dims == 3:
            if shape is not None and mask.shape != shape:
                raise ValueError(
                    f"{folder}: volume shape {mask.shape} differs from {shape}; 3D packing needs "
                    "one shape (set preprocess.size to three values)"
                )
            shape = mask.shape
            part = {
                "source": source[None, None],
                "target": target[None, None],
                "field": np.moveaxis(field, -1, 0)[None].astype(np.float32),
                "mask": mask[None],
                "subject": np.array([folder.parent.name]),
            }
        else:
            keep = foreground_slices(mask, min_foreground)
            part = {
                "source": _slices(source, keep)[:, None],
                "target": _slices(target, keep)[:, None],
                "field": _slices(field.reshape(*field.shape[:3], -1), keep).astype(np.float32),
                "mask": _slices(mask, keep),
                "subject": np.array([folder.parent.name] * len(keep)),
                "slice": keep.astype(np.int64),
            }
        parts.append(part)
    arrays = _stack(parts, empty={})
    if not arrays:
        raise ValueError("no pairs to pack")
    return arrays


def select_channels(packed: dict[str, np.ndarray], names: Sequence[str]) -> np.ndarray:
    """The packed ``image`` restricted to the named channels, in that order.

    Raises:
        ValueError: a named channel was not packed.
    """
    packed_names = [str(name) for name in packed["channels"]]
    missing = [name for name in names if name not in packed_names]
    if missing:
        raise ValueError(f"channels {missing} are not among the packed channels {packed_names}")
    return packed["image"][:, [packed_names.index(name) for name in names]]


def without_subjects(packed: dict[str, np.ndarray], subjects: Sequence[str]) -> dict[str, np.ndarray]:
    """The packed rows of every subject but ``subjects`` (per-row arrays only; ``channels``
    and ``spacing`` are kept as they are)."""
    keep = ~np.isin(packed["subject"], list(subjects))
    rows = len(packed["subject"])
    return {k: v[keep] if k not in ("channels", "spacing") and len(v) == rows else v for k, v in packed.items()}
