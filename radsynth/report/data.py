"""The data report of a dataset: what was read (a readable dataset fingerprint) and a look
at every prepared subject.

:func:`describe_subject` summarises one raw subject (grid, orientation, intensity range,
label counts), :func:`data_table` gathers the rows, :func:`data_figure` draws one panel per
preprocessed subject.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import SimpleITK as sitk

from radsynth.data.base import RawSubject
from radsynth.io import read_nifti, spacing_of
from radsynth.report.figures import LABEL_COLOURS, canvas, display_plane, most_labelled_slice, save_figure

_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


def describe_subject(raw: RawSubject, source_name: str) -> dict:
    """One row of the data table: grid, orientation, intensities and label counts.

    Args:
        raw: the subject as read by its adapter, before preprocessing.
        source_name: the subject's name in the user's dataset.

    Returns:
        Plain Python values: ``subject``, ``name``, ``shape`` ("240x240x155"), ``spacing``
        ("1.00x1.00x1.00", mm), ``orientation`` (axis codes such as "RAS", "none" when the
        format has no orientation), ``<channel>_min``/``_p01``/``_p99``/``_max`` per channel,
        ``label_<v>`` voxel counts per value present, and ``files`` (``;``-joined).
    """
    reference = next(iter(raw.images.values()))
    row = {
        "subject": raw.subject,
        "name": source_name,
        "shape": "x".join(str(n) for n in reference.GetSize()),
        "spacing": "x".join(f"{s:.4g}" for s in reference.GetSpacing()),
        "orientation": _orientation(reference) if raw.oriented else "none",
    }
    for channel, image in raw.images.items():
        values = sitk.GetArrayViewFromImage(image)
        p01, p99 = np.percentile(values, [1, 99])
        row.update({f"{channel}_min": float(values.min()), f"{channel}_p01": float(p01),
                    f"{channel}_p99": float(p99), f"{channel}_max": float(values.max())})
    found, counts = np.unique(sitk.GetArrayViewFromImage(raw.label), return_counts=True)
    row.update({f"label_{int(v)}": int(n) for v, n in zip(found, counts)})
    row["files"] = ";".join(str(p) for p in raw.paths.values())
    return row


def _orientation(image: sitk.Image) -> str:
    """Axis codes (nibabel's, e.g. "RAS") of an image's voxel axes."""
    dim = image.GetDimension()
    # 2D images sit in the z = 0 plane of a 3D grid, so every image gets a 3-letter code.
    matrix, origin = np.eye(3), np.zeros(3)
    matrix[:dim, :dim] = np.reshape(image.GetDirection(), (dim, dim)) * np.asarray(image.GetSpacing())
    origin[:dim] = image.GetOrigin()
    affine = np.eye(4)
    affine[:3, :3], affine[:3, 3] = _LPS_TO_RAS @ matrix, _LPS_TO_RAS @ origin
    return "".join(nib.aff2axcodes(affine))


def data_table(rows: Sequence[dict]) -> pd.DataFrame:
    """The rows of :func:`describe_subject` as one table sorted by subject.

    Args:
        rows: one dict per subject.

    Returns:
        One row per subject; ``label_<v>`` columns (sorted by value, after the others) are 0
        for subjects without that value. Batch records (:mod:`radsynth.batch`) add ``status``
        and, for a subject that failed, ``file`` and ``reason`` (its other columns are empty).
    """
    table = pd.DataFrame(list(rows))
    if table.empty:
        return table
    labels = sorted((c for c in table.columns if c.startswith("label_") and c[6:].isdigit()), key=lambda c: int(c[6:]))
    table[labels] = table[labels].fillna(0).astype(np.int64)
    # Rows may come back from JSON with sorted keys: put the identifying columns first again.
    first = [c for c in ("subject", "status", "name", "shape", "spacing", "orientation", "file", "reason")
             if c in table.columns]
    others = first + [c for c in table.columns if c not in labels and c not in first and c != "files"]
    ordered = others + labels + (["files"] if "files" in table.columns else [])
    return table[ordered].sort_values("subject", kind="stable").reset_index(drop=True)


def data_figure(subject_dirs: Sequence[str | os.PathLike], channel: str, path: str | os.PathLike,
                max_subjects: int = 48) -> None:
    """One panel per preprocessed subject: the slice with the most label, label outlined.

    Each panel shows, along the last array axis, the slice with the most labelled voxels
    (the middle one when the label is empty), in radiological orientation, with one
    coloured contour per class.

    Args:
        subject_dirs: ``preprocessed/<subject>`` folders (``<channel>.nii.gz``, ``label.nii.gz``);
            the folder name titles the panel.
        channel: the channel to show.
        path: PNG to write.
        max_subjects: panels at most; the first ones are shown and the title says so.
    """
    shown = list(subject_dirs)[:max_subjects]
    ncols = min(8, max(1, len(shown)))
    nrows = max(1, -(-len(shown) // ncols))
    fig, axes = canvas(nrows, ncols, 1.7, 1.8)
    for ax, folder in zip(axes.flat, shown):
        folder = Path(folder)
        image, affine = read_nifti(folder / f"{channel}.nii.gz")
        label, _ = read_nifti(folder / "label.nii.gz", np.uint8)
        image, label = image.reshape(image.shape[:2] + (-1,)), label.reshape(label.shape[:2] + (-1,))
        z = most_labelled_slice(label, image.shape[2])
        # Window from the whole volume, so a dim slice still looks dim.
        lo, hi = np.percentile(image, [0.5, 99.5])
        dx, dy = spacing_of(affine)[:2]
        ax.imshow(display_plane(image[:, :, z], affine), cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1,
                  interpolation="nearest", aspect=dy / dx)
        plane = display_plane(label[:, :, z], affine)
        for value in np.unique(plane[plane > 0]):
            region = plane == value
            if region.all():
                continue  # a class filling the slice has no outline
            # Colour by class value, so one class has one colour in every panel.
            ax.contour(region.astype(float), levels=[0.5], linewidths=0.8,
                       colors=LABEL_COLOURS[(int(value) - 1) % len(LABEL_COLOURS)])
        ax.set_title(f"{folder.name} z={z}", fontsize=6)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes.flat)[len(shown):]:
        ax.set_visible(False)
    total = len(subject_dirs)
    left_out = f"first {len(shown)} of " if len(shown) < total else ""
    fig.suptitle(f"{channel}: {left_out}{total} subjects", fontsize=9)
    save_figure(fig, path)
