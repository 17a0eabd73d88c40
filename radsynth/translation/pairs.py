"""The stored misaligned pairs: one subject's source/target pair moved at one level and written
as NIfTI with its ground-truth displacement field (``misaligned/<subject>/level<L>/``)."""

from __future__ import annotations

import os
import zlib
from collections.abc import Sequence

import numpy as np

from radsynth.batch import subject_folder
from radsynth.io import read_nifti, write_nifti
from radsynth.translation.misalign import misalign_volume


def write_misaligned_subject(
    subject_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    channels: Sequence[str],
    level: int,
    seed: int,
    options: dict,
) -> dict:
    """Misalign one preprocessed subject's pair and write it, all files at once.

    The draw depends on (seed, level, subject name) only, never on job or batch order.

    Args:
        subject_dir: ``preprocessed/<subject>`` (channels and ``mask.nii.gz``).
        out_dir: ``misaligned/<subject>/level<L>``; receives ``source``, ``target``,
            ``mask`` (the moved target's) and ``field`` (X, Y, Z, C) NIfTI files.
        channels: (source, target) channel names.
        level: the RegGAN misalignment level.
        seed: the workflow seed.
        options: ``spatial_dims`` and ``elastic`` of :func:`misalign_volume`.

    Returns:
        ``mean_field``, the mean displacement length in pixels, for the job's record.
    """
    subject_dir = os.fspath(subject_dir)
    source, affine = read_nifti(f"{subject_dir}/{channels[0]}.nii.gz")
    target, _ = read_nifti(f"{subject_dir}/{channels[1]}.nii.gz")
    mask, _ = read_nifti(f"{subject_dir}/mask.nii.gz", np.uint8)
    name = os.path.basename(subject_dir.rstrip("/"))
    rng = np.random.default_rng([seed, level, zlib.crc32(name.encode())])
    moved = misalign_volume(source, target, level, rng, axis=-1, mask=mask, **options)
    with subject_folder(out_dir) as folder:
        write_nifti(folder / "source.nii.gz", moved.source.astype(np.float32), affine)
        write_nifti(folder / "target.nii.gz", moved.target.astype(np.float32), affine)
        write_nifti(folder / "mask.nii.gz", moved.mask.astype(np.uint8), affine)
        write_nifti(folder / "field.nii.gz", moved.field.astype(np.float32), affine)
    return {"mean_field": float(np.linalg.norm(moved.field, axis=-1).mean())}
