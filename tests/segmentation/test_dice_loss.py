"""DTC's Dice loss squares the denominator (``losses.dice_loss``); radsynth's ``dice`` does not."""

import math

import pytest
import torch

from radsynth.segmentation.trainer import supervised_loss


def logits_and_target():
    """Two samples of two voxels; sigmoid(+-ln 3) = 0.75 / 0.25, sigmoid(0) = 0.5.

    p = [[0.75, 0.5], [0.25, 0.5]], g = [[1, 1], [0, 1]], pooled over the batch as DTC does:
    sum(p g) = 0.75 + 0.5 + 0.5 = 1.75, sum(p^2) = 0.5625 + 0.25 + 0.0625 + 0.25 = 1.125,
    sum(g^2) = sum(g) = 3, sum(p) = 2.
    """
    third = math.log(3.0)
    logits = torch.tensor([[[third, 0.0]], [[-third, 0.0]]])
    target = torch.tensor([[[1.0, 1.0]], [[0.0, 1.0]]])
    return logits, target


def test_dice_squared_is_dtcs_dice_loss_by_hand():
    logits, target = logits_and_target()
    expected = 1 - (2 * 1.75 + 1e-5) / (1.125 + 3 + 1e-5)  # 5/33 without the smoothing
    assert float(supervised_loss("dice_squared")(logits, target)) == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(5 / 33, rel=1e-4)


def test_plain_dice_keeps_the_linear_denominator():
    logits, target = logits_and_target()
    expected = 1 - (2 * 1.75 + 1e-5) / (2.0 + 3 + 1e-5)  # 0.3 without the smoothing
    assert float(supervised_loss("dice")(logits, target)) == pytest.approx(expected, rel=1e-6)


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="unknown segmentation loss 'dice_cubed'"):
        supervised_loss("dice_cubed")
