"""On-device per-epoch redraw: agreement with the NumPy path, law of the draws, reproducibility."""

import warnings

import numpy as np
import pytest
from scipy.ndimage import binary_erosion
from scipy.spatial.transform import Rotation

torch = pytest.importorskip("torch")

from radsynth.translation import elastic as E
from radsynth.translation import misalign as M
from radsynth.translation import misalign_torch as T
from tests.translation.test_misalign import _motion, _smooth_image


def _t(array):
    return None if array is None else torch.from_numpy(np.ascontiguousarray(array))[None]


def test_rotations_and_matrices_match_numpy():
    rng = np.random.default_rng(0)
    for shape, n_angles in (((50, 40), 1), ((30, 40, 20), 3)):
        angles = rng.uniform(-30, 30, size=(5, n_angles))
        translation = rng.uniform(-4, 4, size=(5, len(shape)))
        scale = rng.uniform(0.9, 1.1, size=5)
        ours = T.affine_matrices(shape, *map(torch.from_numpy, (angles, translation, scale)))
        for k in range(5):
            expected = M.affine_matrix(shape, angles[k], translation[k], scale[k])
            np.testing.assert_allclose(ours[k].numpy(), expected, atol=1e-12)
    rotation = T.rotation_matrices(torch.tensor([[10.0, -20.0, 30.0]], dtype=torch.float64))[0]
    expected = Rotation.from_euler("XYZ", [10, -20, 30], degrees=True).as_matrix()
    np.testing.assert_allclose(rotation.numpy(), expected, atol=1e-12)


@pytest.mark.parametrize("shape", [(40, 36), (20, 24, 18)])
@pytest.mark.parametrize("elastic", [0.0, 3.0])
def test_transform_pair_matches_numpy_for_the_same_transforms(shape, elastic):
    rng = np.random.default_rng(0)
    source, target = rng.uniform(-1, 1, size=shape), rng.uniform(-1, 1, size=shape)
    mask = (target > 0).astype(np.uint8)
    a_source, a_target = M.random_affine(4, shape, rng), M.random_affine(4, shape, rng)
    e_source = e_target = None
    if elastic:
        e_source, e_target = E.random_elastic(elastic, shape, rng), E.random_elastic(
            elastic, shape, rng
        )
    expected = M.misalign_with(source, target, a_source, a_target, e_source, e_target, mask)
    ours = T.transform_pair(
        _t(source)[None],
        _t(target)[None],
        _t(a_source),
        _t(a_target),
        _t(e_source),
        _t(e_target),
        mask=_t(mask)[None],
    )
    # Same bilinear sampling in float64: equal to rounding.
    np.testing.assert_allclose(ours[0][0, 0].numpy(), expected.source, atol=1e-10)
    np.testing.assert_allclose(ours[1][0, 0].numpy(), expected.target, atol=1e-10)
    # The stored field is float32; the inverse of the elastic part converges to 1e-4 pixels.
    np.testing.assert_allclose(
        ours[2][0].numpy(), expected.field, atol=1e-6 if not elastic else 1e-4
    )
    # Nearest-neighbour ties may round differently; none occur in practice.
    assert ours[3].dtype == torch.uint8
    assert (ours[3][0, 0].numpy() != expected.mask).mean() < 1e-3
    # The dense elastic field and the scattered spline evaluation match NumPy's too.
    if elastic:
        np.testing.assert_allclose(
            T.elastic_field(_t(e_source), shape)[0].numpy(),
            E.elastic_field(e_source, shape),
            atol=1e-12,
        )
        points = np.random.default_rng(1).uniform(-30, 60, size=(len(shape), *shape))
        np.testing.assert_allclose(
            T.elastic_at(_t(e_source), shape, _t(points))[0].numpy(),
            E.elastic_at(e_source, shape, points),
            atol=1e-10,
        )


