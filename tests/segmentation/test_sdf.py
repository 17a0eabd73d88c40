"""DTC signed distance maps against the official formula, written out here independently."""

import numpy as np
import pytest
from scipy.ndimage import distance_transform_edt as distance
from skimage.segmentation import find_boundaries

from radsynth.segmentation.sdf import label_sdf, signed_distance


def dtc_compute_sdf(mask):
    """The body of DTC's ``compute_sdf`` for one case (official code, batch loop removed)."""
    posmask = mask.astype(bool)
    normalized_sdf = np.zeros(mask.shape)
    if posmask.any():
        negmask = ~posmask
        posdis = distance(posmask)
        negdis = distance(negmask)
        boundary = find_boundaries(posmask, mode="inner").astype(np.uint8)
        sdf = (negdis - np.min(negdis)) / (np.max(negdis) - np.min(negdis)) - (
            posdis - np.min(posdis)
        ) / (np.max(posdis) - np.min(posdis))
        sdf[boundary == 1] = 0
        normalized_sdf = sdf
    return normalized_sdf


def _disc(shape=(64, 64), centre=(30, 34), radius=12):
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"))
    return ((grid - np.reshape(centre, (-1,) + (1,) * len(shape))) ** 2).sum(0) <= radius**2


def _square():
    mask = np.zeros((48, 40), bool)
    mask[10:30, 5:25] = True
    return mask


@pytest.mark.parametrize(
    "mask",
    [_disc(), _square(), _disc((40, 36, 30), (20, 15, 14), 8)],
    ids=["disc", "square", "ball"],
)
def test_matches_dtc_formula(mask):
    ours = signed_distance(mask)
    assert ours.dtype == np.float32 and ours.shape == mask.shape
    np.testing.assert_allclose(ours, dtc_compute_sdf(mask), atol=1e-6)


@pytest.mark.parametrize("mask", [_disc(), _disc((40, 36, 30), (20, 15, 14), 8)])
def test_sign_conventions(mask):
    sdf = signed_distance(mask)
    boundary = find_boundaries(mask, mode="inner")
    assert np.all(sdf[boundary] == 0)
    assert np.all(sdf[mask & ~boundary] < 0)
    assert np.all(sdf[~mask] > 0)
    assert sdf.max() == pytest.approx(1.0) and sdf.min() == pytest.approx(-1.0)
    # The deepest inside points (farthest from the outside, by an independent EDT) are exactly
    # where the map reaches -1; the centre of the disc/ball is one of them.
    inside = distance(mask)
    deepest = inside == inside.max()
    np.testing.assert_array_equal(sdf == -1.0, deepest)
    assert deepest[(30, 34) if mask.ndim == 2 else (20, 15, 14)]
    # The farthest outside point is a corner (a maximum of the outside distance), where it is +1.
    assert np.unravel_index(np.argmax(sdf), sdf.shape) in {
        tuple(c) for c in np.argwhere(distance(~mask) == distance(~mask).max())
    }


def test_empty_and_full_masks():
    # "outside everywhere" / "inside everywhere": sigmoid(-k * sdf) reproduces the mask
    empty = signed_distance(np.zeros((10, 12)))
    np.testing.assert_array_equal(empty, 1)
    assert (1 / (1 + np.exp(np.minimum(1500 * empty, 50))) < 1e-6).all()
    full = signed_distance(np.ones((6, 7, 5)))
    assert full.dtype == np.float32
    np.testing.assert_array_equal(full, -1)


def test_spacing_changes_only_anisotropic_results():
    mask = _disc((40, 40, 20), (20, 20, 10), 7)
    isotropic = signed_distance(mask, (2.0, 2.0, 2.0))
    np.testing.assert_allclose(isotropic, signed_distance(mask), atol=1e-6)
    anisotropic = signed_distance(mask, (1.0, 1.0, 3.0))
    assert not np.allclose(anisotropic, signed_distance(mask))
    # Stepping away along the coarse axis grows the distance faster.
    assert anisotropic[20, 20, 19] > anisotropic[20, 31, 10]  # 2 voxels x 3 mm vs 4 voxels x 1 mm


def test_label_sdf_multiclass_nd():
    label = np.zeros((40, 36, 30), np.uint8)
    label[_disc((40, 36, 30), (12, 15, 14), 6)] = 1
    label[_disc((40, 36, 30), (28, 18, 14), 7)] = 2
    out = label_sdf(label, [1, 2, 3])
    assert out.shape == (40, 36, 30, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[..., 0], dtc_compute_sdf(label == 1), atol=1e-6)
    np.testing.assert_allclose(out[..., 1], dtc_compute_sdf(label == 2), atol=1e-6)
    np.testing.assert_array_equal(out[..., 2], 1)  # absent class: outside everywhere


@pytest.mark.parametrize("axis", [0, -1])
def test_label_sdf_per_slice(axis):
    label = np.zeros((20, 24, 8), np.uint8)
    label[_disc((20, 24, 8), (10, 12, 4), 5)] = 1
    label[2:6, 2:8, :] = 2
    out = label_sdf(label, [1, 2], slice_axis=axis)
    assert out.shape == (20, 24, 8, 2)
    for k in range(label.shape[axis]):
        section = np.take(label, k, axis)
        for c, value in enumerate([1, 2]):
            # DTC's formula where the slice has the class; +1 (outside everywhere) where not
            expected = dtc_compute_sdf(section == value) if (section == value).any() else 1.0
            np.testing.assert_allclose(np.take(out[..., c], k, axis), np.broadcast_to(expected, section.shape), atol=1e-6)
    # Per-slice maps are normalised per slice, so they differ from the 3D map.
    assert not np.allclose(out, label_sdf(label, [1, 2]))
