"""build_augmentation: every name builds, each single baseline changes only what it should."""

import math

import numpy as np
import pytest
import torch
from scipy.ndimage import binary_dilation, binary_erosion

from radsynth.augment import (
    AUGMENTATIONS,
    ClassicAugmentation,
    DeepStack,
    build_augmentation,
)

torch.set_num_threads(1)


def square_batch(batch=8, size=32):
    """Background -1, a large square labelled 1 with graded intensities in [0.2, 0.8]
    (gamma leaves the extremes -1 and 1 where they are; edges far from the centre move
    under a 5 % scaling)."""
    label = torch.zeros(batch, size, size, dtype=torch.uint8)
    label[:, 3:29, 4:28] = 1
    ramp = torch.linspace(0.2, 0.8, size).expand(size, size)
    image = torch.where(label[:, None] == 1, ramp, -1.0)
    return image, label


@pytest.mark.parametrize("name", AUGMENTATIONS)
def test_every_name_builds(name):
    augment = build_augmentation(name, prob=1.0, seed=1)
    if name == "none":
        assert augment is None
        return
    assert isinstance(
        augment, DeepStack if name == "deepstack" else ClassicAugmentation
    )
    image, label = square_batch()
    out_image, out_label = augment(image, label)
    assert out_image.shape == image.shape and out_label.dtype == label.dtype


def bar_batch(batch=16, size=40):
    """Background -1 and a uniform 0.5 bar (24 x 10 pixels), labelled 1: long enough that a
    rotation shows in its orientation, uniform so a geometric change keeps its value, and one
    pixel off the centre along both axes so that a flip would move it by two."""
    label = torch.zeros(batch, size, size, dtype=torch.uint8)
    label[:, 9:33, 16:26] = 1
    return torch.where(label[:, None] == 1, 0.5, -1.0), label


def bar_moments(image):
    """Area, centroid, covariance eigenvalues and orientation (degrees) of an image's bar,
    weighting each pixel by its share of bar intensity (bilinear resampling is sub-pixel)."""
    weight = ((image.double() + 1) / 1.5).numpy()
    where = np.indices(weight.shape).reshape(2, -1)
    weight = weight.reshape(-1)
    area = weight.sum()
    centre = (where * weight).sum(1) / area
    offset = where - centre[:, None]
    cov = (offset[:, None] * offset[None] * weight).sum(-1) / area
    angle = 0.5 * np.degrees(np.arctan2(2 * cov[0, 1], cov[0, 0] - cov[1, 1]))
    return area, centre, np.linalg.eigvalsh(cov), angle


