"""Reconstruction scores with fastMRI's definitions (``fastmri/evaluate.py``), on magnitudes.

- NMSE = ||gt - pred||² / ||gt||²
- PSNR = scikit-image's, with ``data_range`` = the target's maximum
- SSIM = scikit-image's (7 x 7 uniform window, K1 0.01, K2 0.03), ``data_range`` = the
  target's maximum, averaged over slices

and the uncertainty score: Pearson correlation of a method's std map with its absolute error.
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity


def nmse(target: np.ndarray, prediction: np.ndarray) -> float:
    """Normalised mean squared error ||gt - pred||² / ||gt||²."""
    target, prediction = np.asarray(target, np.float64), np.asarray(prediction, np.float64)
    return float(np.linalg.norm(target - prediction) ** 2 / np.linalg.norm(target) ** 2)


def psnr(target: np.ndarray, prediction: np.ndarray) -> float:
    """Peak signal-to-noise ratio (dB), peak = the target's maximum."""
    target, prediction = np.asarray(target, np.float64), np.asarray(prediction, np.float64)
    return float(peak_signal_noise_ratio(target, prediction, data_range=target.max()))


def ssim(target: np.ndarray, prediction: np.ndarray) -> float:
    """Structural similarity of (H, W) or (S, H, W) magnitudes, mean over slices, with the
    data range of the whole target (fastMRI's volume maximum)."""
    target, prediction = np.asarray(target, np.float64), np.asarray(prediction, np.float64)
    if target.ndim == 2:
        target, prediction = target[None], prediction[None]
    peak = target.max()
    return float(np.mean([structural_similarity(t, p, data_range=peak) for t, p in zip(target, prediction)]))


def error_correlation(std: np.ndarray, error: np.ndarray) -> float:
    """Pearson correlation of an uncertainty map with the absolute error (nan if either is constant)."""
    std, error = np.ravel(std).astype(np.float64), np.ravel(np.abs(error)).astype(np.float64)
    if std.std() == 0 or error.std() == 0:
        return float("nan")
    return float(np.corrcoef(std, error)[0, 1])


def recon_scores(target: np.ndarray, prediction: np.ndarray) -> dict[str, float]:
    """``{"psnr", "ssim", "nmse"}`` of one slice (or volume) of magnitudes."""
    return {"psnr": psnr(target, prediction), "ssim": ssim(target, prediction), "nmse": nmse(target, prediction)}
