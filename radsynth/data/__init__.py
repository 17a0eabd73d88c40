"""Dataset adapters: the layouts users bring, each read into one :class:`RawSubject` form.

``dataset.kind`` picks the adapter (one module each, same two functions, see ``base``):

- ``phantom``: the embedded procedural head phantom (``phantom``), the default;
- ``nifti``: one folder per subject, one file per channel (BraTS naming or patterns);
- ``msd``: Medical Segmentation Decathlon / nnU-Net v2 raw (``dataset.json``, imagesTr);
- ``h5``: the DTC / UA-MT layout (``<case>/mri_norm2.h5``);
- ``image_pairs``: 2D pictures and masks in two folders matched by name (ultrasound);
- ``multichannel_slices``: 2D slices whose colour planes are modalities (Kaggle LGG).

Common keys: ``labels: false`` reads datasets without labels (``RawSubject.label`` None);
``groups`` reads class or split subfolders of the root (``SubjectSource.group``).
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

#: Kinds whose root may hold group folders (``dataset.groups``): class or split subfolders.
GROUPED = ("nifti", "image_pairs", "multichannel_slices")


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
    if dataset.get("groups") and dataset["kind"] not in GROUPED:
        raise ValueError(f"dataset.groups: kind {dataset['kind']} has no group folders (use it with {', '.join(GROUPED)})")
    sources = adapter(dataset["kind"]).discover(dataset)
    limit = dataset.get("limit")
    return sources[:limit] if limit else sources


def load_subject(source: SubjectSource, dataset: dict) -> RawSubject:
    """Read one subject and run the checks every layout shares.

    With ``dataset.labels: false`` the subject has no label (``raw.label`` None) and only
    its channels (and mask) are checked.

    Raises:
        radsynth.io.InputError: naming the file and the reason.
    """
    raw = adapter(dataset["kind"]).load(source, dataset)
    check_subject(raw, dataset["classes"])
    return raw
