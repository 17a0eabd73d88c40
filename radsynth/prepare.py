"""Preparing one subject: read it, run the integrity checks, describe it for the data report,
preprocess it and write its NIfTI files, all from one read of the source files.

:func:`prepare_subject` is the work of the ``prepare`` batch job (:mod:`radsynth.batch`): it
returns the subject's data-report row, or raises :class:`~radsynth.io.InputError` naming the
file and the reason, having left no file behind.
"""

from __future__ import annotations

import os
from pathlib import Path

from radsynth.batch import remove_subject, subject_folder
from radsynth.data import load_subject
from radsynth.data.base import SubjectSource
from radsynth.io import write_nifti
from radsynth.preprocess import preprocess_subject
from radsynth.report.data import describe_subject


def prepare_subject(source: SubjectSource, dataset: dict, options: dict, folder: str | os.PathLike) -> dict:
    """Check, describe and preprocess one subject into ``folder``.

    Args:
        source: the subject's files, as the dataset's adapter found them.
        dataset: the ``dataset`` config (kind, channels, classes, patterns, ...).
        options: keyword arguments of :func:`radsynth.preprocess.preprocess_subject`.
        folder: ``preprocessed/<subject>``; it receives ``<channel>.nii.gz`` per channel,
            ``label.nii.gz`` and ``mask.nii.gz``, all at once or not at all.

    Returns:
        The data-report row (:func:`radsynth.report.data.describe_subject`) plus
        ``prepared_shape``, the grid after preprocessing.

    Raises:
        radsynth.io.InputError: a file that cannot be used, named with the reason.
    """
    remove_subject(folder)  # a subject that fails now must not keep an earlier run's files
    raw = load_subject(source, dataset)
    row = describe_subject(raw, source.name)
    subject = preprocess_subject(raw, **options)
    with subject_folder(folder) as tmp:
        for channel in dataset["channels"]:
            write_nifti(Path(tmp) / f"{channel}.nii.gz", subject.images[channel], subject.affine)
        write_nifti(Path(tmp) / "label.nii.gz", subject.label, subject.affine)
        write_nifti(Path(tmp) / "mask.nii.gz", subject.mask, subject.affine)
    row["prepared_shape"] = "x".join(str(n) for n in subject.mask.shape)
    return row
