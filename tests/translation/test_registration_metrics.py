"""End-point error on hand-made displacement fields."""

import numpy as np
import pytest

from radsynth.translation.metrics import endpoint_error


def test_known_error_pixels_and_mm():
    truth = np.zeros((2, 6, 5))
    field = truth.copy()
    field[0] = 3.0
    field[1] = 4.0  # a (3, 4) error everywhere: norm 5
    assert endpoint_error(field, truth, np.ones((6, 5), bool)) == pytest.approx(5.0)
    # In mm: (3 * 2, 4 * 0.5) -> sqrt(36 + 4).
    assert endpoint_error(field, truth, None, spacing=(2.0, 0.5)) == pytest.approx(np.sqrt(40))


def test_mask_restricts_average():
    truth = np.random.default_rng(0).normal(size=(3, 4, 5, 6))
    field = truth.copy()
    mask = np.zeros((4, 5, 6), bool)
    mask[1:3, 1:4, 2:5] = True
    field[:, ~mask] += 10.0  # errors only outside the mask
    field[2, mask] += 0.5
    assert endpoint_error(field, truth, mask) == pytest.approx(0.5)
    assert endpoint_error(field, truth) > 10


def test_empty_mask_and_bad_input():
    field = np.zeros((2, 4, 4))
    assert np.isnan(endpoint_error(field, field, np.zeros((4, 4), bool)))
    with pytest.raises(ValueError, match=r"field \(2, 4, 4\) and truth \(2, 4, 5\) differ in shape"):
        endpoint_error(field, np.zeros((2, 4, 5)), None)
    with pytest.raises(ValueError, match="spacing needs 2 values, got 3"):
        endpoint_error(field, field, None, spacing=(1.0, 1.0, 1.0))
