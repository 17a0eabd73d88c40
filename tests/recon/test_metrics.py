import numpy as np
import pytest

from radsynth.recon.metrics import error_correlation, nmse, psnr, recon_scores, ssim


def test_fastmri_metrics_on_hand_made_arrays():
    target = np.full((16, 16), 2.0)
    prediction = target + 0.1
    # MSE 0.01; data range = the target's max, 2: PSNR = 10 log10(4 / 0.01)
    assert psnr(target, prediction) == pytest.approx(10 * np.log10(4 / 0.01))
    assert nmse(target, prediction) == pytest.approx(0.01 / 4)
    # Constant windows: SSIM = (2 mu_x mu_y + C1) / (mu_x² + mu_y² + C1), C1 = (0.01 x 2)²
    c1 = (0.01 * 2.0) ** 2
    assert ssim(target, prediction) == pytest.approx((2 * 2 * 2.1 + c1) / (4 + 2.1**2 + c1))
    assert recon_scores(target, target)["ssim"] == pytest.approx(1.0)


def test_psnr_takes_the_targets_maximum_not_its_range():
    target = np.array([[1.0, 3.0], [2.0, 3.0]])
    prediction = target + np.array([[0.2, 0.0], [0.0, 0.0]])
    assert psnr(target, prediction) == pytest.approx(10 * np.log10(9 / (0.04 / 4)))


def test_volume_ssim_uses_the_whole_volumes_maximum():
    rng = np.random.default_rng(0)
    volume = rng.random((2, 16, 16))
    volume[1] *= 0.1
    noisy = volume + 0.01
    from skimage.metrics import structural_similarity

    expected = np.mean([structural_similarity(t, p, data_range=volume.max()) for t, p in zip(volume, noisy)])
    assert ssim(volume, noisy) == pytest.approx(expected)


def test_error_correlation():
    std = np.array([0.0, 1.0, 2.0, 3.0])
    assert error_correlation(std, -2 * std) == pytest.approx(1.0)
    assert np.isnan(error_correlation(np.ones(4), std))