@pytest.mark.parametrize("level", [0, 1, 5])
def test_random_matrices_have_the_numpy_law(level):
    generator = torch.Generator().manual_seed(level)
    shape = (256, 200)
    strength = max(level, 1)
    matrices = T.random_matrices(level, shape, 400, generator).numpy()
    angles, shifts, scales = [], [], []
    centre = (np.array(shape) - 1) / 2
    for matrix in matrices:
        rotation, translation, scale = _motion(matrix)
        angles.append(np.degrees(np.arctan2(rotation[1, 0], rotation[0, 0])))
        shifts.append((translation - (centre - scale * rotation @ centre)) / np.array(shape))
        scales.append(scale)
    angles, shifts, scales = np.array(angles), np.array(shifts), np.array(scales)
    for values, bound in (
        (angles, strength),
        (shifts, 0.02 * strength),
        (scales - 1, 0.02 * strength),
    ):
        assert np.abs(values).max() <= bound * (1 + 1e-9)
        assert np.abs(values).max(axis=0).min() > 0.9 * bound
    # 3D: three Euler angles, each within +-L (as random_affine), not only an axial one.
    matrices = T.random_matrices(4, (40, 50, 30), 200, generator).numpy()
    euler = np.array(
        [Rotation.from_matrix(_motion(m)[0]).as_euler("XYZ", degrees=True) for m in matrices]
    )
    assert np.abs(euler).max() <= 4 + 1e-6
    assert np.abs(euler).max(axis=0).min() > 3.5


def test_redraw_is_reproducible_and_independent_per_sample():
    image, _ = _smooth_image((32, 32))
    batch = torch.from_numpy(image).float().expand(4, 1, 32, 32)
    first = T.redraw_batch(batch, batch, 3, torch.Generator().manual_seed(0), elastic=2.0)
    second = T.redraw_batch(batch, batch, 3, torch.Generator().manual_seed(0), elastic=2.0)
    for a, b in zip(first, second):
        assert torch.equal(a, b)
    other = T.redraw_batch(batch, batch, 3, torch.Generator().manual_seed(1), elastic=2.0)
    assert not torch.equal(first[2], other[2])
    # Fresh draws per sample and per call (a new epoch continues the same generator).
    assert not torch.equal(first[2][0], first[2][1])
    generator = torch.Generator().manual_seed(0)
    epoch_1, epoch_2 = (T.redraw_batch(batch, batch, 3, generator) for _ in range(2))
    assert not torch.equal(epoch_1[2], epoch_2[2])
    assert first[0].dtype == first[2].dtype == torch.float32
    assert first[2].shape == (4, 2, 32, 32)


@pytest.mark.parametrize("elastic", [0.0, 2.0])
def test_redraw_level_zero_shares_one_draw(elastic):
    image, _ = _smooth_image((32, 32))
    batch = torch.from_numpy(image).expand(3, 1, 32, 32)
    source, target, field = T.redraw_batch(
        batch, batch, 0, torch.Generator().manual_seed(2), elastic
    )
    assert torch.equal(source, target)
    assert torch.count_nonzero(field) == 0
    assert not torch.allclose(source, batch)  # a mild motion, not the identity


@pytest.mark.parametrize("shape", [(96, 96), (32, 36, 28)])
@pytest.mark.parametrize("elastic", [0.0, 3.0])
def test_redraw_field_registers_moved_source_onto_moved_target(shape, elastic):
    image, inside = _smooth_image(shape)
    batch = torch.from_numpy(image).float().expand(2, 1, *shape)
    mask = torch.from_numpy(inside).expand(2, 1, *shape)
    level = 5 if len(shape) == 2 else 3
    source, target, field, moved_mask = T.redraw_batch(
        batch, batch, level, torch.Generator().manual_seed(3), elastic, mask=mask
    )
    assert moved_mask.dtype == torch.bool and field.shape == (2, len(shape), *shape)
    registered = T.warp(source, field)
    for k in range(2):
        core = binary_erosion(moved_mask[k, 0].numpy(), iterations=3)
        assert core.sum() > 100
        error = (registered - target)[k, 0].abs().numpy()[core]
        assert error.max() < 0.05
        assert (source - target)[k, 0].abs().numpy()[core].mean() > 5 * error.mean()


