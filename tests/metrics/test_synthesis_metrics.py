"""Synthesis metrics: MS-SSIM scales, diversity, and the Fréchet distance on known Gaussians."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from radsynth.metrics.synthesis import diversity, frechet_distance, ms_ssim, scale_weights


def textures(n, size=64, seed=0):
    rng = np.random.default_rng(seed)
    images = [gaussian_filter(rng.normal(size=(size, size)), 2.0) for _ in range(n)]
    return np.stack([np.clip(x / np.abs(x).max(), -1, 1) for x in images])[:, None].astype(np.float32)


def test_scale_weights_shrink_with_the_image_and_sum_to_one():
    assert len(scale_weights(256)) == 5 and len(scale_weights(64)) == 4 and len(scale_weights(40)) == 3
    assert len(scale_weights(8)) == 1
    assert sum(scale_weights(64)) == pytest.approx(1.0)  # 64 > 6 * 2**3: four scales with a 7-pixel window


def test_ms_ssim_is_one_for_identical_images_and_drops_with_noise():
    images = textures(3)
    assert ms_ssim(images, images) == pytest.approx(np.ones(3), abs=1e-5)
    rng = np.random.default_rng(1)
    slightly = np.clip(images + rng.normal(0, 0.05, images.shape), -1, 1)
    strongly = np.clip(images + rng.normal(0, 0.5, images.shape), -1, 1)
    assert (ms_ssim(images, strongly) < ms_ssim(images, slightly)).all()
    with pytest.raises(ValueError, match="one shape"):
        ms_ssim(images, images[:2])


def test_diversity_orders_copies_variants_and_unrelated_samples():
    base = textures(1)[0]
    rng = np.random.default_rng(2)
    copies = np.stack([base] * 4)
    variants = np.stack([np.clip(base + rng.normal(0, 0.2, base.shape), -1, 1) for _ in range(4)])
    unrelated = textures(4, seed=3)
    assert diversity(copies) == pytest.approx(0.0, abs=1e-5)
    assert 0 < diversity(variants) < diversity(unrelated) <= 1
    assert np.isnan(diversity(copies[:1]))


def test_frechet_distance_of_gaussians_matches_the_closed_form():
    rng = np.random.default_rng(4)
    real = rng.normal(0, 1, (4000, 3))
    shifted = rng.normal(0, 1, (4000, 3)) + np.array([2.0, 0.0, 0.0])
    # equal covariances: the distance is the squared mean shift, 4
    assert frechet_distance(real, shifted) == pytest.approx(4.0, abs=0.15)
    assert frechet_distance(real, real) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="feature sets"):
        frechet_distance(real, shifted[:, :2])
