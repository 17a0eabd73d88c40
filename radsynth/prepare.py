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
from radsynth.data.duplicates import DEFAULT_THRESHOLD
from radsynth.io import write_nifti
from radsynth.preprocess import preprocess_subject
from radsynth.report.data import describe_subject, preprocess_record


def prepare_subject(source: SubjectSource, dataset: dict, options: dict, folder: str | os.PathLike) -> dict:
    """Check, describe and preprocess one subject into ``folder``.

    Args:
        source: the subject's files, as the dataset's adapter found them.
        dataset: the ``dataset`` config (kind, channels, classes, patterns, ...).
        options: keyword arguments of :func:`radsynth.preprocess.preprocess_subject`.
        folder: ``preprocessed/<subject>``; it receives ``<channel>.nii.gz`` per channel,
            ``label.nii.gz`` (unless the dataset has no labels) and ``mask.nii.gz``, all at
            once or not at all.

    Returns:
        The data-report row (:func:`radsynth.report.data.describe_subject`: grid, intensities,
        label counts, channels that are copies of each other) with what preprocessing did
        (:func:`radsynth.report.data.preprocess_record`: ``preprocessed_shape``,
        ``label_kept``), and ``warning``, everything that needs a look ("" for nothing).

    Raises:
        radsynth.io.InputError: a file that cannot be used, named with the reason.
    """
    remove_subject(folder)  # a subject that fails now must not keep an earlier run's files
    raw = load_subject(source, dataset)
    threshold = (dataset.get("duplicate_channels") or {}).get("threshold", DEFAULT_THRESHOLD)
    row = describe_subject(raw, source.name, threshold)
    subject = preprocess_subject(raw, **options)
    with subject_folder(folder) as tmp:
        for channel in dataset["channels"]:
            write_nifti(Path(tmp) / f"{channel}.nii.gz", subject.images[channel], subject.affine)
        if subject.label is not None:  # a dataset read without labels has none
            write_nifti(Path(tmp) / "label.nii.gz", subject.label, subject.affine)
        write_nifti(Path(tmp) / "mask.nii.gz", subject.mask, subject.affine)
    record = preprocess_record(raw.subject, subject)
    warnings = [w for w in (row.get("warning"), record.pop("warning")) if w]
    return {**row, **record, "warning": "; ".join(warnings)}
