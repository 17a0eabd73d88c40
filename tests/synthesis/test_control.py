import numpy as np
import pytest

from radsynth.synthesis.control import control_map


@pytest.fixture(scope="module")
def data():
    images = np.full((3, 2, 16, 16), -1.0, np.float32)
    images[:, :, 4:12, 4:12] = 0.5  # a bright square: its outline is an image edge
    labels = np.zeros((3, 16, 16), np.uint8)
    labels[:, 1:4, 1:4] = 1  # the mask sits where the image has no edge
    labels[2] = 0
    return images, labels


def test_control_map_marks_mask_boundary_and_image_edges(data):
    images, labels = data
    control = control_map(images, labels, sigma=1.0)
    assert control.shape == (3, 1, 16, 16) and control.dtype == np.float32
    assert set(np.unique(control)) <= {-1.0, 1.0}
    # mask boundary (inner: on the mask's own pixels), but not the mask's interior
    assert control[0, 0, 1, 1] == 1 and control[0, 0, 1, 3] == 1 and control[0, 0, 2, 2] == -1
    assert control[2, 0, 1, 1] == -1  # no mask on slice 2
    # the square's outline, not its interior nor the far background
    assert (control[:, 0, 3:5, 6:10] == 1).any(axis=(1, 2)).all()
    assert (control[:, 0, 7:9, 7:9] == -1).all() and control[0, 0, 15, 15] == -1


def test_control_map_mask_fill(data):
    images, labels = data
    control = control_map(images, labels, sigma=1.0, mask_fill=0.0)
    assert control[0, 0, 2, 2] == 0.0 and control[0, 0, 1, 1] == 1.0 and control[2, 0, 2, 2] == -1.0


def test_control_map_is_per_slice():
    images = np.full((2, 1, 16, 16), -1.0, np.float32)
    labels = np.zeros((2, 16, 16), np.uint8)
    labels[1, 4:12, 4:12] = 1  # would make the whole square a boundary if slices were linked
    assert (control_map(images, labels, 1.0)[0] == -1).all()
