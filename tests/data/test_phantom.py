"""The procedural head phantom: determinism, contracts, anatomy and contrast."""

import numpy as np
import pytest
from scipy import ndimage

from radsynth.data.phantom import (
    RELAXATION,
    TISSUE_NAMES,
    PhantomSubject,
    make_subject,
    sequence_signal,
    subject_names,
)
from radsynth.report.figures import phantom_figure

SEED = 11


@pytest.fixture(scope="module")
def subject() -> PhantomSubject:
    # Index 0 of SEED has a lesion (checked in test_all_tissue_classes_present).
    return make_subject(0, SEED, contrasts=("t1", "t2", "flair"))


def test_subject_names():
    assert subject_names(3) == ["phantom_000", "phantom_001", "phantom_002"]
    assert subject_names(0) == []


def test_deterministic_per_seed_and_index(subject):
    again = make_subject(0, SEED, contrasts=("t1", "t2", "flair"))
    for name, image in subject.images.items():
        np.testing.assert_array_equal(image, again.images[name])
    np.testing.assert_array_equal(subject.tissue, again.tissue)
    other = make_subject(1, SEED, contrasts=("t1",))
    assert not np.array_equal(other.tissue, subject.tissue)
    assert not np.array_equal(other.images["t1"], subject.images["t1"])
    assert not np.array_equal(make_subject(0, SEED + 1, contrasts=("t1",)).tissue, subject.tissue)


def test_independent_of_other_subjects_and_contrasts(subject):
    # Made after other subjects, with fewer contrasts: the same arrays.
    for index in (3, 2):
        make_subject(index, SEED, shape=(16, 16, 8))
    alone = make_subject(0, SEED, contrasts=("t2",))
    np.testing.assert_array_equal(alone.images["t2"], subject.images["t2"])
    np.testing.assert_array_equal(alone.tissue, subject.tissue)


def test_lesion_probability_only_toggles_the_lesion(subject):
    without = make_subject(0, SEED, contrasts=("t1",), lesion_probability=0.0)
    assert subject.has_lesion and not without.has_lesion
    assert without.lesion.sum() == 0
    outside = subject.lesion == 0
    np.testing.assert_array_equal(without.tissue[outside], subject.tissue[outside])


def test_shapes_dtypes_and_affine(subject):
    shape = (64, 64, 32)
    assert subject.name == "phantom_000"
    assert set(subject.images) == {"t1", "t2", "flair"}
    for image in subject.images.values():
        assert image.shape == shape and image.dtype == np.float32
        assert np.isfinite(image).all() and image.min() >= 0
    for array in (subject.tissue, subject.lesion, subject.mask):
        assert array.shape == shape and array.dtype == np.uint8
    assert set(np.unique(subject.lesion)) <= {0, 1}
    np.testing.assert_array_equal(subject.lesion, subject.tissue == 5)
    affine = subject.affine
    assert affine.shape == (4, 4)
    np.testing.assert_allclose(np.diag(affine)[:3], [224 / 64, 224 / 64, 144 / 32])
    np.testing.assert_allclose(affine[:3, :3], np.diag(np.diag(affine)[:3]))
    # Centred on 0: the grid's middle maps to the world origin, corners to +-fov/2.
    centre = affine @ [*(np.asarray(shape) - 1) / 2, 1.0]
    np.testing.assert_allclose(centre[:3], 0.0, atol=1e-9)
    corner = affine @ [-0.5, -0.5, -0.5, 1.0]
    np.testing.assert_allclose(corner[:3], [-112, -112, -72])


def test_other_shapes_and_fov():
    tiny = make_subject(2, SEED, shape=(32, 32, 12), contrasts=("pd",))
    assert tiny.images["pd"].shape == (32, 32, 12)
    np.testing.assert_allclose(np.diag(tiny.affine)[:3], [7.0, 7.0, 12.0])
    wide = make_subject(2, SEED, shape=(20, 24, 10), fov_mm=(240.0, 240.0, 150.0))
    np.testing.assert_allclose(np.diag(wide.affine)[:3], [12.0, 10.0, 15.0])
    with pytest.raises(ValueError, match=r"contrasts in \['t1', 't2', 'pd', 'flair'\]"):
        make_subject(0, SEED, contrasts=("ct",))
    with pytest.raises(ValueError, match=r"need a 3D shape .* got \(8, 8\)"):
        make_subject(0, SEED, shape=(8, 8))


