"""The contract every dataset adapter follows, and the readers and checks they share.

An adapter is a module with two functions:

- ``discover(dataset) -> list[SubjectSource]``: list the subjects from the folder layout
  only (no image reads; small index files such as ``dataset.json`` are fine). It runs when
  Snakemake builds the DAG, so it must stay fast for thousands of subjects, and it must not
  fail because one subject is broken: that is found per subject by ``load``.
- ``load(source, dataset) -> RawSubject``: read one subject as SimpleITK images, raising
  :class:`radsynth.io.InputError` naming the file and the reason for anything it cannot use
  (unreadable or missing file, wrong dimensionality, ...).

``dataset`` is the validated ``dataset`` section of the config. :func:`check_subject` then
runs the checks common to every layout.

Adapters build their images with the helpers here: :func:`read_image` for medical image
files (NIfTI voxels through nibabel, see :func:`_read_nifti`), :func:`image_from_array` for
arrays, and :func:`label_image` for labels; pictures have theirs in
:mod:`radsynth.data.pictures`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk

from radsynth.io import InputError

LABEL, MASK = "label", "mask"


@dataclass(frozen=True)
class SubjectSource:
    """Where one subject's files are, as found by ``discover``.

    Args:
        subject: identifier used in result paths (letters, digits, ``.``, ``_``, ``-``).
        name: the subject's name in the user's dataset (folder, file stem or case id).
        files: every source file of the subject, for Snakemake to track as rule inputs.
    """

    subject: str
    name: str
    files: tuple[str, ...]
    group: str = ""

    @property
    def local_name(self) -> str:
        """The name inside its group folder: ``name`` without the ``<group>/`` prefix."""
        return self.name[len(self.group) + 1 :] if self.group else self.name


def group_folders(dataset: Mapping) -> list[tuple[str, Path]]:
    """The folders subjects are found in: ``[("", root)]``, or one per ``dataset.groups``.

    ``dataset.groups`` lists subfolders of the root (``[benign, malignant, normal]``, or
    ``[train, validation, test]``), or is ``true`` for every subfolder that is not hidden;
    each is laid out as a root of its kind. A subject found in group ``g`` is named
    ``g/<its name>`` (see :func:`grouped_name`), so its identifier stays unique across
    groups and patterns on names (prompt pathology, strata) see the folder.

    Args:
        dataset: the ``dataset`` config section (``root``; optional ``groups``).

    Raises:
        InputError: the root or a listed group folder is missing, or ``groups: true``
            finds no subfolder.
    """
    root = Path(dataset["root"])
    if not root.is_dir():
        raise InputError(root, "dataset folder not found")
    groups = dataset.get("groups") or False
    if groups is False:
        return [("", root)]
    if groups is True:
        with os.scandir(root) as entries:
            names = sorted(e.name for e in entries if not e.name.startswith(".") and e.is_dir())
        if not names:
            raise InputError(root, "dataset.groups is true but the root has no subfolders")
    else:
        names = [str(g) for g in groups]
        for name in names:
            if "/" in name or name in (".", "..") or not (root / name).is_dir():
                raise InputError(root / name, "group folder not found (dataset.groups names subfolders of root)")
    return [(name, root / name) for name in names]


def grouped_name(group: str, name: str) -> str:
    """A subject's dataset name: ``"<group>/<name>"`` inside a group, else ``name``."""
    return f"{group}/{name}" if group else name


@dataclass
class RawSubject:
    """One subject as read from its source files, before preprocessing.

    Args:
        subject: identifier used in result paths.
        images: channel name -> float32 scalar image; all channels on one grid.
        label: integer classes (after ``label_map``) on the same grid; None for a dataset
            read with ``labels: false`` (never an invented empty label).
        paths: role (a channel name, ``"label"`` or ``"mask"``) -> the file it came from,
            so errors found later still name the right file (the folder of the slices for
            subjects stacked from many files).
        mask: foreground given by the dataset, if any.
        oriented: True when the file carries a real patient orientation (NIfTI); False for
            formats without one (h5, PNG, TIF), which are never reoriented.
        info: adapter details (e.g. ``slices``, ``masks``: every mask file merged into the label).
        pictures: read from 2D pictures (PNG, TIF, ...), whose pixels have no real size:
            preprocessing fits them by letterboxing unless told otherwise.
    """

    subject: str
    images: dict[str, sitk.Image]
    label: sitk.Image | None
    paths: dict[str, str]
    mask: sitk.Image | None = None
    oriented: bool = True
    info: dict = field(default_factory=dict)
    pictures: bool = False


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_id(name: str) -> str:
    """``name`` with every run of other characters than letters, digits, ``.``, ``_`` and
    ``-`` replaced by ``_`` (``"benign (10)"`` -> ``"benign_10"``): result paths and nnU-Net
    case identifiers stay free of spaces and brackets."""
    cleaned = _UNSAFE.sub("_", name).strip("_.")
    if not cleaned:
        raise ValueError(f"subject name {name!r} has no usable characters")
    return cleaned


