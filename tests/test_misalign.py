"""RegGAN misalignment: matrices, fields, warping and agreement with MONAI's Warp."""

import warnings

import numpy as np
import pytest
from scipy.ndimage import binary_erosion, center_of_mass, gaussian_filter
from scipy.spatial.transform import Rotation

from radsynth.misalign import (
    affine_field,
    affine_matrix,
    misalign_pair,
    misalign_volume,
    pair_matrices,
    random_affine,
    warp,
)


def _square(shape=(64, 64), lo=24, hi=40):
    image = -np.ones(shape)
    image[lo:hi, lo:hi] = 1.0
    return image


def _smooth_image(shape, seed=0):
    """A smooth foreground blob in [-1, 1] with background -1 and texture inside."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij"))
    inside = (grid**2).sum(0) < 0.5
    texture = gaussian_filter(rng.normal(size=shape), 4)
    texture = texture / np.abs(texture).max()
    image = np.where(inside, 0.5 * texture, -1.0)
    return gaussian_filter(image, 1.5), inside


def _motion(matrix):
    """Content motion (rotation, translation about the centre, scale) of a sampling matrix."""
    ndim = matrix.shape[0] - 1
    forward = np.linalg.inv(matrix)
    linear = forward[:ndim, :ndim]
    scale = abs(np.linalg.det(linear)) ** (1 / ndim)
    return linear / scale, forward[:ndim, ndim], scale


def test_translation_moves_square_by_known_offset():
    image = _square()
    matrix = affine_matrix(image.shape, 0.0, (5.0, -3.0), 1.0)
    moved = warp(image, affine_field(matrix, image.shape))
    before = center_of_mass(image > 0)
    after = center_of_mass(moved > 0)
    np.testing.assert_allclose(np.subtract(after, before), (5.0, -3.0), atol=1e-9)
    # Integer shift + bilinear = exact copy; uncovered pixels get the background.
    np.testing.assert_array_equal(moved[29:45, 21:37], 1.0)
    assert moved[0, 63] == -1.0


def test_rotation_and_scale_move_square_as_expected():
    image = -np.ones((64, 64))
    image[18:22, 30:34] = 1.0  # centred at (19.5, 31.5); image centre (31.5, 31.5)
    matrix = affine_matrix(image.shape, 90.0, (0.0, 0.0), 1.5)
    moved = warp(image, affine_field(matrix, image.shape))
    # Offset (-12, 0) from the centre: rotated 90 deg (axis 0 -> axis 1) and scaled 1.5.
    rotation = Rotation.from_euler("Z", 90, degrees=True).as_matrix()[:2, :2]
    expected = np.array([31.5, 31.5]) + 1.5 * rotation @ np.array([-12.0, 0.0])
    np.testing.assert_allclose(center_of_mass(moved + 1), expected, atol=0.1)
    np.testing.assert_allclose(expected, (31.5, 13.5))  # content at -axis 0 went to -axis 1
    # The square grew: its area scales by 1.5^2.
    assert (moved + 1).sum() / 2 == pytest.approx(16 * 1.5**2, rel=0.05)


@pytest.mark.parametrize("level", [0, 1, 5])
def test_random_draws_stay_within_bounds_2d(level):
    rng = np.random.default_rng(level)
    shape = (256, 200)
    strength = max(level, 1)
    angles, shifts, scales = [], [], []
    for _ in range(300):
        rotation, translation, scale = _motion(random_affine(level, shape, rng))
        assert np.allclose(rotation @ rotation.T, np.eye(2))
        angles.append(np.degrees(np.arctan2(rotation[1, 0], rotation[0, 0])))
        centre = (np.array(shape) - 1) / 2
        shifts.append((translation - (centre - scale * rotation @ centre)) / np.array(shape))
        scales.append(scale)
    angles, shifts, scales = np.array(angles), np.array(shifts), np.array(scales)
    assert np.abs(angles).max() <= strength + 1e-9
    assert np.abs(shifts).max() <= 0.02 * strength + 1e-12
    assert np.abs(scales - 1).max() <= 0.02 * strength + 1e-12
    # Uniform draws actually use most of the range (not e.g. a fixed or tiny value).
    assert np.abs(angles).max() > 0.9 * strength
    assert np.abs(shifts).max(axis=0).min() > 0.9 * 0.02 * strength
    assert np.abs(scales - 1).max() > 0.9 * 0.02 * strength


def test_random_draws_stay_within_bounds_3d():
    rng = np.random.default_rng(3)
    shape = (40, 50, 30)
    level = 4
    for _ in range(100):
        rotation, translation, scale = _motion(random_affine(level, shape, rng))
        angles = Rotation.from_matrix(rotation).as_euler("XYZ", degrees=True)
        centre = (np.array(shape) - 1) / 2
        shift = (translation - (centre - scale * rotation @ centre)) / np.array(shape)
        assert np.abs(angles).max() <= level + 1e-6
        assert np.abs(shift).max() <= 0.02 * level + 1e-12
        assert abs(scale - 1) <= 0.02 * level + 1e-12


def test_level_zero_shares_one_draw_and_has_zero_field():
    image, inside = _smooth_image((48, 48))
    a_source, a_target = pair_matrices(0, image.shape, np.random.default_rng(1))
    assert a_source is a_target
    assert not np.allclose(a_source, np.eye(3))  # a mild motion, not the identity
    out = misalign_pair(image, image, 0, np.random.default_rng(1), mask=inside.astype(np.uint8))
    np.testing.assert_array_equal(out.field, 0)
    np.testing.assert_array_equal(out.source, out.target)
    np.testing.assert_array_equal(out.source, warp(image, affine_field(a_source, image.shape)))
    assert out.field.dtype == np.float32 and out.field.shape == (2, 48, 48)


def test_field_registers_moved_source_onto_moved_target():
    image, inside = _smooth_image((96, 96))
    out = misalign_pair(image, image, 5, np.random.default_rng(7), mask=inside.astype(np.uint8))
    assert np.abs(out.field).max() > 2  # level 5 really moves things
    registered = warp(out.source, out.field)
    # Compare inside the moved target's foreground, away from its edge (where two bilinear
    # resamplings blur the -1 background into the blob).
    core = out.mask.astype(bool)
    core = binary_erosion(core, iterations=3)
    assert core.sum() > 500
    error = np.abs(registered - out.target)[core]
    assert error.max() < 0.05
    # Without registration the pair is visibly misaligned.
    assert np.abs(out.source - out.target)[core].mean() > 5 * error.mean()


def test_same_seed_same_result():
    image, inside = _smooth_image((40, 40))
    first = misalign_pair(image, image, 3, np.random.default_rng(11), mask=inside)
    second = misalign_pair(image, image, 3, np.random.default_rng(11), mask=inside)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    other = misalign_pair(image, image, 3, np.random.default_rng(12))
    assert not np.array_equal(first.field, other.field)


@pytest.mark.parametrize("axis", [0, 2])
def test_volume_slicewise(axis):
    volume = np.random.default_rng(0).uniform(-1, 1, size=(20, 24, 6))
    mask = (volume > 0).astype(np.uint8)
    out = misalign_volume(volume, volume, 2, np.random.default_rng(5), axis=axis, mask=mask)
    assert out.source.shape == out.target.shape == out.mask.shape == volume.shape
    assert out.field.shape == (*volume.shape, 2) and out.field.dtype == np.float32
    # Slice k equals misalign_pair on slice k with the generator advanced by the earlier slices.
    rng = np.random.default_rng(5)
    for k in range(volume.shape[axis]):
        pair = misalign_pair(
            np.take(volume, k, axis), np.take(volume, k, axis), 2, rng, mask=np.take(mask, k, axis)
        )
        np.testing.assert_array_equal(np.take(out.source, k, axis), pair.source)
        np.testing.assert_array_equal(np.take(out.mask, k, axis), pair.mask)
        np.testing.assert_array_equal(np.take(out.field, k, axis), np.moveaxis(pair.field, 0, -1))


def test_volume_3d_mode():
    image, inside = _smooth_image((32, 32, 24))
    out = misalign_volume(image, image, 3, np.random.default_rng(2), spatial_dims=3, mask=inside)
    assert out.field.shape == (32, 32, 24, 3)
    registered = warp(out.source, np.moveaxis(out.field, -1, 0))
    core = binary_erosion(out.mask.astype(bool), iterations=3)
    assert core.sum() > 100
    assert np.abs(registered - out.target)[core].max() < 0.05


def test_warp_labels_nearest_keeps_label_values():
    label = np.zeros((30, 30), np.uint8)
    label[5:15, 5:15] = 2
    label[15:25, 10:20] = 1
    field = affine_field(affine_matrix(label.shape, 13.0, (1.3, -2.2), 1.1), label.shape)
    moved = warp(label, field, order=0, fill=0)
    assert moved.dtype == np.uint8
    assert set(np.unique(moved)) <= {0, 1, 2}


def test_warp_matches_monai_warp():
    torch = pytest.importorskip("torch")
    from monai.networks.blocks import Warp

    rng = np.random.default_rng(0)
    shape = (40, 36)
    image = rng.uniform(-1, 1, size=shape)
    field = np.stack([60 * gaussian_filter(rng.normal(size=shape), 6) for _ in range(2)])
    field += affine_field(affine_matrix(shape, 7.0, (2.5, -1.5), 1.05), shape)
    assert np.abs(field).max() > 2
    ours = warp(image, field, order=1, fill=-1.0)
    # MONAI pads with zeros: shift the background to 0, warp, shift back (CONTRIBUTING.md).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Using PyTorch native grid_sample" on CPU builds
        monai_warp = Warp(mode="bilinear", padding_mode="zeros")
    monai = monai_warp(torch.from_numpy(image + 1)[None, None], torch.from_numpy(field)[None])
    monai = monai[0, 0].numpy() - 1
    np.testing.assert_allclose(ours[3:-3, 3:-3], monai[3:-3, 3:-3], atol=1e-6)
    # The edge handling agrees too (both blend towards the fill value).
    np.testing.assert_allclose(ours, monai, atol=1e-6)

