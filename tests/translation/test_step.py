"""One RegGAN iteration's parts: the smoothness loss and the replay buffer."""

import pytest
import torch
from monai.losses import DiffusionLoss

from radsynth.translation.step import ReplayBuffer, smoothness


@pytest.mark.filterwarnings("ignore:Using a non-tuple sequence")
def test_smoothness_is_mean_squared_central_differences():
    field = torch.randn(2, 2, 9, 11)
    d0 = (field[:, :, 2:, 1:-1] - field[:, :, :-2, 1:-1]) / 2
    d1 = (field[:, :, 1:-1, 2:] - field[:, :, 1:-1, :-2]) / 2
    expected = (d0**2 + d1**2).mean()
    assert torch.allclose(smoothness(field), expected)
    assert torch.allclose(DiffusionLoss()(field), expected)



def test_replay_buffer_fills_then_mixes_past_fakes():
    buffer = ReplayBuffer(4, torch.Generator().manual_seed(0))
    first = torch.arange(4.0).reshape(4, 1)
    assert torch.equal(buffer.push_and_pop(first), first)  # filling: the fakes pass through
    returned = torch.cat([buffer.push_and_pop(torch.full((4, 1), 10.0 + i)) for i in range(10)])
    assert (returned < 10).any() and (returned >= 10).any()
    assert buffer.data.shape == (4, 1)
    assert torch.equal(ReplayBuffer(0, torch.Generator()).push_and_pop(first), first)
