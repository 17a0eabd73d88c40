import numpy as np
import pytest

from radsynth.preprocess import (
    crop_or_pad,
    foreground_mask,
    foreground_slices,
    normalise_intensity,
    preprocess_subject,
    window_around_foreground,
)


def test_normalise_maps_percentiles_to_unit_range_and_background_to_minus_one():
    image = np.zeros((10, 10), np.float32)
    image[2:8, 2:8] = np.linspace(100, 200, 36).reshape(6, 6)
    mask = image > 0
    out = normalise_intensity(image, mask, percentiles=(0, 100))
    assert out[~mask].tolist() == [-1.0] * int((~mask).sum())
    assert out[mask].min() == pytest.approx(-1.0)
    assert out[mask].max() == pytest.approx(1.0)
    assert out.dtype == np.float32


def test_normalise_clips_outliers():
    image = np.ones((20, 20), np.float32)
    image[0, 0] = 1e6
    out = normalise_intensity(image + np.arange(400).reshape(20, 20), np.ones((20, 20)), (1, 99))
    assert out.max() <= 1.0 and out.min() >= -1.0


def test_crop_or_pad_crops_and_pads_with_fill():
    array = np.arange(16).reshape(4, 4)
    out = crop_or_pad(array, start=(-1, 2), size=(3, 3), fill=-7)
    assert out.tolist() == [[-7, -7, -7], [2, 3, -7], [6, 7, -7]]


def test_crop_or_pad_keeps_trailing_axes():
    out = crop_or_pad(np.ones((5, 5, 3)), start=(0, 0), size=(8, 2), fill=0)
    assert out.shape == (8, 2, 3)
    assert out[5:].sum() == 0


def test_window_is_centred_on_foreground():
    mask = np.zeros((20, 20), np.uint8)
    mask[10:14, 2:6] = 1
    assert window_around_foreground(mask, (8, 8)) == [8, 0]


def test_preprocess_subject_shifts_affine_with_the_crop():
    rng = np.random.default_rng(0)
    shape = (40, 30, 5)
    mask = np.zeros(shape, np.uint8)
    mask[10:30, 5:25] = 1
    image = rng.uniform(10, 20, shape).astype(np.float32) * mask
    affine = np.diag([2.0, 2.0, 3.0, 1.0])
    subject = preprocess_subject({"t1": image}, mask, mask, affine, size=(32, 32))
    assert subject.images["t1"].shape == (32, 32, 5)
    # world position of a voxel is unchanged by the crop
    found = np.argwhere(subject.mask > 0)[0]
    original = found + np.array([*window_around_foreground(mask, (32, 32)), 0])
    np.testing.assert_allclose(subject.affine @ [*found, 1], affine @ [*original, 1])
    assert subject.mask[tuple(found)] == 1 and mask[tuple(original)] == 1
    assert subject.images["t1"][subject.mask == 0].max() == -1.0


def test_foreground_mask_finds_the_object():
    image = np.zeros((30, 30), np.float32)
    image[5:20, 5:20] = 10
    image[10:12, 10:12] = 0  # a hole is filled
    mask = foreground_mask([image])
    assert mask[5:20, 5:20].all() and mask.sum() == 15 * 15


def test_foreground_slices():
    mask = np.zeros((4, 4, 3))
    mask[:, :, 1] = 1
    mask[0, 0, 2] = 1
    assert foreground_slices(mask, 0.5).tolist() == [1]
    assert foreground_slices(mask, 0.01).tolist() == [1, 2]
