"""A trained segmenter scored on the test subjects' preprocessed volumes, in the job that
trained it (rules train_segmentation and train_augmented): a job of its own per model cost
more in start-up (~4 s of imports on 2 cores) than the scoring."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from radsynth.io import read_nifti, spacing_of, write_nifti
from radsynth.segmentation.evaluate import evaluate_segmentation
from radsynth.segmentation.trainer import load_segmenter


def read_test_subjects(
    subject_dirs: Sequence[str | os.PathLike], channels: Sequence[str], official: bool = False
) -> tuple[list[dict], dict[str, np.ndarray]]:
    """The preprocessed volumes of the test subjects, as :func:`evaluate_segmentation` reads them.

    Args:
        subject_dirs: one preprocessed folder per subject (``<channel>.nii.gz``, ``label.nii.gz``,
            and ``mask.nii.gz`` for the official evaluation).
        channels: the channel files to stack, in order.
        official: also read the mask of the volume before preprocessing padded it.

    Returns:
        The subject dicts and subject name -> affine (to write predictions on the same grid).
    """
    subjects, affines = [], {}
    for folder in map(Path, subject_dirs):
        images = [read_nifti(folder / f"{name}.nii.gz")[0] for name in channels]
        label, affine = read_nifti(folder / "label.nii.gz", np.uint8)
        affines[folder.name] = affine
        subject = {"name": folder.name, "image": np.stack(images), "label": label, "spacing": spacing_of(affine)}
        if official:
            subject["mask"] = read_nifti(folder / "mask.nii.gz", np.uint8)[0]
        subjects.append(subject)
    return subjects, affines


def score_segmenter(
    model_path: str | os.PathLike,
    predictions: str | os.PathLike,
    subject_dirs: Sequence[str | os.PathLike],
    method: str,
    setting: str,
    channels: Sequence[str],
    classes: Sequence[int] = (1,),
    spatial_dims: int = 2,
    patch_size: Sequence[int] | None = None,
    stride: Sequence[int] | None = None,
    lcc: bool = False,
    evaluation: str = "radsynth",
    device: str | torch.device = "cpu",
) -> pd.DataFrame:
    """Score a saved segmenter on the test subjects and write its predicted label volumes.

    Args:
        model_path: the checkpoint, rebuilt as any reader would (:func:`load_segmenter`).
        predictions: the folder for ``<subject>.nii.gz`` predictions (created).
        subject_dirs, channels: see :func:`read_test_subjects`.
        method, setting, classes, spatial_dims, patch_size, stride, lcc, evaluation, device:
            see :func:`radsynth.segmentation.evaluate.evaluate_segmentation`.

    Returns:
        The per-case metrics in long form.
    """
    subjects, affines = read_test_subjects(subject_dirs, channels, official=evaluation == "official")
    metrics, labels = evaluate_segmentation(
        load_segmenter(model_path, device=device),
        subjects,
        method,
        setting,
        classes=classes,
        spatial_dims=spatial_dims,
        device=device,
        patch_size=patch_size,
        stride=stride,
        lcc=lcc,
        evaluation=evaluation,
    )
    for name, label in labels.items():
        write_nifti(Path(predictions) / f"{name}.nii.gz", label, affines[name])
    return metrics
