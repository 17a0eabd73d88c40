"""RegGAN misalignment: matrices, fields, warping and agreement with MONAI's Warp."""

import warnings

import numpy as np
import pytest
from scipy.ndimage import binary_erosion, center_of_mass, gaussian_filter
from scipy.spatial.transform import Rotation

from radsynth.translation.elastic import (
    INVERSE_TOL,
    control_shape,
    control_spacing,
    elastic_at,
    elastic_field,
    random_elastic,
)
from radsynth.translation.misalign import (
    _grid,
    affine_field,
    affine_matrix,
    misalign_pair,
    misalign_volume,
    misalign_with,
    pair_field,
    pair_matrices,
    random_affine,
    sampling_field,
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


# --- elastic part -------------------------------------------------------------------------


def _old_affine_pair(source, target, level, rng, mask=None, fill=-1.0):
    """The affine-only misalign_pair as it was before the elastic option, from its primitives."""
    a_source, a_target = pair_matrices(level, source.shape, rng)
    moved = [
        warp(x, affine_field(a, x.shape), 1, fill)
        for x, a in ((source, a_source), (target, a_target))
    ]
    moved_mask = None if mask is None else warp(mask, affine_field(a_target, mask.shape), 0, 0)
    if level == 0:
        field = np.zeros((source.ndim, *source.shape))
    else:
        field = affine_field(np.linalg.solve(a_source, a_target), source.shape)
    return (*moved, field.astype(np.float32), moved_mask)


@pytest.mark.parametrize("level", [0, 4])
def test_elastic_zero_is_the_old_affine_path_byte_for_byte(level):
    image, inside = _smooth_image((33, 40), seed=level)
    mask = inside.astype(np.uint8)
    new = misalign_pair(image, image[::-1], level, np.random.default_rng(9), mask=mask, elastic=0.0)
    old = _old_affine_pair(image, image[::-1], level, np.random.default_rng(9), mask=mask)
    for a, b in zip(new, old):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def test_elastic_zero_matches_results_stored_before_the_elastic_option():
    # Computed with the affine-only module (before ``elastic`` existed), same seeds.
    image = np.linspace(-1, 1, 63).reshape(7, 9)
    out = misalign_pair(
        image, image[::-1], 4, np.random.default_rng(2024), mask=(image > 0).astype(np.uint8)
    )
    np.testing.assert_allclose(
        out.field[:, 3, ::2],
        [
            [
                -0.0452633835375309,
                0.05337683856487274,
                0.15201705694198608,
                0.2506572902202606,
                0.34929749369621277,
            ],
            [
                -0.03773802891373634,
                0.16867750883102417,
                0.3750930428504944,
                0.5815085768699646,
                0.7879241108894348,
            ],
        ],
        rtol=0,
        atol=1e-7,
    )
    np.testing.assert_allclose(
        out.source[2],
        [
            -0.3278228894462701,
            -0.2902480269910507,
            -0.25267316453583133,
            -0.21509830208061206,
            -0.17752343962539271,
            -0.13994857717017342,
            -0.10237371471495411,
            -0.0647988522597348,
            -0.1210618443079572,
        ],
        rtol=0,
        atol=1e-12,
    )
    assert out.mask.sum() == 25
    sums = [out.source.sum(), out.target.sum(), out.field.astype(np.float64).sum()]
    np.testing.assert_allclose(
        sums, [2.3401145666319874, -12.522924212564366, 33.20793588820379], atol=1e-5
    )
    volume = np.linspace(-1, 1, 5 * 6 * 4).reshape(5, 6, 4)
    stored = {
        2: [-7.709140588694266, -6.4309838466156695, 24.48813337337924],
        3: [-20.475454679940505, -12.025979297437154, 29.11523986580869],
    }
    for dims, expected in stored.items():
        v = misalign_volume(volume, -volume, 3, np.random.default_rng(7), spatial_dims=dims)
        sums = [v.source.sum(), v.target.sum(), v.field.astype(np.float64).sum()]
        np.testing.assert_allclose(sums, expected, atol=1e-5)


def test_elastic_coefficients_peak_and_smoothness():
    shape = (128, 96)
    coefficients = random_elastic(5.0, shape, np.random.default_rng(0))
    assert coefficients.shape == (2, *control_shape(shape)) == (2, 9, 9)
    dense = elastic_field(coefficients, shape)
    # The peak displacement length over the image is the requested one.
    assert np.sqrt((dense**2).sum(0)).max() == pytest.approx(5.0, rel=1e-12)
    # Smooth: control points a quarter image apart bound slope and curvature by the peak over
    # the spacing (per pixel), not by pixel-scale noise.
    spacing = control_spacing(shape).min()
    assert max(np.abs(np.diff(dense, axis=a)).max() for a in (1, 2)) < 1.5 * 5.0 / spacing
    assert max(np.abs(np.diff(dense, 2, axis=a)).max() for a in (1, 2)) < 4 * 5.0 / spacing**2
    # The scattered evaluation (used by the inversion) is the same spline, taps clamped alike.
    np.testing.assert_allclose(elastic_at(coefficients, shape, _grid(shape)), dense, atol=1e-12)
    outside = np.random.default_rng(1).uniform(-200, 300, size=(2, 500))
    spacing = (np.array(shape) - 1) / 4
    u = outside / spacing[:, None] + 2  # control coordinates; clamped taps by hand:
    base = np.floor(u).astype(int)
    t = u - base
    w = [
        (1 - t) ** 3 / 6,
        (3 * t**3 - 6 * t**2 + 4) / 6,
        (-3 * t**3 + 3 * t**2 + 3 * t + 1) / 6,
        t**3 / 6,
    ]
    by_hand = 0
    for i in range(4):
        for j in range(4):
            index = (np.clip(base[0] + i - 1, 0, 8), np.clip(base[1] + j - 1, 0, 8))
            by_hand = by_hand + w[i][0] * w[j][1] * coefficients[:, index[0], index[1]]
    np.testing.assert_allclose(elastic_at(coefficients, shape, outside), by_hand, atol=1e-12)


@pytest.mark.parametrize("shape", [(128, 128), (40, 36, 32)])
def test_elastic_field_registers_moved_source_onto_moved_target(shape):
    image, inside = _smooth_image(shape)
    level, elastic = (5, 6.0) if len(shape) == 2 else (3, 3.0)
    out = misalign_pair(image, image, level, np.random.default_rng(4), mask=inside, elastic=elastic)
    affine = misalign_pair(image, image, level, np.random.default_rng(4), mask=inside)
    # Same matrices (drawn first), plus an elastic part of about ``elastic`` pixels.
    difference = np.sqrt(((out.field - affine.field) ** 2).sum(0))
    assert 0.3 * elastic < difference.max() < 2.5 * elastic
    registered = warp(out.source, out.field)
    core = binary_erosion(out.mask.astype(bool), iterations=3)
    assert core.sum() > 200
    error = np.abs(registered - out.target)[core]
    # Same bound as the affine-only test: two bilinear resamplings, nothing from the inverse.
    assert error.max() < 0.05
    assert np.abs(out.source - out.target)[core].mean() > 5 * error.mean()
    # The stored field is smooth: its elastic part varies on the control-grid scale.
    spacing, axes = control_spacing(shape).min(), range(1, len(shape) + 1)
    assert (
        max(np.abs(np.diff(out.field - affine.field, axis=a)).max() for a in axes)
        < 2 * elastic / spacing
    )
    assert (
        max(np.abs(np.diff(out.field - affine.field, 2, axis=a)).max() for a in axes)
        < 8 * elastic / spacing**2
    )


def test_elastic_inverse_is_accurate():
    shape = (64, 80)
    rng = np.random.default_rng(3)
    a_source, a_target = pair_matrices(5, shape, rng)
    e_source, e_target = random_elastic(8.0, shape, rng), random_elastic(8.0, shape, rng)
    field = pair_field(a_source, a_target, shape, e_source, e_target)
    # S_s(p + f(p)) = S_t(p): the residual is the fixed-point tolerance, not interpolation.
    points = _grid(shape) + field
    mapped = np.tensordot(a_source[:2, :2], points, 1) + a_source[:2, 2, None, None]
    mapped += elastic_at(e_source, shape, points)
    target = _grid(shape) + sampling_field(a_target, shape, e_target)
    assert np.abs(mapped - target).max() < INVERSE_TOL
    # Elastic on one side only is handled too (affine inverse or one inversion).
    only_target = pair_field(a_source, a_target, shape, None, e_target)
    np.testing.assert_allclose(
        only_target,
        pair_field(a_source, a_target, shape)
        + np.tensordot(np.linalg.inv(a_source)[:2, :2], elastic_field(e_target, shape), 1),
        atol=1e-9,
    )


def test_elastic_is_deterministic_and_level_zero_shares_it():
    image, inside = _smooth_image((48, 48))
    first = misalign_pair(image, image, 3, np.random.default_rng(5), mask=inside, elastic=3.0)
    second = misalign_pair(image, image, 3, np.random.default_rng(5), mask=inside, elastic=3.0)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    other = misalign_pair(image, image, 3, np.random.default_rng(6), elastic=3.0)
    assert not np.array_equal(first.field, other.field)
    # Level 0: one shared affine + elastic draw: identical images in, identical out, field 0.
    zero = misalign_pair(image, image, 0, np.random.default_rng(5), mask=inside, elastic=3.0)
    np.testing.assert_array_equal(zero.field, 0)
    np.testing.assert_array_equal(zero.source, zero.target)
    assert not np.array_equal(
        zero.source, misalign_pair(image, image, 0, np.random.default_rng(5)).source
    )


def test_elastic_volume_slicewise_draws_per_slice():
    volume = np.random.default_rng(0).uniform(-1, 1, size=(20, 24, 3))
    out = misalign_volume(volume, volume, 2, np.random.default_rng(5), elastic=2.0)
    rng = np.random.default_rng(5)
    for k in range(3):
        pair = misalign_pair(volume[..., k], volume[..., k], 2, rng, elastic=2.0)
        np.testing.assert_array_equal(out.source[..., k], pair.source)
        np.testing.assert_array_equal(out.field[..., k, :], np.moveaxis(pair.field, 0, -1))


def test_misalign_with_and_errors():
    image, _ = _smooth_image((32, 32))
    a = affine_matrix(image.shape, 3.0, (1.0, -2.0), 1.01)
    out = misalign_with(image, image, a, a)
    np.testing.assert_array_equal(out.field, 0)
    with pytest.raises(ValueError, match="elastic"):
        misalign_pair(image, image, 1, np.random.default_rng(0), elastic=-1.0)
    # A displacement far beyond the control spacing folds: no inverse, a clear error.
    with pytest.raises(ValueError, match="invert"):
        misalign_pair(image, image, 1, np.random.default_rng(0), elastic=40.0)