@pytest.mark.parametrize("name", ["contrast", "noise", "rotate", "scale"])
def test_each_single_baseline_changes_only_its_part(name):
    image, label = bar_batch()
    out_image, out_label = build_augmentation(name, prob=1.0, seed=4)(image, label)
    if name in ("contrast", "noise"):  # intensity only: the geometry and the label stay
        assert torch.equal(out_label, label)
    if name == "contrast":
        # One gamma per sample on the [0, 1] scale, nothing else: recovered from the bar, it
        # maps every pixel (the background 0 stays 0, i.e. -1).
        bar = (out_image[:, 0, 20, 20].double() + 1) / 2
        gamma = torch.log(bar) / math.log(0.75)
        assert ((gamma >= 0.75 - 1e-6) & (gamma <= 1.25 + 1e-6)).all() and gamma.std() > 0.05
        expected = ((image.double() + 1) / 2) ** gamma.view(-1, 1, 1, 1) * 2 - 1
        torch.testing.assert_close(out_image.double(), expected, atol=1e-5, rtol=0)
    elif name == "noise":
        # Zero-mean white noise, one std per sample in [0, 0.1]: no sample's residual is
        # larger than 6 of its stds (a moved edge would leave a residual of 1.5), nor is it
        # biased on the bar (a gamma would shift the bar, not the background).
        residual = (out_image - image)[:, 0].double()
        std = residual.std(dim=(1, 2))
        assert (std <= 0.1 * 1.1).all() and (std > 0).all() and std.std() > 0.01
        assert (residual.abs().amax(dim=(1, 2)) <= 6 * std).all()
        on_bar = residual[label == 1].view(len(image), -1).mean(1)
        assert (on_bar.abs() <= 4 * std / math.sqrt(240)).all()
    else:
        area0, centre0, eigen0, _ = bar_moments(image[0, 0])
        angles, ratios = [], []
        for i in range(len(image)):
            area, centre, eigen, angle = bar_moments(out_image[i, 0])
            # Turned or scaled about the image centre: the bar's centre (1, 1) off it moves
            # by at most 0.13 pixels (a flip would move it by 2).
            np.testing.assert_allclose(centre, centre0, atol=0.15)
            angles.append(angle)
            ratios.append(area / area0)
            # The label moved with the image (nearest resampling of the same warp).
            bar = out_image[i, 0] > -0.25
            assert 2 * (bar & (out_label[i] == 1)).sum() / (bar.sum() + out_label[i].sum()) > 0.95
            if name == "scale":  # isotropic: both axes scale as the area does
                np.testing.assert_allclose(eigen / eigen0, area / area0, atol=0.03)
        angles, ratios = np.array(angles), np.array(ratios)
        if name == "rotate":  # turned by up to 5 degrees, size kept
            assert (np.abs(angles) <= 5.05).all() and (np.abs(angles) > 0.25).sum() >= 12
            np.testing.assert_allclose(ratios, 1.0, atol=0.005)
        else:  # scaled by 0.95-1.05 (area / s^2), not turned
            np.testing.assert_allclose(angles, 0.0, atol=0.05)
            assert ((ratios > 1 / 1.05**2 - 0.005) & (ratios < 1 / 0.95**2 + 0.005)).all()
            assert (np.abs(ratios - 1) > 0.005).sum() >= 12
        # Intensities are only moved: the bar's inside stays 0.5, the far background -1.
        inside = torch.as_tensor(binary_erosion(out_label.numpy() == 1, np.ones((1, 3, 3)), iterations=2))
        outside = torch.as_tensor(~binary_dilation(out_label.numpy() == 1, np.ones((1, 3, 3)), iterations=2))
        torch.testing.assert_close(out_image[:, 0][inside], torch.full_like(out_image[:, 0][inside], 0.5))
        torch.testing.assert_close(out_image[:, 0][outside], torch.full_like(out_image[:, 0][outside], -1.0))


@pytest.mark.parametrize("name", ["contrast", "noise", "rotate", "scale"])
def test_single_baseline_applies_to_its_share_of_samples(name):
    image, label = bar_batch(batch=300)
    out_image, _ = build_augmentation(name, prob=0.3, seed=5)(image, label)
    changed = (out_image - image).abs().amax(dim=(1, 2, 3)) > 1e-4  # above resampling round-off
    assert 0.2 < changed.float().mean() < 0.4  # binomial(300, 0.3): sd 0.026


def test_deepstack_is_built_for_the_given_dimensions():
    volume = torch.full((2, 1, 16, 16, 8), -1.0)
    volume[:, :, 4:12, 4:12, 2:6] = 0.5
    label = (volume[:, 0] > 0).to(torch.uint8)
    out_image, out_label = build_augmentation("deepstack", seed=1, spatial_dims=3)(volume, label)
    assert out_image.shape == volume.shape and out_label.shape == label.shape
    with pytest.raises(ValueError, match="spatial axes"):  # a 3D stack refuses 2D batches
        build_augmentation("deepstack", spatial_dims=3)(*bar_batch(batch=2))


@pytest.mark.parametrize("name", ["contrast", "noise"])
def test_intensity_baselines_keep_the_label(name):
    image, label = square_batch()
    out_image, out_label = build_augmentation(name, prob=1.0, seed=2)(image, label)
    assert torch.equal(out_label, label)
    assert not torch.equal(out_image, image)


@pytest.mark.parametrize("name", ["rotate", "scale"])
def test_geometric_baselines_keep_the_histogram(name):
    image, label = square_batch()
    out_image, out_label = build_augmentation(name, prob=1.0, seed=3)(image, label)
    assert not torch.equal(out_label, label)
    # Same intensities, moved: a +-5 deg / 0.95-1.05 warp keeps the bright area within 15 %.
    bright, out_bright = (image > 0).sum(), (out_image > 0).sum()
    assert abs(out_bright - bright) / bright < 0.15
    assert out_image.min() >= -1 - 1e-6 and out_image.max() <= 1 + 1e-6
    assert set(out_label.unique().tolist()) <= {0, 1}


@pytest.mark.parametrize("name", ["classic", "flip", "elastic", ""])
def test_unknown_name(name):
    with pytest.raises(ValueError, match="known: none, contrast"):
        build_augmentation(name)
