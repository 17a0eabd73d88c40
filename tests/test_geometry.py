import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from radsynth.data.base import array_of, image_from_array
from radsynth.geometry import (
    Grid,
    affine_of,
    as_volume,
    check_orientation,
    register_rigid,
    reorient,
    resample,
    resized,
    respaced,
)

# An oblique direction (rotation about z, then axes permuted and one flipped): no shortcut
# through a diagonal matrix can pass the affine tests by chance.
_ANGLE = np.deg2rad(20)
_ROTATION = np.array([[np.cos(_ANGLE), -np.sin(_ANGLE), 0], [np.sin(_ANGLE), np.cos(_ANGLE), 0], [0, 0, 1]])
OBLIQUE = _ROTATION @ np.array([[0, 1, 0], [0, 0, -1], [1, 0, 0]])


def _image(shape=(6, 5, 4), spacing=(0.8, 1.2, 2.5), origin=(10.0, -20.0, 30.0), direction=np.eye(3)):
    image = image_from_array(np.arange(np.prod(shape), dtype=np.float32).reshape(shape), spacing)
    image.SetOrigin(origin)
    image.SetDirection(np.asarray(direction, dtype=float).ravel().tolist())
    return image


def _world(affine, index):
    return (affine @ [*index, 1.0])[:3]


@pytest.mark.parametrize("direction", [np.eye(3), np.diag([-1.0, -1.0, 1.0]), OBLIQUE])
def test_affine_of_matches_nibabel_reading_the_written_file(tmp_path, direction):
    image = _image(direction=direction)
    sitk.WriteImage(image, str(tmp_path / "a.nii.gz"))
    loaded = nib.load(tmp_path / "a.nii.gz")
    np.testing.assert_allclose(affine_of(image), loaded.affine, atol=1e-4)
    # and the voxels are in the same (X, Y, Z) order as nibabel's
    np.testing.assert_array_equal(array_of(image), np.asarray(loaded.dataobj))


@pytest.mark.parametrize("code", ["RAS", "LPS", "LPI", "ASR", "SRP"])
@pytest.mark.parametrize("direction", [np.eye(3), OBLIQUE])
def test_orientation_code_means_what_aff2axcodes_says(code, direction):
    turned = reorient(_image(direction=direction), code)
    assert nib.aff2axcodes(affine_of(turned)) == tuple(code)


def test_reorient_keeps_each_voxel_at_its_world_position():
    image = _image(direction=OBLIQUE)
    turned = reorient(image, "RAS")
    before, after = array_of(image), array_of(turned)
    for value in (0, 17, 119):
        old = np.argwhere(before == value)[0]
        new = np.argwhere(after == value)[0]
        np.testing.assert_allclose(_world(affine_of(turned), new), _world(affine_of(image), old), atol=1e-6)


def test_check_orientation():
    assert check_orientation("ras") == "RAS"
    for bad in ("RAX", "RRS", "RA", "LPSI"):
        with pytest.raises(ValueError, match="orientation"):
            check_orientation(bad)


def test_as_volume_turns_a_picture_into_one_slice():
    volume = as_volume(sitk.Image(5, 4, sitk.sitkFloat32))
    assert volume.GetSize() == (5, 4, 1)
    assert affine_of(volume).shape == (4, 4)


def test_respaced_keeps_origin_and_one_slice_axes():
    grid = Grid((10, 7, 1), (1.0, 1.0, 3.0), (1.0, 2.0, 3.0), np.eye(3))
    new = respaced(grid, (2.0, 0.5, 1.0))
    assert new.size == (5, 14, 1) and new.spacing == (2.0, 0.5, 3.0) and new.origin == grid.origin


def test_resized_covers_the_same_box():
    grid = Grid.of(_image(direction=OBLIQUE))
    new = resized(grid, (12, 4, 4))
    assert new.size == (12, 4, 4)
    # the outer corners of the first and last voxels: index -0.5 and size - 0.5
    for old, now in (([-0.5] * 3, [-0.5] * 3), (np.subtract(grid.size, 0.5), np.subtract(new.size, 0.5))):
        np.testing.assert_allclose(_world(new.affine, now), _world(grid.affine, old), atol=1e-9)


def test_bspline_resampling_is_clipped_to_the_input_range():
    step = np.zeros((12, 12, 3), np.float32)
    step[6:] = 100.0
    image = image_from_array(step)
    grid = respaced(Grid.of(image), (0.3, 0.3, 1.0))
    out = array_of(resample(image, grid, "bspline"))
    assert out.min() == 0.0 and out.max() == 100.0
    label = sitk.Cast(image, sitk.sitkInt32)
    assert set(np.unique(array_of(resample(label, grid, "nearest", default=0)))) == {0, 100}


def _texture(shape, seed=0):
    """A smooth random volume inside an off-centre ellipsoid: detail at a 2-voxel scale, so
    that a shift of a few voxels decorrelates it, and no symmetry to confuse registration."""
    noise = ndimage.gaussian_filter(np.random.default_rng(seed).normal(size=shape), (2, 2, 2 if shape[2] > 1 else 0))
    axes = np.meshgrid(*[np.linspace(-1, 1, n) if n > 1 else np.zeros(1) for n in shape], indexing="ij")
    envelope = sum(((a - c) / r) ** 2 for a, c, r in zip(axes, (0.1, -0.05, 0.0), (0.7, 0.6, 0.7))) < 1
    return ((noise - noise.min()) * envelope).astype(np.float32)


def _correlation(a, b):
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


@pytest.mark.parametrize("flat", [False, True], ids=["3d", "2d-in-3d"])
def test_register_rigid_recovers_a_known_rigid_motion(flat):
    shape, spacing = ((64, 56, 1), (1.5, 1.5, 4.0)) if flat else ((40, 36, 32), (2.0, 2.0, 2.5))
    fixed = image_from_array(_texture(shape), spacing)
    # RAS-like axes and an offset origin, so the in-plane lift back to 3D is exercised
    fixed.SetDirection([-1, 0, 0, 0, -1, 0, 0, 0, 1])
    fixed.SetOrigin((50.0, 30.0, -12.0))
    centre = fixed.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in shape])
    motion = sitk.Euler3DTransform(centre)
    motion.SetRotation(0.0, 0.0, np.deg2rad(7)) if flat else motion.SetRotation(0.05, -0.04, np.deg2rad(7))
    motion.SetTranslation((3.0, -2.5, 0.0) if flat else (3.0, -2.5, 2.0))
    moving = resample(fixed, Grid.of(fixed), "linear", motion, default=0.0)  # moving(p) = fixed(motion(p))

    found = register_rigid(fixed, moving)

    assert _correlation(array_of(moving), array_of(fixed)) < 0.9
    aligned = resample(moving, Grid.of(fixed), "linear", found, default=0.0)
    assert _correlation(array_of(aligned), array_of(fixed)) > 0.95
    # found should undo motion: motion(found(p)) == p within a voxel, all over the volume
    corners = np.array(np.meshgrid(*[[0, n - 1] for n in shape], indexing="ij")).reshape(3, -1).T
    for index in corners:
        point = fixed.TransformContinuousIndexToPhysicalPoint(index.astype(float).tolist())
        error = np.abs(np.subtract(motion.TransformPoint(found.TransformPoint(point)), point))
        assert (error < np.array(spacing)).all(), (index, error)
    again = register_rigid(fixed, moving)
    assert again.TransformPoint(centre) == found.TransformPoint(centre)  # bit for bit
