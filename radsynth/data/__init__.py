"""Dataset adapters: the layouts users bring, each read into one :class:`RawSubject` form.

``dataset.kind`` picks the adapter (one module each, same two functions, see ``base``):

- ``phantom``: the embedded procedural head phantom (``phantom``), the default;
- ``nifti``: one folder per subject, one file per channel (BraTS naming or patterns);
- ``msd``: Medical Segmentation Decathlon / nnU-Net v2 raw (``dataset.json``, imagesTr);
- ``h5``: the DTC / UA-MT layout (``<case>/mri_norm2.h5``);
- ``image_pairs``: 2D pictures and masks in two folders matched by name (ultrasound);
- ``multichannel_slices``: 2D slices whose colour planes are modalities (Kaggle LGG).
"""

from __future__ import annotations

import importlib

from radsynth.data.base import RawSubject, SubjectSource, check_subject

MODULES = {
    "phantom": "radsynth.data.phantom",
    "nifti": "radsynth.data.nifti",
    "msd": "radsynth.data.msd",
    "h5": "radsynth.data.h5",
    "image_pairs": "radsynth.data.image_pairs",
    "multichannel_slices": "radsynth.data.slices",
}


def adapter(kind: str):
    """The adapter module of a ``dataset.kind``."""
    if kind not in MODULES:
        raise ValueError(f"unknown dataset.kind {kind!r} (use one of {', '.join(MODULES)})")
    return importlib.import_module(MODULES[kind])


def discover(dataset: dict) -> list[SubjectSource]:
    """The subjects of a dataset, sorted by identifier, the first ``dataset.limit`` if set.

    Args:
        dataset: the ``dataset`` section of the config (``kind``, ``root``, ...).
    """
    sources = adapter(dataset["kind"]).discover(dataset)
    limit = dataset.get("limit")
    return sources[:limit] if limit else sources


def load_subject(source: SubjectSource, dataset: dict) -> RawSubject:
    """Read one subject and run the checks every layout shares.

    Raises:
        radsynth.io.InputError: naming the file and the reason.
    """
    raw = adapter(dataset["kind"]).load(source, dataset)
    check_subject(raw, dataset["classes"])
    return raw