def test_same_anatomy_at_any_resolution(subject):
    # Voxel (i, j, k) of a 32x32x16 grid is the centre of voxels 2i..2i+1 etc. at 64x64x32.
    coarse = make_subject(0, SEED, shape=(32, 32, 16), contrasts=("t1",))
    fine = subject.mask.reshape(32, 2, 32, 2, 16, 2).mean(axis=(1, 3, 5))
    agree = (coarse.mask == (fine > 0.5)).mean()
    assert agree > 0.97


def test_all_tissue_classes_present(subject):
    assert len(TISSUE_NAMES) == 6
    assert set(np.unique(subject.tissue)) == set(range(6))
    # Grey matter (cortex and nuclei) and white matter are substantial, not specks.
    counts = np.bincount(subject.tissue.ravel(), minlength=6)
    assert counts[3] > 3000 and counts[4] > 5000 and counts[2] > 1000


def test_lesion_in_most_but_not_all_subjects():
    subjects = [make_subject(i, SEED, shape=(24, 24, 12), contrasts=("t1",)) for i in range(20)]
    present = [s.has_lesion for s in subjects]
    assert 12 <= sum(present) <= 19
    for s in subjects:
        if not s.has_lesion:
            assert s.lesion.sum() == 0
    # A lesion lies inside the brain (surrounded by brain tissue, never in the scalp).
    lesion = make_subject(0, SEED, shape=(48, 48, 24), contrasts=("t1",))
    assert lesion.lesion.sum() > 0
    shell = ndimage.binary_dilation(lesion.lesion, iterations=1) & ~lesion.lesion.astype(bool)
    assert np.isin(lesion.tissue[shell], [2, 3, 4]).all()


def test_contrast_ordering(subject):
    def mean(channel, cls):
        return subject.images[channel][subject.tissue == cls].mean()

    csf, grey, white = 2, 3, 4
    assert mean("t1", csf) < mean("t1", grey) < mean("t1", white)
    assert mean("t2", csf) > mean("t2", grey) > mean("t2", white)
    assert mean("flair", 5) > mean("flair", white) > mean("flair", csf)
    # FLAIR's inversion time nulls CSF; the lesion is bright on T2.
    assert sequence_signal("flair", *RELAXATION["csf"]) < 1e-6
    assert mean("t2", 5) > mean("t2", grey)


def test_mask_covers_the_head_and_background_is_noise(subject):
    mask = subject.mask.astype(bool)
    np.testing.assert_array_equal(mask, subject.tissue > 0)
    assert (ndimage.binary_fill_holes(mask) == mask).all()
    assert 0.1 < mask.mean() < 0.6
    t1 = subject.images["t1"]
    far = ~ndimage.binary_dilation(mask, iterations=2)
    # Background is Rician noise on zero signal: Rayleigh with mean sigma * sqrt(pi / 2).
    assert t1[far].mean() == pytest.approx(0.02 * np.sqrt(np.pi / 2), rel=0.1)
    assert (t1[far] > 0.2).sum() == 0
    assert t1[mask].mean() > 10 * t1[far].mean()


def test_phantom_figure_written(tmp_path, subject):
    case = {**subject.images, "label": subject.lesion, "tissue": subject.tissue}
    healthy = make_subject(1, SEED, shape=(32, 32, 16), contrasts=("t1", "t2"))
    path = tmp_path / "figs" / "phantom.png"
    phantom_figure([case, {**healthy.images, "label": healthy.lesion}],
                   ["phantom_000", "phantom_001"], path, ["t1", "t2"])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in path.parent.iterdir()] == ["phantom.png"]  # no temporary left
