"""Slice labels: any foreground voxel makes a lesion slice."""

import numpy as np
import pytest

from radsynth.anomaly.data import healthy_slices, slice_labels


def maps():
    label = np.zeros((4, 5, 6), np.int16)
    label[1, 4, 5] = 1  # one voxel in the corner
    label[2, 2:4, 1:3] = 2  # another foreground class
    return label


def test_slice_labels():
    labels = slice_labels(maps())
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, [0, 1, 1, 0])
    np.testing.assert_array_equal(slice_labels(np.zeros((3, 2, 2), np.uint8)), [0, 0, 0])
    np.testing.assert_array_equal(slice_labels(np.ones((2, 1, 1, 1))), [1, 1])  # (N, C, H, W) too


def test_slice_labels_need_maps():
    with pytest.raises(ValueError, match=r"need label maps \(N, \.\.\.\), got shape \(4,\)"):
        slice_labels(np.zeros(4))


def test_healthy_slices_keep_order_and_drop_lesions():
    images = np.arange(4 * 1 * 5 * 6, dtype=np.float32).reshape(4, 1, 5, 6)
    kept = healthy_slices(images, maps())
    assert kept.shape == (2, 1, 5, 6)
    np.testing.assert_array_equal(kept, images[[0, 3]])


def test_healthy_slices_refuse_an_all_lesion_split():
    label = np.ones((3, 4, 4), np.uint8)
    with pytest.raises(ValueError, match="no healthy slice in the training split: every slice has a lesion label"):
        healthy_slices(np.zeros((3, 1, 4, 4)), label)
