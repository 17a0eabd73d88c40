"""What a synthetic image set is judged on, with no downloaded weights: diversity among the
samples of one mask and closeness to the real image (MS-SSIM), and a Fréchet distance between
feature sets (the features come from a network trained here on real data, never from
ImageNet weights fetched at run time).
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import torch
from monai.metrics.fid import get_fid_score
from monai.metrics.regression import compute_ms_ssim

#: Wang et al.'s five MS-SSIM scale weights (MONAI's default); fewer scales for small images.
SCALE_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def scale_weights(size: int, kernel_size: int = 7) -> tuple[float, ...]:
    """The first scales whose coarsest image still exceeds the kernel, renormalised to sum 1
    (MONAI needs ``size > (kernel_size - 1) * 2 ** (scales - 1)``)."""
    scales = len(SCALE_WEIGHTS)
    while scales > 1 and size <= (kernel_size - 1) * 2 ** (scales - 1):
        scales -= 1
    weights = np.asarray(SCALE_WEIGHTS[:scales])
    return tuple(float(w) for w in weights / weights.sum())


def ms_ssim(a: np.ndarray, b: np.ndarray, kernel_size: int = 7) -> np.ndarray:
    """MS-SSIM of each pair of images (MONAI ``compute_ms_ssim``, data range 2 for [-1, 1]).

    Args:
        a, b: float (N, C, H, W) in [-1, 1], same shape.
        kernel_size: Gaussian window (7 suits 64-256 px images; scales adapt to the size).

    Returns:
        (N,) values in [0, 1]; 1 for identical images.
    """
    a, b = (torch.as_tensor(np.asarray(x, dtype=np.float32)) for x in (a, b))
    if a.shape != b.shape or a.ndim != 4:
        raise ValueError(f"ms_ssim needs two (N, C, H, W) arrays of one shape, got {tuple(a.shape)}, {tuple(b.shape)}")
    weights = scale_weights(min(a.shape[2:]), kernel_size)
    values = compute_ms_ssim(a, b, spatial_dims=2, data_range=2.0, kernel_size=kernel_size, weights=weights)
    return values.reshape(len(a), -1).mean(dim=1).numpy()


def diversity(samples: np.ndarray, kernel_size: int = 7) -> float:
    """Mean ``1 - MS-SSIM`` over every pair of the K samples drawn for one mask (0: identical
    samples; higher: more varied). NaN for fewer than two samples."""
    samples = np.asarray(samples)
    pairs = list(combinations(range(len(samples)), 2))
    if not pairs:
        return float("nan")
    first, second = (np.stack([samples[i] for i in side]) for side in zip(*pairs))
    return float(np.mean(1.0 - ms_ssim(first, second, kernel_size)))


def frechet_distance(real_features: np.ndarray, synthetic_features: np.ndarray) -> float:
    """Fréchet distance between two feature sets (MONAI ``get_fid_score``): FID's formula on
    whatever features are given, (N, D) and (M, D)."""
    real = torch.as_tensor(np.asarray(real_features, dtype=np.float64))
    synthetic = torch.as_tensor(np.asarray(synthetic_features, dtype=np.float64))
    if real.ndim != 2 or synthetic.ndim != 2 or real.shape[1] != synthetic.shape[1]:
        raise ValueError(f"feature sets must be (N, D) and (M, D), got {tuple(real.shape)}, {tuple(synthetic.shape)}")
    return float(get_fid_score(synthetic, real))