def unique_ids(names: Iterable[str], where: str) -> dict[str, str]:
    """Map :func:`safe_id` of each name to the name, sorted by identifier.

    Raises:
        InputError: two names give the same identifier (e.g. ``a b`` and ``a_b``).
    """
    found: dict[str, str] = {}
    for name in names:
        ident = safe_id(name)
        if ident in found and found[ident] != name:
            raise InputError(where, f"subjects {found[ident]!r} and {name!r} both map to {ident!r}")
        found[ident] = name
    return dict(sorted(found.items()))


def image_from_array(array: np.ndarray, spacing: Sequence[float] | None = None) -> sitk.Image:
    """A SimpleITK image from an array in index order (X, Y[, Z]), identity direction.

    Args:
        array: numpy array whose first axis is x (columns of a picture are x: pass ``a.T``).
        spacing: voxel size in mm per axis; 1 mm when None.
    """
    image = sitk.GetImageFromArray(np.ascontiguousarray(np.asarray(array).transpose()))
    if spacing is not None:
        spacing = [float(s) for s in spacing] + [1.0] * image.GetDimension()
        image.SetSpacing(spacing[: image.GetDimension()])
    return image


def array_of(image: sitk.Image) -> np.ndarray:
    """The voxels of ``image`` in index order (X, Y[, Z]), as nibabel returns them."""
    return sitk.GetArrayFromImage(image).transpose()


# The voxel types read_image returns.
_PIXEL_TYPES = {np.dtype(np.float32): sitk.sitkFloat32, np.dtype(np.float64): sitk.sitkFloat64}


def read_image(path: str, dtype: type = np.float32, dimensions: Sequence[int] = (3,)) -> sitk.Image:
    """Read a scalar medical image (NIfTI, NRRD, MHA, ...) with its geometry.

    NIfTI voxels are read with nibabel on the grid SimpleITK reads from the header (see
    :func:`_read_nifti`); other formats with SimpleITK alone.

    Args:
        path: the image file.
        dtype: voxel type of the result, ``np.float32`` or ``np.float64`` (for labels, so
            that non-integer values stay visible).
        dimensions: the accepted image dimensions, e.g. ``(3, 4)`` for a file that may hold
            one channel or several along a 4th axis.

    Raises:
        InputError: the file is missing, unreadable or truncated, not scalar, or of a
            dimension outside ``dimensions``.
    """
    dtype = np.dtype(dtype)
    if dtype not in _PIXEL_TYPES:
        raise ValueError(f"read_image reads float32 or float64 voxels, not {dtype}")
    if str(path).lower().endswith((".nii", ".nii.gz")):
        image = _read_nifti(path, dtype)
    else:
        image = _read_sitk(path, _PIXEL_TYPES[dtype])
    if image.GetDimension() not in dimensions:
        expected = " or ".join(f"{d}D" for d in dimensions)
        raise InputError(path, f"is a {image.GetDimension()}D image of size {image.GetSize()}; expected {expected}")
    return image


def _read_sitk(path: str, pixel_type: int) -> sitk.Image:
    """Read any format SimpleITK knows as a scalar image of ``pixel_type``."""
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as err:
        reason = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        raise InputError(path, f"unreadable or truncated image ({reason})") from err
    components = image.GetNumberOfComponentsPerPixel()
    if components != 1:
        raise InputError(path, f"has {components} components per voxel; expected a scalar image")
    try:
        return sitk.Cast(image, pixel_type)
    except RuntimeError as err:
        raise InputError(path, f"cannot convert voxels ({err})") from err


def _read_nifti(path: str, dtype: np.dtype) -> sitk.Image:
    """Voxels read by nibabel on the grid SimpleITK reads from the header.

    SimpleITK 2.5 (ITK 5.4) reads NIfTI voxels wrongly in two silent ways: NaN and Inf
    become 0 (ITK pull request 6683), and a truncated file is padded with zeros. nibabel
    keeps both visible; the geometry (qform/sform choice, RAS to LPS) stays ITK's.
    """
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()  # header only
        array = np.asarray(nib.load(str(path), mmap=False).dataobj, dtype=dtype)  # applies scl_slope/inter like ITK
    except Exception as err:  # SimpleITK and nibabel raise many types for broken files
        reason = (str(err).strip().splitlines() or [""])[-1]
        raise InputError(path, f"unreadable or truncated image ({type(err).__name__}: {reason})") from err
    if reader.GetNumberOfComponents() != 1:
        raise InputError(path, f"has {reader.GetNumberOfComponents()} components per voxel; expected a scalar image")
    size = reader.GetSize()
    # nibabel keeps trailing axes of length 1 that ITK drops; both index voxels as (x, y, z, ...).
    if [d for d in array.shape if d != 1] != [d for d in size if d != 1]:
        raise InputError(path, f"voxel array of shape {array.shape} does not match the header size {size}")
    image = sitk.GetImageFromArray(np.ascontiguousarray(array.reshape(size).transpose()), isVector=False)
    image.SetSpacing(reader.GetSpacing())
    image.SetOrigin(reader.GetOrigin())
    image.SetDirection(reader.GetDirection())
    return image


