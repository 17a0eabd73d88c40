"""Slice-level labels of a packed split: the only supervision the anomaly models see."""

from __future__ import annotations

import numpy as np

from radsynth.anomaly.networks import HEALTHY, LESION
from radsynth.pack import select_channels


def slice_labels(label: np.ndarray) -> np.ndarray:
    """Healthy (0) or lesion (1) per slice: any foreground voxel in the slice's label map.

    Args:
        label: int (N, H, W) label maps of the slices (0 background).

    Returns:
        int64 (N,) class per slice.
    """
    label = np.asarray(label)
    if label.ndim < 2:
        raise ValueError(f"need label maps (N, ...), got shape {label.shape}")
    lesion = label.reshape(len(label), -1).max(axis=1) > 0
    return np.where(lesion, LESION, HEALTHY).astype(np.int64)


def healthy_slices(images: np.ndarray, label: np.ndarray, source: str = "the training split") -> np.ndarray:
    """The slices without foreground (what a reconstruction baseline learns to draw); the
    error names ``source``."""
    keep = slice_labels(label) == HEALTHY
    if not keep.any():
        raise ValueError(f"no healthy slice in {source}: every slice has a lesion label")
    return np.asarray(images)[keep]


def training_slices(packed: dict[str, np.ndarray], channels) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The images (named channels), slice labels and sorted subjects of a packed training split.

    Args:
        packed: arrays of :func:`radsynth.pack.pack_slices` (``image``, ``label``, ``subject``).
        channels: channel names, in model order.
    """
    if "label" not in packed:
        raise ValueError("the packed split has no labels: slice labels come from the training labels")
    return select_channels(packed, channels), slice_labels(packed["label"]), sorted(set(map(str, packed["subject"])))
