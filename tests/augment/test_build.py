"""build_augmentation: every name builds, each single baseline changes only what it should."""

import pytest
import torch

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


def test_single_baselines_are_alone():
    assert build_augmentation("rotate").names == ["rotate"]
    assert build_augmentation("contrast", prob=0.3).prob == 0.3
    assert build_augmentation("deepstack", spatial_dims=3).spatial_dims == 3


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
