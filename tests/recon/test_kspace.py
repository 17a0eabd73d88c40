import numpy as np
import pytest
import torch

from radsynth.recon.kspace import (
    column_mask,
    data_consistency,
    fft2,
    ifft2,
    magnitude,
    magnitude_stats,
    masks_for,
    simulate_complex,
    zero_filled,
)


def complex_of(x: torch.Tensor) -> np.ndarray:
    return (x[:, 0] + 1j * x[:, 1]).numpy()


def test_fft2_is_numpys_centred_orthonormal_fft():
    x = torch.randn(3, 2, 12, 10)
    expected = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(complex_of(x), axes=(-2, -1)), norm="ortho"), axes=(-2, -1))
    assert np.allclose(complex_of(fft2(x)), expected, atol=1e-5)
    assert torch.allclose(ifft2(fft2(x)), x, atol=1e-5)
    # DC at the centre: a constant image has all its energy at (H // 2, W // 2)
    k = complex_of(fft2(torch.stack([torch.ones(8, 8), torch.zeros(8, 8)])[None]))[0]
    assert abs(k[4, 4]) == pytest.approx(8.0) and np.abs(k).sum() == pytest.approx(8.0)


@pytest.mark.parametrize("acceleration, centre", [(4, 26), (8, 13)])
def test_column_mask_has_fastmris_centre_and_acceleration(acceleration, centre):
    # fastMRI at 320 columns: round(320 x 0.08) = 26 centre columns for 4x, round(320 x 0.04) = 13 for 8x,
    # starting at (320 - n + 1) // 2, the rest drawn so that 320 / acceleration are expected in all.
    masks = np.stack([column_mask(320, acceleration, seed) for seed in range(400)])
    start = (320 - centre + 1) // 2
    assert (masks[:, start:start + centre] == 1).all()
    assert set(np.unique(masks)) == {0.0, 1.0}
    assert masks.sum(axis=1).mean() == pytest.approx(320 / acceleration, rel=0.03)
    outer = np.delete(masks, np.s_[start:start + centre], axis=1)
    assert outer.mean() == pytest.approx((320 / acceleration - centre) / (320 - centre), rel=0.05)


def test_column_mask_is_fixed_by_its_seed():
    assert (column_mask(64, 4, 7) == column_mask(64, 4, 7)).all()
    assert (column_mask(64, 4, 7) != column_mask(64, 4, 8)).any()
    with pytest.raises(ValueError, match="fastMRI defines centre fractions for \\[4, 8\\] only"):
        column_mask(64, 6, 0)


def test_simulated_phase_keeps_the_magnitude_and_is_smooth():
    rng = np.random.default_rng(0)
    magnitudes = rng.random((2, 32, 32))
    z = simulate_complex(magnitudes, np.array([1, 2]))
    assert np.allclose(np.hypot(z[:, 0], z[:, 1]), magnitudes, atol=1e-6)
    phase = np.angle(np.exp(1j * np.arctan2(z[:, 1], z[:, 0])))
    assert phase.std() > 0.1  # a real phase, not zero
    neighbour = np.angle(np.exp(1j * (phase[:, :, 1:] - phase[:, :, :-1])))
    assert np.abs(neighbour).mean() < 0.25  # slowly varying (white-noise phase: about pi / 2)
    assert np.allclose(simulate_complex(magnitudes, np.array([1, 2])), z)  # seeded
    with pytest.raises(ValueError, match="non-negative"):
        simulate_complex(-magnitudes, np.array([1, 2]))


def test_zero_filling_and_data_consistency_keep_the_measurement():
    image = torch.randn(2, 2, 16, 16)
    mask = masks_for(2, 16, 4, [0, 1])
    measured, image_zf = zero_filled(image, mask)
    unmeasured_columns = mask[0, 0, 0] == 0
    assert (measured[0][..., unmeasured_columns] == 0).all()
    assert torch.allclose(fft2(image_zf), measured, atol=1e-5)
    other = torch.randn(2, 2, 16, 16)
    consistent = data_consistency(other, measured, mask)
    assert torch.allclose(fft2(consistent) * mask, measured, atol=1e-5)
    assert torch.allclose(fft2(consistent) * (1 - mask), fft2(other) * (1 - mask), atol=1e-5)


def test_magnitude_stats_are_the_mean_and_population_std_of_magnitudes():
    draws = torch.zeros(1, 2, 2, 1, 1)
    draws[0, 0, 0], draws[0, 1, 1] = 3.0, -5.0  # magnitudes 3 and 5
    mean, std = magnitude_stats(draws)
    assert float(mean) == pytest.approx(4.0) and float(std) == pytest.approx(1.0)
    assert float(magnitude(torch.tensor([[[[3.0]], [[4.0]]]]))) == pytest.approx(5.0)