def test_warp_matches_monai_and_numpy():
    from monai.networks.blocks import Warp

    rng = np.random.default_rng(0)
    shape = (20, 24, 18)
    image = rng.uniform(-1, 1, size=shape)
    field = M.sampling_field(
        M.random_affine(5, shape, rng), shape, E.random_elastic(3.0, shape, rng)
    )
    ours = T.warp(_t(image)[None], _t(field))[0, 0].numpy()
    np.testing.assert_allclose(ours, M.warp(image, field), atol=1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        monai = Warp(mode="bilinear", padding_mode="zeros")(_t(image + 1)[None], _t(field))
    np.testing.assert_allclose(ours, monai[0, 0].numpy() - 1, atol=1e-10)


def test_redraw_on_cuda_with_a_cpu_generator():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    image, _ = _smooth_image((64, 64))
    batch = torch.from_numpy(image).float().expand(2, 1, 64, 64)
    cpu = T.redraw_batch(batch, batch, 4, torch.Generator().manual_seed(5), elastic=2.0)
    cuda = T.redraw_batch(
        batch.cuda(), batch.cuda(), 4, torch.Generator().manual_seed(5), elastic=2.0
    )
    assert all(x.is_cuda for x in cuda)
    for a, b in zip(cpu, cuda):
        torch.testing.assert_close(b.cpu(), a, atol=1e-3, rtol=0)


def test_redraw_rejects_bad_input():
    batch = torch.zeros(1, 1, 8, 8)
    with pytest.raises(ValueError, match="elastic"):
        T.redraw_batch(batch, batch, 1, torch.Generator(), elastic=-1.0)
    with pytest.raises(ValueError, match="level"):
        T.redraw_batch(batch, batch, -1, torch.Generator())
    with pytest.raises(ValueError, match="shape"):
        T.redraw_batch(batch, torch.zeros(1, 1, 8, 9), 1, torch.Generator())
    with pytest.raises(ValueError, match="interpolation must be 'bilinear' or 'nearest'"):
        T.redraw_batch(batch, batch, 1, torch.Generator(), interpolation="cubic")


def test_nearest_whole_pixel_translation_is_an_exact_shift():
    # Content moved by (3, -2) pixels, no rotation or scale, sampled nearest: the moved image
    # is np.roll of the input on the part that stays inside, every value one of the input's.
    image = np.random.default_rng(0).permutation(24 * 20).reshape(1, 1, 24, 20) / 480.0
    source = torch.from_numpy(image)
    shift = T.affine_matrices((24, 20), torch.zeros(1, 1, dtype=torch.float64),
                              torch.tensor([[3.0, -2.0]], dtype=torch.float64), torch.ones(1, dtype=torch.float64))
    identity = torch.eye(3, dtype=torch.float64)[None]
    moved, same, _ = T.transform_pair(source, source, shift, identity, mode="nearest")
    rolled = np.roll(image[0, 0], (3, -2), axis=(0, 1))
    np.testing.assert_array_equal(moved[0, 0, 3:, :-2].numpy(), rolled[3:, :-2])
    assert set(np.unique(moved.numpy())) <= set(np.unique(image)) | {-1.0}
    np.testing.assert_array_equal(same.numpy(), image)


def test_nearest_redraw_translates_by_whole_pixels_and_keeps_the_input_values():
    shape = (64, 48)
    loose = T.random_matrices(5, shape, 50, torch.Generator().manual_seed(3)).numpy()
    whole = T.random_matrices(5, shape, 50, torch.Generator().manual_seed(3), whole_pixels=True).numpy()
    centre = (np.array(shape) - 1) / 2
    shifts = {}
    for name, matrices in (("loose", loose), ("whole", whole)):
        forward = np.linalg.inv(matrices)  # the content motion q = c + L (p - c) + t
        linear = forward[:, :2, :2]
        shifts[name] = forward[:, :2, 2] - (centre - linear @ centre)
    # Same angles and scales; translations rounded to whole pixels as torchvision does.
    np.testing.assert_allclose(np.linalg.inv(whole)[:, :2, :2], np.linalg.inv(loose)[:, :2, :2])
    np.testing.assert_allclose(shifts["whole"], np.round(shifts["loose"]), atol=1e-9)
    assert np.abs(shifts["whole"]).max() >= 4  # up to 0.02 * 5 * 64 = 6.4 pixels

    image = torch.from_numpy(np.random.default_rng(1).permutation(64 * 48).reshape(1, 1, *shape) / 3072.0)
    batch = image.expand(4, 1, *shape)
    values = set(np.unique(image.numpy())) | {-1.0}
    nearest = T.redraw_batch(batch, batch, 5, torch.Generator().manual_seed(0), interpolation="nearest")
    assert set(np.unique(nearest[0].numpy())) <= values and set(np.unique(nearest[1].numpy())) <= values
    bilinear = T.redraw_batch(batch, batch, 5, torch.Generator().manual_seed(0))
    assert not set(np.unique(bilinear[0].numpy())) <= values  # bilinear blends neighbours
