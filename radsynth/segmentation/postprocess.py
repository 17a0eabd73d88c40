"""Optional post-processing of predicted label maps before the metrics.

DTC's test code keeps only the largest connected component of the prediction
(``getLargestCC``: ``skimage.measure.label`` at its default, full connectivity) when run with
``--nms 1``, the default of ``test_LA.py``: the published DTC LA figures are computed with it.
The evaluation reports both (``segmentation.lcc``: metrics prefixed ``lcc_``, the tables' "LCC"
rows), so the raw network output stays visible beside the paper's protocol.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from monai.transforms import KeepLargestConnectedComponent


def largest_component(label: np.ndarray, classes: Sequence[int]) -> np.ndarray:
    """Keep, for each foreground class value, only its largest connected component.

    Connectivity is full: 8-neighbourhood in 2D, 26 in 3D (``connectivity=ndim``), the default
    of ``skimage.measure.label`` that DTC's ``getLargestCC`` uses. Each class is treated on its
    own (MONAI ``KeepLargestConnectedComponent(independent=True)`` on the integer map): voxels of
    a class outside its largest component become background (0); they are not reassigned.

    Args:
        label: integer label map (2D or 3D), e.g. uint8.
        classes: foreground class values to clean; other values are left untouched.

    Returns:
        A new array of ``label``'s shape and dtype (``label`` itself is not modified). A class
        with no voxels stays empty. Which of several equally large largest components is kept
        is up to MONAI (DTC's ``argmax`` keeps the first in ``skimage`` label order).
    """
    label = np.asarray(label)
    if label.ndim not in (2, 3):
        raise ValueError(f"expected a 2D or 3D label map, got shape {label.shape}")
    if not np.issubdtype(label.dtype, np.integer) and label.dtype != bool:
        raise ValueError(f"expected an integer label map, got dtype {label.dtype}")
    out = label.copy()  # MONAI zeroes removed voxels in place, in memory shared with numpy
    classes = [int(c) for c in classes if (label == c).any()]
    if not classes:
        return out
    keep = KeepLargestConnectedComponent(
        applied_labels=classes, is_onehot=False, independent=True, connectivity=None
    )
    result = keep(out[None])  # (1, *spatial): one channel of class values, not one-hot
    if isinstance(result, torch.Tensor):  # MONAI hands numpy input back as a (Meta)Tensor
        result = result.as_tensor() if hasattr(result, "as_tensor") else result
        result = result.detach().cpu().numpy()
    return np.asarray(result)[0].astype(label.dtype, copy=False)
