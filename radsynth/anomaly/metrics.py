"""Anomaly maps and their scores: Otsu segmentation, pixel Dice, pixel AUROC and AUPRC per
lesion slice, and slice-level AUROC from each map's maximum.

AUROC and average precision are MONAI's (``compute_roc_auc``, ``compute_average_precision``);
Otsu's threshold is scikit-image's.
"""

from __future__ import annotations

import numpy as np
import torch
from monai.metrics import compute_average_precision, compute_roc_auc
from skimage.filters import threshold_otsu


def anomaly_map(image: np.ndarray, counterfactual: np.ndarray) -> np.ndarray:
    """Sum over channels of |x - x_healthy|: (N, C, H, W) pair -> (N, H, W)."""
    return np.abs(np.asarray(image, np.float32) - np.asarray(counterfactual, np.float32)).sum(axis=1)


def otsu_segmentation(heat: np.ndarray) -> np.ndarray:
    """The map above its Otsu threshold, per slice; a constant map segments nothing."""
    heat = np.asarray(heat)
    out = np.zeros(heat.shape, dtype=bool)
    for i, one in enumerate(heat):
        if one.max() > one.min():
            out[i] = one > threshold_otsu(one)
    return out


def dice(segmentation: np.ndarray, truth: np.ndarray) -> float:
    """2|A and B| / (|A| + |B|) of two binary maps; 1 when both are empty."""
    a, b = np.asarray(segmentation, bool), np.asarray(truth, bool)
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else float(2 * (a & b).sum() / total)


def pixel_auroc(heat: np.ndarray, truth: np.ndarray) -> float:
    """Area under the ROC curve of one map's pixels against the lesion mask."""
    return float(compute_roc_auc(torch.as_tensor(np.ravel(heat), dtype=torch.float64),
                                 torch.as_tensor(np.ravel(truth) > 0, dtype=torch.float64)))


def pixel_auprc(heat: np.ndarray, truth: np.ndarray) -> float:
    """Average precision (area under the precision-recall curve) of one map's pixels."""
    return float(compute_average_precision(torch.as_tensor(np.ravel(heat), dtype=torch.float64),
                                           torch.as_tensor(np.ravel(truth) > 0, dtype=torch.float64)))


def slice_auroc(heat: np.ndarray, slice_label: np.ndarray) -> float:
    """AUROC of each slice's maximum anomaly against its healthy (0) / lesion (1) label."""
    peaks = np.asarray(heat).reshape(len(heat), -1).max(axis=1)
    return pixel_auroc(peaks, np.asarray(slice_label))


def case_scores(heat: np.ndarray, truth: np.ndarray) -> dict[str, np.ndarray]:
    """Per lesion slice: ``dice`` (Otsu), ``auroc`` and ``auprc``; slices without lesion pixels
    are left out (NaN), as pixel scores of a slice with no positive are undefined.

    Args:
        heat: float (N, H, W) anomaly maps.
        truth: (N, H, W) lesion masks.
    """
    segmentation = otsu_segmentation(heat)
    scores = {name: np.full(len(heat), np.nan) for name in ("dice", "auroc", "auprc")}
    for i in np.flatnonzero(np.asarray(truth).reshape(len(truth), -1).any(axis=1)):
        scores["dice"][i] = dice(segmentation[i], truth[i])
        scores["auroc"][i] = pixel_auroc(heat[i], truth[i])
        scores["auprc"][i] = pixel_auprc(heat[i], truth[i])
    return scores
