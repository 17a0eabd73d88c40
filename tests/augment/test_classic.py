"""Classic augmentation: labels stay integer classes and follow the image geometry."""

import numpy as np
import pytest
import torch
from monai.transforms import AdjustContrast

from radsynth.augment import classic_augmentation

torch.set_num_threads(1)


def square_batch(batch=8, size=32):
    """Background -1, a bright square labelled 1."""
    label = torch.zeros(batch, size, size, dtype=torch.uint8)
    label[:, 8:20, 10:24] = 1
    image = torch.where(label[:, None] == 1, 1.0, -1.0)
    return image, label


def dice(a, b):
    a, b = a.bool(), b.bool()
    return 2 * (a & b).sum().item() / (a.sum() + b.sum()).item()


@pytest.mark.parametrize(
    "names", [None, ["rotate"], ["scale"], ["flip"], ["rotate", "scale", "flip"]]
)
def test_labels_binary_and_aligned(names):
    image, label = square_batch()
    out_image, out_label = classic_augmentation(names, prob=1.0, seed=1)(image, label)
    assert out_image.shape == image.shape and out_label.shape == label.shape
    assert out_label.dtype == torch.uint8
    assert set(out_label.unique().tolist()) <= {0, 1}
    for i in range(len(image)):
        assert dice(out_image[i, 0] > 0, out_label[i]) > 0.9


def test_geometry_changes_and_border_is_background():
    image, label = square_batch()
    out_image, out_label = classic_augmentation(["rotate", "scale"], prob=1.0, seed=2)(
        image, label
    )
    assert not torch.equal(out_label, label)
    assert torch.allclose(out_image[:, :, 0, 0], torch.tensor(-1.0))


def test_probability_zero_is_identity():
    image, label = square_batch()
    out_image, out_label = classic_augmentation(None, prob=0.0)(image, label)
    assert torch.allclose(out_image, image, atol=1e-6)
    assert torch.equal(out_label, label)


def test_same_seed_same_draws():
    image, label = square_batch()
    first = classic_augmentation(None, prob=0.5, seed=3)(image, label)
    second = classic_augmentation(None, prob=0.5, seed=3)(image, label)
    assert all(torch.equal(a, b) for a, b in zip(first, second))


def test_contrast_matches_monai():
    image = torch.linspace(-1, 1, 32 * 32).reshape(1, 1, 32, 32)
    augment = classic_augmentation(["contrast"], prob=1.0, seed=4)
    out, _ = augment(image, None)
    # Recover the drawn gamma from one pixel and compare every pixel with MONAI's transform.
    x, y = (image[0, 0, 10, 10] + 1) / 2, (out[0, 0, 10, 10] + 1) / 2
    gamma = float(torch.log(y) / torch.log(x))
    assert 0.75 <= gamma <= 1.25
    expected = AdjustContrast(gamma)(image[0])
    assert torch.allclose(out[0], torch.as_tensor(np.asarray(expected)), atol=1e-4)


def test_noise_keeps_labels():
    image, label = square_batch()
    out_image, out_label = classic_augmentation(["noise"], prob=1.0, seed=5)(
        image, label
    )
    assert torch.equal(out_label, label) and not torch.equal(out_image, image)


def test_sdf_follows_flips():
    image, label = square_batch(batch=4)
    sdf = torch.randn(4, 1, 32, 32)
    out_image, _, out_sdf = classic_augmentation(["flip"], prob=1.0)(image, label, sdf)
    # prob 1 flips every axis: the SDF is flipped exactly like the image.
    assert torch.equal(out_sdf, sdf.flip(2, 3)) and torch.equal(
        out_image, image.flip(2, 3)
    )


def test_volumes():
    label = torch.zeros(2, 16, 16, 8, dtype=torch.uint8)
    label[:, 4:12, 4:12, 2:6] = 1
    image = torch.where(label[:, None] == 1, 1.0, -1.0)
    out_image, out_label = classic_augmentation(None, prob=1.0)(image, label)
    assert out_image.shape == image.shape and set(out_label.unique().tolist()) <= {0, 1}


def test_unknown_name():
    with pytest.raises(ValueError, match="unknown"):
        classic_augmentation(["elastic"])
