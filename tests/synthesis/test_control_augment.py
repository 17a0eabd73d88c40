"""EMIT-Diff's rotation and zoom of ControlNet training pairs."""

import numpy as np
import pytest
import torch

from radsynth.synthesis.control_augment import draw_rotate_scale, rotate_scale


def test_draws_lie_in_plus_minus_20_degrees_and_crop_factors_0_75_to_1_05():
    angles, magnifications = draw_rotate_scale(4000, 20, (0.75, 1.05), torch.Generator().manual_seed(0))
    assert angles.abs().max() <= 20 and angles.min() < -19 and angles.max() > 19
    # Crop factor c in [0.75, 1.05]: zoom 1 / c in (1, 4/3] for c < 1, 2 - c in [0.95, 1] above.
    assert magnifications.min() >= 0.95 - 1e-6 and magnifications.max() <= 4 / 3 + 1e-6
    zoom_out = (magnifications <= 1).float().mean().item()
    assert zoom_out == pytest.approx(0.05 / 0.30, abs=0.03)
    none = draw_rotate_scale(10, 0, (1.0, 1.0), torch.Generator().manual_seed(0))
    assert (none[0] == 0).all() and (none[1] == 1).all()


def square_pair(size=32):
    """An image and its control map with the same off-centre square (1 inside, -1 outside)."""
    mask = np.zeros((size, size), bool)
    mask[4:12, 18:26] = True
    picture = torch.as_tensor(np.where(mask, 1.0, -1.0), dtype=torch.float32)[None, None]
    return mask, picture.repeat(1, 2, 1, 1), picture.clone()


@pytest.mark.parametrize("angle,expected", [(90.0, lambda m: np.rot90(m, 1)), (-90.0, lambda m: np.rot90(m, -1))])
def test_a_quarter_turn_moves_image_and_control_together(angle, expected):
    mask, image, control = square_pair()
    moved, shifted = rotate_scale(image, control, torch.tensor([angle]), torch.tensor([1.0]))
    # A quarter turn about the centre of a square grid maps pixels onto pixels: np.rot90.
    np.testing.assert_array_equal(moved[0, 0].numpy() > 0, expected(mask))
    np.testing.assert_array_equal(moved[0, 1].numpy() > 0, expected(mask))
    np.testing.assert_array_equal(shifted[0, 0].numpy() > 0, expected(mask))


def test_a_zoom_by_two_doubles_the_square_about_the_centre():
    mask, image, control = square_pair()
    moved, shifted = rotate_scale(image, control, torch.tensor([0.0]), torch.tensor([2.0]))
    # Output pixel o samples the input at o / 2 + 7.75 (centre 16, pixel centres at i + 0.5);
    # the square (pixels 4..11, 18..25) reads above 0 between 3.5 and 11.5, 17.5 and 25.5:
    # rows -8.5 < o < 7.5 and columns 19.5 < o < 35.5, cut by the frame.
    expected = np.zeros_like(mask)
    expected[0:8, 20:32] = True
    np.testing.assert_array_equal(moved[0, 0].numpy() > 0, expected)
    np.testing.assert_array_equal(shifted[0, 0].numpy() > 0, expected)
    # Outside the frame the control map says "no structure" (-1).
    _, small = rotate_scale(image, control, torch.tensor([0.0]), torch.tensor([0.5]))
    assert (small[0, 0, 0] == -1).all() and (small[0, 0, :, 0] == -1).all()