def apply_label_map(label: np.ndarray, label_map: Mapping[int | str, int] | None) -> np.ndarray:
    """Replace raw label values by classes (``{255: 1}`` for 0/255 masks); others kept.

    Returns int32, so a value outside the declared classes survives for :func:`check_subject`.
    """
    label = np.asarray(label).astype(np.int32)
    if not label_map:
        return label
    out = label.copy()
    for raw, mapped in label_map.items():
        out[label == int(raw)] = int(mapped)
    return out


def label_image(
    values: sitk.Image | np.ndarray,
    path: str,
    label_map: Mapping[int | str, int] | None,
    spacing: Sequence[float] | None = None,
) -> sitk.Image:
    """A label as sitkInt32 classes after ``label_map``.

    Int32 keeps values outside the classes (e.g. 255) for :func:`check_subject` to report.
    Float labels must hold whole numbers: casting 0.9999 would silently give 0.

    Args:
        values: the raw label, as an image (its geometry is kept) or as an array in index
            order (X, Y[, Z]) as for :func:`image_from_array`.
        path: the file the label came from, named in errors.
        label_map: raw value -> class (see :func:`apply_label_map`); None keeps the values.
        spacing: voxel size in mm of an array label (1 mm when None); not for an image.

    Raises:
        InputError: the label holds non-integer values (NaN included).
    """
    if isinstance(values, sitk.Image):
        if spacing is not None:
            raise ValueError("label_image: spacing is for arrays; an image keeps its own geometry")
        image = values
    else:
        image = image_from_array(values, spacing)
    array = sitk.GetArrayViewFromImage(image)
    if array.dtype.kind == "f":
        whole = np.rint(array)
        if not np.array_equal(whole, array):
            bad = array[whole != array].flat[0]
            raise InputError(path, f"label has non-integer values (e.g. {bad:g}); expected integer classes")
        array = whole
    label = sitk.GetImageFromArray(apply_label_map(array.astype(np.int32), label_map))
    label.CopyInformation(image)
    return label


def _same_grid(a: sitk.Image, b: sitk.Image) -> str | None:
    """Why ``b`` is not on ``a``'s grid, or None when it is."""
    if a.GetSize() != b.GetSize():
        return f"shape {b.GetSize()} differs from {a.GetSize()}"
    if not np.allclose(a.GetSpacing(), b.GetSpacing(), rtol=1e-4, atol=1e-4):
        return f"spacing {b.GetSpacing()} differs from {a.GetSpacing()}"
    if not np.allclose(a.GetOrigin(), b.GetOrigin(), atol=1e-3):
        return f"origin {b.GetOrigin()} differs from {a.GetOrigin()}"
    if not np.allclose(a.GetDirection(), b.GetDirection(), atol=1e-4):
        return f"direction {b.GetDirection()} differs from {a.GetDirection()}"
    return None


def check_subject(raw: RawSubject, classes: Sequence[int]) -> None:
    """The checks common to every layout; raise on the first problem found.

    Channels and label share one grid (shape, spacing, origin, direction); intensities are
    finite and not constant; label values are 0 or a declared class. An empty label (all
    background) is valid: a subject without lesion is data too. A subject without label
    (``raw.label`` None, ``labels: false``) gets the checks of its channels and mask.

    Raises:
        InputError: naming the offending file and the reason.
    """
    channels = list(raw.images)
    reference = raw.images[channels[0]]
    labelled = [LABEL] if raw.label is not None else []
    for role in channels[1:] + labelled + ([MASK] if raw.mask is not None else []):
        image = raw.label if role == LABEL else raw.mask if role == MASK else raw.images[role]
        problem = _same_grid(reference, image)
        if problem:
            raise InputError(raw.paths[role], f"{role}: {problem} of channel {channels[0]} ({raw.paths[channels[0]]})")
    for name in channels:
        values = sitk.GetArrayViewFromImage(raw.images[name])
        if values.size == 0:
            raise InputError(raw.paths[name], f"channel {name} is empty (no voxels)")
        if not np.isfinite(values).all():
            bad = int((~np.isfinite(values)).sum())
            raise InputError(raw.paths[name], f"channel {name} has {bad} NaN/Inf voxels")
        if values.min() == values.max():
            raise InputError(raw.paths[name], f"channel {name} is empty (every voxel is {values.min():g})")
    if raw.label is not None:
        check_label_values(sitk.GetArrayViewFromImage(raw.label), raw.paths[LABEL], classes)


def check_label_values(label: np.ndarray, path: str, classes: Sequence[int]) -> None:
    """Raise unless every value of ``label`` is 0 or one of ``classes``.

    Raises:
        InputError: naming ``path`` and the values outside the classes.
    """
    allowed = {0, *map(int, classes)}
    found = set(np.unique(label).tolist())
    if not found <= allowed:
        raise InputError(
            path,
            f"label values {sorted(found - allowed)} are outside the declared classes "
            f"{sorted(allowed)} (set dataset.classes or dataset.label_map)",
        )


def wants_labels(dataset: Mapping) -> bool:
    """Whether the dataset has labels to read (``dataset.labels``, default true)."""
    return dataset.get("labels", True) is not False
