"""MAE / PSNR / SSIM on hand-made images with known answers."""

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from radsynth.translation.metrics import translation_metrics


def _image(shape=(32, 32), seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, size=shape)


def test_constant_offset_known_mae_and_psnr():
    target = _image()
    output = target + 0.2  # 0.1 on the [0, 1] scale
    metrics = translation_metrics(output, target, np.ones(target.shape, bool))
    assert set(metrics) == {"mae", "psnr", "ssim"}
    assert metrics["mae"] == pytest.approx(0.1)
    assert metrics["psnr"] == pytest.approx(20.0)  # 10 log10(1 / 0.01)
    assert metrics["ssim"] < 1


def test_identical_images():
    target = _image()
    metrics = translation_metrics(target, target.copy(), target > 0)
    assert metrics["mae"] == 0
    assert metrics["psnr"] == float("inf")
    assert metrics["ssim"] == pytest.approx(1.0)


def test_foreground_restricts_mae_and_psnr_but_not_ssim():
    target = -np.ones((40, 40))
    target[10:30, 10:30] = 0.5
    mask = target > -1
    output = target.copy()
    output[~mask] = 1.0  # a large error, but only in the background
    output[mask] += 0.02  # 0.01 on [0, 1] in the foreground
    metrics = translation_metrics(output, target, mask)
    assert metrics["mae"] == pytest.approx(0.01)
    assert metrics["psnr"] == pytest.approx(40.0)
    # SSIM covers the whole image, so the background error shows there.
    assert metrics["ssim"] == pytest.approx(structural_similarity(output, target, data_range=2))
    assert metrics["ssim"] < 0.5
    everywhere = translation_metrics(output, target, None)
    assert everywhere["mae"] > 0.5


def test_3d_and_empty_mask():
    target = _image((10, 12, 9))
    output = target - 0.4
    metrics = translation_metrics(output, target, np.zeros(target.shape, bool))
    assert np.isnan(metrics["mae"]) and np.isnan(metrics["psnr"])
    assert metrics["ssim"] == pytest.approx(structural_similarity(output, target, data_range=2))
    full = translation_metrics(output, target, np.ones(target.shape, bool))
    assert full["mae"] == pytest.approx(0.2) and full["psnr"] == pytest.approx(10 * np.log10(25))


def test_shape_mismatch():
    with pytest.raises(ValueError, match=r"output \(8, 8\) and target \(8, 9\) differ in shape"):
        translation_metrics(np.zeros((8, 8)), np.zeros((8, 9)), None)
