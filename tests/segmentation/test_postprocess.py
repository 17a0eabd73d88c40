"""Largest-connected-component post-processing (DTC's optional ``getLargestCC``)."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from skimage import measure

from radsynth.segmentation.postprocess import largest_component


def dtc_largest_cc(mask):
    """DTC's ``getLargestCC`` (official test code; its assert on empty input left out)."""
    labels = measure.label(mask)
    if labels.max() == 0:
        return np.zeros(mask.shape, bool)
    return labels == np.argmax(np.bincount(labels.flat)[1:]) + 1


def test_2d_small_blob_removed_per_class():
    label = np.zeros((20, 20), np.uint8)
    label[1:6, 1:6] = 1  # class 1: 25 voxels, kept
    label[10:12, 10:12] = 1  # class 1: 4 voxels, removed
    label[14:19, 1:4] = 2  # class 2: 15 voxels, removed
    label[1:5, 12:19] = 2  # class 2: 28 voxels, kept
    out = largest_component(label, [1, 2])
    assert out.dtype == np.uint8 and out.shape == label.shape
    expected = label.copy()
    expected[10:12, 10:12] = 0
    expected[14:19, 1:4] = 0
    np.testing.assert_array_equal(out, expected)


def test_3d_small_blob_removed():
    label = np.zeros((16, 16, 12), np.uint8)
    label[2:8, 2:8, 2:8] = 1
    label[12:14, 12:14, 9:11] = 1
    out = largest_component(label, [1])
    assert out.dtype == np.uint8 and out.shape == label.shape
    assert out.sum() == 6**3 and out[2:8, 2:8, 2:8].all()


@pytest.mark.parametrize("ndim", [2, 3])
def test_diagonal_contact_connects(ndim):
    """Full connectivity: blobs meeting only at a corner are one component (skimage default)."""
    label = np.zeros((12,) * ndim, np.uint8)
    label[(slice(0, 4),) * ndim] = 1  # big cube/square
    label[(slice(4, 6),) * ndim] = 1  # touches it only through the corner voxel (3,..,3)/(4,..,4)
    label[(slice(9, 11),) + (slice(0, 1),) * (ndim - 1)] = 1  # a separate speck
    out = largest_component(label, [1])
    expected = label.copy()
    expected[(slice(9, 11),) + (slice(0, 1),) * (ndim - 1)] = 0
    np.testing.assert_array_equal(out, expected)


def test_classes_independent_and_others_untouched():
    label = np.zeros((10, 30), np.uint8)
    # Class 1 is split by a strip of class 2: without independence (union) they would merge.
    label[2:8, 0:10] = 1
    label[2:8, 10:12] = 2
    label[2:8, 12:15] = 1  # class 1, smaller, touches class 1 only via class 2: removed
    label[0, 20:22] = 2  # class 2 speck: removed
    label[9, 25:30] = 3  # class 3, not asked for: untouched, even in two pieces
    label[7, 25] = 3
    out = largest_component(label, [1, 2])
    expected = label.copy()
    expected[2:8, 12:15] = 0
    expected[0, 20:22] = 0
    np.testing.assert_array_equal(out, expected)


def test_input_not_modified_and_dtype_kept():
    label = np.zeros((8, 8), np.int16)
    label[0, 0] = 1
    label[3:7, 3:7] = 1
    before = label.copy()
    out = largest_component(label, [1])
    np.testing.assert_array_equal(label, before)
    assert out.dtype == np.int16 and out.sum() == 16


@pytest.mark.parametrize("shape", [(16, 16), (8, 8, 8)])
def test_empty(shape):
    empty = np.zeros(shape, np.uint8)
    out = largest_component(empty, [1, 2])
    assert out.dtype == np.uint8 and out.shape == shape and not out.any()
    # An absent class stays absent next to a present one.
    label = empty.copy()
    label[(slice(1, 4),) * len(shape)] = 1
    np.testing.assert_array_equal(largest_component(label, [1, 2]), label)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_skimage_on_random_blobs(seed):
    rng = np.random.default_rng(seed)
    field = gaussian_filter(rng.normal(size=(40, 36, 24)), 2.0)
    binary = field > np.quantile(field, 0.8)  # many blobs of various sizes
    assert measure.label(binary).max() > 2
    sizes = np.bincount(measure.label(binary).flat)[1:]
    assert (sizes == sizes.max()).sum() == 1  # no tie, so the kept component is well defined
    out = largest_component(binary.astype(np.uint8), [1])
    np.testing.assert_array_equal(out.astype(bool), dtc_largest_cc(binary))
    # 2D: one slice, same check.
    section = binary[:, :, 12]
    sizes = np.bincount(measure.label(section).flat)[1:]
    assert len(sizes) > 2 and (sizes == sizes.max()).sum() == 1
    out2 = largest_component(section.astype(np.uint8), [1])
    np.testing.assert_array_equal(out2.astype(bool), dtc_largest_cc(section))


def test_rejects_bad_input():
    with pytest.raises(ValueError, match=r"2D or 3D label map, got shape \(5,\)"):
        largest_component(np.zeros(5, np.uint8), [1])
    with pytest.raises(ValueError, match="integer label map, got dtype float32"):
        largest_component(np.zeros((4, 4), np.float32), [1])
