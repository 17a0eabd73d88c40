"""Procedural multi-contrast head phantom: the embedded dataset, made from a seed, no files.

A head is described in a template space (mm, RAS, origin at the brain centre) by approximate
signed distances (negative inside) of nested structures (:mod:`radsynth.data.phantom_anatomy`):
skin, scalp fat, galea, skull with fatty diploe, CSF, a cortex folded by sulci, white matter,
deep grey nuclei, the ventricles and, in most subjects, a lesion with surrounding edema. Each subject maps its voxel centres
into that space through its own random per-axis scale and smooth displacement, then renders
spin-echo / inversion-recovery signals from per-tissue 1.5 T relaxation times, with texture,
a multiplicative bias field and Rician noise.

Partial volume comes from the signed distances instead of supersampling: under a Gaussian
point-spread function of width sigma a locally planar boundary at distance d fills a voxel to
``0.5 * erfc(d / (sigma * sqrt(2)))``; one pass keeps thin sulci continuous at 3.5 mm voxels.

Randomness: each component (anatomy, lesion, texture, and bias and noise per contrast) draws
from its own stream ``default_rng([seed, index, component])``, and every smooth field lives on
a control grid fixed in millimetres. A subject therefore depends only on (seed, index,
parameters), and the same (seed, index) gives the same anatomy at any ``shape``.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import erfc

from radsynth.batch import subject_folder
from radsynth.io import write_nifti
from radsynth.data.phantom_anatomy import (
    EXTENT,
    LESION,
    TISSUE_NAMES,  # noqa: F401 (the classes of PhantomSubject.tissue)
    draw_anatomy,
    draw_lesion,
    head_layers,
    smooth_fields,
)

# (T1 ms, T2 ms, PD) at 1.5 T: typical literature values, rounded. White and grey matter T1
# sit at the short end of the reported ranges so that a TR 500 spin echo shows the usual
# WM > GM contrast; cortical bone has a nominal PD and an ultrashort T2, so it is dark at any
# clinical echo time, and the diploe is fatty marrow.
RELAXATION = {
    "csf": (4000.0, 2000.0, 1.00),
    "grey": (1000.0, 100.0, 0.80),
    "deep_grey": (850.0, 85.0, 0.76),
    "white": (600.0, 80.0, 0.69),
    "fat": (260.0, 80.0, 0.95),
    "muscle": (870.0, 47.0, 0.75),
    "bone": (1000.0, 0.5, 0.05),
    "marrow": (370.0, 70.0, 0.85),
    "lesion": (1500.0, 180.0, 0.88),
    "necrosis": (2500.0, 400.0, 0.95),
    "edema": (1100.0, 130.0, 0.86),
}

# TR, TE (ms) and, for inversion recovery, TI (None: chosen to null CSF).
SEQUENCES = {
    "t1": {"tr": 500.0, "te": 15.0},
    "t2": {"tr": 4000.0, "te": 100.0},
    "pd": {"tr": 3000.0, "te": 15.0},
    "flair": {"tr": 9000.0, "te": 120.0, "ti": None},
}

# Relative within-tissue texture amplitude per rendered class.
_TEXTURE = {"csf": 0.01, "grey": 0.03, "deep_grey": 0.03, "white": 0.025, "fat": 0.06,
            "muscle": 0.06, "bone": 0.0, "marrow": 0.12, "lesion": 0.08, "necrosis": 0.05,
            "edema": 0.04}

_ANATOMY, _LESION, _TEXTURE_STREAM, _NOISE = 0, 1, 2, 3  # random stream ids


@dataclass
class PhantomSubject:
    """One phantom head.

    Array axes are (X, Y, Z) = (left->right, posterior->anterior, inferior->superior), RAS.

    Args:
        name: subject name, ``phantom_<index:03d>``.
        images: contrast name -> float32 image, in units of the brightest tissue's signal.
        tissue: uint8 classes (``TISSUE_NAMES``): 0 background, 1 scalp/skull, 2 CSF,
            3 grey matter, 4 white matter, 5 lesion. Edema keeps the class of the tissue
            it lies in.
        lesion: uint8 0/1, equal to ``tissue == 5``; the edema around it is not lesion.
        mask: uint8 head foreground (``tissue > 0``).
        affine: 4x4 voxel -> RAS mm, diagonal spacing ``fov / shape``, centred on 0.
        has_lesion: whether this subject was drawn with a lesion. On very coarse grids
            (about 7 mm voxels) a small lesion can miss every voxel centre, so a label
            should be read from ``lesion``.
    """

    name: str
    images: dict[str, np.ndarray]
    tissue: np.ndarray
    lesion: np.ndarray
    mask: np.ndarray
    affine: np.ndarray
    has_lesion: bool


def subject_names(n: int) -> list[str]:
    """Names of the first ``n`` phantom subjects.

    Args:
        n: number of subjects.

    Returns:
        ``["phantom_000", "phantom_001", ...]``.
    """
    return [f"phantom_{index:03d}" for index in range(n)]


def sequence_signal(contrast: str, t1, t2, pd):
    """Signal of a tissue (T1, T2 in ms, PD) for one of ``SEQUENCES``.

    Spin echo: ``PD (1 - exp(-TR/T1)) exp(-TE/T2)``; inversion recovery (magnitude):
    ``PD |1 - 2 exp(-TI/T1) + exp(-TR/T1)| exp(-TE/T2)``, TI nulling CSF when not given.

    Args:
        contrast: a key of ``SEQUENCES``.
        t1: longitudinal relaxation time (ms), scalar or array.
        t2: transverse relaxation time (ms).
        pd: proton density (relative).

    Returns:
        The signal, relative to a fully relaxed PD = 1 tissue.
    """
    seq = SEQUENCES[contrast]
    tr, te = seq["tr"], seq["te"]
    recovery = 1.0 - np.exp(-tr / np.asarray(t1))
    if "ti" in seq:
        ti = seq["ti"]
        if ti is None:
            t1_csf = RELAXATION["csf"][0]
            ti = t1_csf * np.log(2.0 / (1.0 + np.exp(-tr / t1_csf)))
        recovery = np.abs(1.0 - 2.0 * np.exp(-ti / np.asarray(t1)) + np.exp(-tr / np.asarray(t1)))
    return pd * recovery * np.exp(-te / np.asarray(t2))


def make_subject(
    index: int,
    seed: int,
    shape: Sequence[int] = (64, 64, 32),
    fov_mm: Sequence[float] = (224.0, 224.0, 144.0),
    contrasts: Sequence[str] = ("t1", "t2"),
    lesion_probability: float = 0.8,
    noise: float = 0.02,
    bias: float = 0.15,
) -> PhantomSubject:
    """Render one phantom subject.

    Args:
        index: subject index (>= 0); with ``seed`` it fixes everything random.
        seed: dataset seed (>= 0).
        shape: voxels along (X, Y, Z).
        fov_mm: field of view along (X, Y, Z) in mm, at most 320 each.
        contrasts: names from ``SEQUENCES`` ("t1", "t2", "pd", "flair").
        lesion_probability: chance that this subject has a lesion.
        noise: Rician noise sigma as a fraction of the brightest tissue signal.
        bias: amplitude of the smooth multiplicative bias field (0.15: 0.85 to 1.15).

    Returns:
        The :class:`PhantomSubject`.
    """
    shape = tuple(int(n) for n in shape)
    fov = np.asarray(fov_mm, dtype=float)
    unknown = [c for c in contrasts if c not in SEQUENCES]
    if len(shape) != 3 or min(shape) < 1 or fov.shape != (3,) or not np.all(fov > 0):
        raise ValueError(f"need a 3D shape and positive 3D fov_mm, got {shape}, {fov_mm}")
    if np.any(fov > EXTENT) or unknown:
        raise ValueError(f"fov_mm must be <= {EXTENT} mm and contrasts in {list(SEQUENCES)}")
    spacing = fov / np.asarray(shape)
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = -(np.asarray(shape) - 1) / 2 * spacing
    axes = [((np.arange(n) - (n - 1) / 2) * s).astype(np.float32) for n, s in zip(shape, spacing)]
    # Gaussian partial-volume PSF of about half a voxel.
    sigma = 0.5 * float(np.prod(spacing)) ** (1 / 3)

    anatomy = draw_anatomy(np.random.default_rng([seed, index, _ANATOMY]), axes)
    lesion_rng = np.random.default_rng([seed, index, _LESION])
    # Draw presence first and the lesion itself always, so the probability only toggles it.
    has_lesion = bool(lesion_rng.random() < lesion_probability)
    lesion = draw_lesion(lesion_rng, anatomy["ventricle_scale"])
    texture = smooth_fields(np.random.default_rng([seed, index, _TEXTURE_STREAM]), 2, axes, 5.0)

    # Only voxels in or near the head are rendered; the rest is background (noise only).
    keep, layers = head_layers(anatomy, lesion if has_lesion else None, 4.0 * sigma)
    texture = texture.reshape(2, -1)[:, keep]
    classes = list(RELAXATION)
    values = np.array([[sequence_signal(c, *RELAXATION[k]) for k in classes] for c in contrasts])
    values = (values / values.max(axis=1, keepdims=True)).astype(np.float32)
    canvas = np.zeros((len(contrasts), keep.size), np.float32)
    tissue_kept = np.zeros(keep.size, np.uint8)
    scale = np.float32(1.0 / (sigma * np.sqrt(2.0)))
    for cls, label, dist, idx in layers:
        alpha = (0.5 * erfc(dist * scale)).astype(np.float32)
        sub = slice(None) if idx is None else idx
        tex = 1.0 + np.float32(_TEXTURE[cls]) * texture[1 if cls == "lesion" else 0, sub]
        target = values[:, classes.index(cls), None] * tex
        part = canvas[:, sub]
        part += alpha * (target - part)
        canvas[:, sub] = part
        if label is not None:
            inside = dist <= 0
            tissue_kept[inside if idx is None else idx[inside]] = label

    images = {}
    for k, name in enumerate(contrasts):
        rng = np.random.default_rng([seed, index, _NOISE, zlib.crc32(name.encode())])
        signal = np.zeros(int(np.prod(shape)), np.float32)
        signal[keep] = canvas[k]
        field = smooth_fields(rng, 1, axes, 70.0)[0]
        field /= max(float(np.abs(field).max()), 1e-6)  # so that ``bias`` is the amplitude
        signal = signal.reshape(shape) * (1.0 + np.float32(bias) * field)
        # Rician magnitude: complex Gaussian noise on the real signal; the brightest tissue
        # signal is 1, so sigma is ``noise``.
        real = signal + rng.normal(0.0, noise, shape).astype(np.float32)
        imag = rng.normal(0.0, noise, shape).astype(np.float32)
        images[name] = np.sqrt(real * real + imag * imag).astype(np.float32)

    tissue = np.zeros(int(np.prod(shape)), np.uint8)
    tissue[keep] = tissue_kept
    tissue = tissue.reshape(shape)
    return PhantomSubject(
        name=f"phantom_{index:03d}",
        images=images,
        tissue=tissue,
        lesion=(tissue == LESION).astype(np.uint8),
        mask=(tissue > 0).astype(np.uint8),
        affine=affine,
        has_lesion=has_lesion,
    )


def write_phantom_subject(name: str, seed: int, dataset: dict) -> dict:
    """Render one subject of the phantom dataset and write it under ``dataset["root"]/<name>``:
    ``<channel>.nii.gz`` per channel, ``label`` (lesion), ``mask`` (head) and ``tissue``.

    Args:
        name: ``phantom_<index:03d>`` (:func:`subject_names`).
        seed: the dataset seed.
        dataset: the ``dataset`` config (channels, shape, fov_mm, lesion_probability, noise,
            bias, root).

    Returns:
        ``shape`` and ``has_lesion``, for the job's record.
    """
    subject = make_subject(
        int(name.rsplit("_", 1)[1]),
        seed,
        shape=tuple(dataset["shape"]),
        fov_mm=tuple(dataset["fov_mm"]),
        contrasts=tuple(dataset["channels"]),
        lesion_probability=dataset["lesion_probability"],
        noise=dataset["noise"],
        bias=dataset["bias"],
    )
    with subject_folder(f"{dataset['root']}/{name}") as folder:
        for channel in dataset["channels"]:
            write_nifti(folder / f"{channel}.nii.gz", subject.images[channel].astype(np.float32), subject.affine)
        write_nifti(folder / "label.nii.gz", subject.lesion.astype(np.uint8), subject.affine)
        write_nifti(folder / "mask.nii.gz", subject.mask.astype(np.uint8), subject.affine)
        write_nifti(folder / "tissue.nii.gz", subject.tissue.astype(np.uint8), subject.affine)
    return {"shape": "x".join(map(str, subject.tissue.shape)), "has_lesion": subject.has_lesion}


# The phantom as a dataset adapter (see radsynth.data.base): the ``phantom`` rule writes each
# subject's NIfTI files under ``dataset["root"]``, which are then read like any NIfTI dataset.
def _patterns(dataset: dict) -> dict[str, str]:
    return {**{channel: f"{channel}.nii.gz" for channel in dataset["channels"]}, "label": "label.nii.gz", "mask": "mask.nii.gz"}


def discover(dataset: dict):
    """The ``dataset["subjects"]`` phantom subjects and the files the phantom rule writes."""
    from radsynth.data.base import SubjectSource

    root = dataset["root"]
    return [
        SubjectSource(name, name, tuple(f"{root}/{name}/{file}" for file in _patterns(dataset).values()))
        for name in subject_names(dataset["subjects"])
    ]


def load(source, dataset: dict):
    """Read a written phantom subject (channels, lesion label and head mask)."""
    from radsynth.data import nifti

    return nifti.load(source, {**dataset, "naming": "custom", "patterns": _patterns(dataset)})
