"""The data report of a dataset: what was read (a readable dataset fingerprint) and a look
at every prepared subject.

:func:`describe_subject` summarises one raw subject (grid, orientation, intensity range,
label counts, channels that are copies of one another), :func:`preprocess_record` what
preprocessing did to it (shape, share of label voxels kept), :func:`data_table` gathers both
(with a ``warning`` column), :func:`data_figure` draws one panel per preprocessed subject.
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
from radsynth.data.duplicates import DEFAULT_THRESHOLD, duplicate_channels, format_pairs
from radsynth.io import read_nifti, spacing_of
from radsynth.report.figures import LABEL_COLOURS, canvas, display_plane, most_labelled_slice, save_figure

_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


def describe_subject(raw: RawSubject, source_name: str, duplicate_threshold: float = DEFAULT_THRESHOLD) -> dict:
    """One row of the data table: grid, orientation, intensities, label counts, duplicates.

    Args:
        raw: the subject as read by its adapter, before preprocessing.
        source_name: the subject's name in the user's dataset.
        duplicate_threshold: correlation inside the foreground above which two channels
            count as one picture (:func:`radsynth.data.duplicates.duplicate_channels`).

    Returns:
        Plain Python values: ``subject``, ``name``, ``shape`` ("240x240x155"), ``spacing``
        ("1.00x1.00x1.00", mm), ``orientation`` (axis codes such as "RAS", "none" when the
        format has no orientation), ``<channel>_min``/``_p01``/``_p99``/``_max`` per channel,
        ``labelled`` (False for a subject read without label), ``label_<v>`` voxel counts
        per value present (none without label), ``duplicate_channels`` (flagged pairs,
        ``"t1=flair;t1c=flair"``, "" for none), ``warning`` (what needs a look, "" for
        nothing) and ``files`` (``;``-joined).
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
    row["labelled"] = raw.label is not None
    if raw.label is not None:
        found, counts = np.unique(sitk.GetArrayViewFromImage(raw.label), return_counts=True)
        row.update({f"label_{int(v)}": int(n) for v, n in zip(found, counts)})
    pairs = duplicate_channels(raw, duplicate_threshold)
    row["duplicate_channels"] = format_pairs(pairs)
    row["warning"] = "; ".join(
        f"channels {a} and {b} are the same picture (r = {r:.4f}; a missing sequence replaced by another?)"
        for a, b, r in pairs
    )
    files = [*raw.paths.values(), *raw.info.get("masks", [])]
    row["files"] = ";".join(str(p) for p in dict.fromkeys(files))
    return row


def preprocess_record(subject: str, preprocessed) -> dict:
    """What preprocessing did to one subject, for the data table (written beside its files).

    Args:
        subject: the subject identifier.
        preprocessed: the :class:`radsynth.preprocess.Subject` it became.

    Returns:
        ``subject``, ``preprocessed_shape`` ("112x80x44"), ``label_kept`` (share of the
        label voxels inside the output; 1.0 when nothing was cut, None without label) and
        ``warning`` ("" when all is well).
    """
    return {
        "subject": subject,
        "preprocessed_shape": "x".join(str(n) for n in preprocessed.mask.shape),
        "label_kept": preprocessed.label_kept,
        "warning": preprocessed.warning,
    }


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


def data_table(rows: Sequence[dict], records: Sequence[dict] = ()) -> pd.DataFrame:
    """The rows of :func:`describe_subject` as one table sorted by subject.

    Args:
        rows: one dict per subject.
        records: :func:`preprocess_record` of the subjects, if preprocessed: their shape and
            ``label_kept`` join the table and their warnings join the row's ``warning``.

    Returns:
        One row per subject; ``label_<v>`` columns (sorted by value, after the others) are 0
        for subjects without that value (empty for subjects without label); ``warning``
        says everything that needs a look ("" for nothing). Batch records (:mod:`radsynth.batch`)
        add ``status`` and, for a subject that failed, ``file`` and ``reason`` (its other
        columns are empty).
    """
    table = pd.DataFrame(list(rows))
    if table.empty:
        return table
    if "warning" in table or records:
        table["warning"] = table["warning"].fillna("") if "warning" in table else ""
    if records:
        done = pd.DataFrame(list(records)).rename(columns={"warning": "preprocess_warning"})
        table = table.merge(done, on="subject", how="left")
        table["warning"] = [
            "; ".join(w for w in (first, second) if isinstance(w, str) and w)
            for first, second in zip(table["warning"], table.pop("preprocess_warning"))
        ]
    labels = sorted((c for c in table.columns if c.startswith("label_") and c[6:].isdigit()), key=lambda c: int(c[6:]))
    labelled = table["labelled"].astype(bool) if "labelled" in table else pd.Series(True, index=table.index)
    if labelled.all():
        table[labels] = table[labels].fillna(0).astype(np.int64)
    else:  # no label is no count: left empty rather than 0
        table.loc[labelled, labels] = table.loc[labelled, labels].fillna(0)
        table[labels] = table[labels].astype("Int64")
    # Rows may come back from JSON with sorted keys: put the identifying columns first again.
    first = [c for c in ("subject", "status", "name", "shape", "spacing", "orientation", "file", "reason")
             if c in table.columns]
    others = first + [c for c in table.columns if c not in labels and c not in first and c != "files"]
    last = [c for c in ("warning", "files") if c in table.columns]
    ordered = [c for c in others if c not in last] + labels + last
    return table[ordered].sort_values("subject", kind="stable").reset_index(drop=True)


def data_figure(subject_dirs: Sequence[str | os.PathLike], channel: str, path: str | os.PathLike,
                max_subjects: int = 48) -> None:
    """One panel per preprocessed subject: the slice with the most label, label outlined.

    Each panel shows, along the last array axis, the slice with the most labelled voxels
    (the middle one when the label is empty or, for a subject without label, absent), in
    radiological orientation, with one coloured contour per class.

    Args:
        subject_dirs: ``preprocessed/<subject>`` folders (``<channel>.nii.gz``, and
            ``label.nii.gz`` unless the subject has no label); the folder name titles the panel.
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
        has_label = (folder / "label.nii.gz").exists()
        label = read_nifti(folder / "label.nii.gz", np.uint8)[0] if has_label else np.zeros(image.shape, np.uint8)
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
        ax.set_title(f"{folder.name} z={z}" + ("" if has_label else " (no label)"), fontsize=6)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes.flat)[len(shown):]:
        ax.set_visible(False)
    total = len(subject_dirs)
    left_out = f"first {len(shown)} of " if len(shown) < total else ""
    fig.suptitle(f"{channel}: {left_out}{total} subjects", fontsize=9)
    save_figure(fig, path)
