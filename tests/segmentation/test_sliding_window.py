"""The sliding-window grid is DTC's exactly: every window start, for many window/stride pairs."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from radsynth.segmentation.evaluate import predict_volume

torch.set_num_threads(1)


class RecordStarts(nn.Module):
    """Reads each window's first voxel of a coordinate-encoded image: the window's start."""

    def __init__(self):
        super().__init__()
        self.starts = set()

    def forward(self, x):
        for window in x:
            self.starts.add(tuple(int(v) for v in window[:, 0, 0, 0]))
        return torch.zeros_like(x[:, :1])


def coordinates(shape):
    """(3, X, Y, Z) image whose channel a holds each voxel's index along axis a."""
    return np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")).astype(np.float32)


def dtc_starts(size, window, stride):
    """DTC's test_util grid, written from its description: ceil((size - window) / stride) + 1
    windows, the i-th at stride * i, the last one moved back to end at the volume's edge."""
    count = math.ceil((size - window) / stride) + 1
    return sorted({min(stride * i, size - window) for i in range(count)})


def monai_starts(shape, window, stride):
    model = RecordStarts()
    predict_volume(model, coordinates(shape), spatial_dims=3, batch_size=64, device="cpu",
                   patch_size=window, stride=stride)
    return model.starts


@pytest.mark.parametrize("size, window, stride", [(150, 112, 18), (100, 80, 4), (130, 112, 4), (112, 112, 18)])
def test_dtc_la_strides_are_exact(size, window, stride):
    # DTC's LA test steps 18 in x and y over 112, 4 in z over 80; and 4 over 112.
    starts = monai_starts((size, 1, 1), (window, 1, 1), (stride, 1, 1))
    assert sorted(s[0] for s in starts) == dtc_starts(size, window, stride)
    if (size, window, stride) == (130, 112, 4):  # a step of 3 would start a window at 3
        assert sorted(s[0] for s in starts) == [0, 4, 8, 12, 16, 18]


def test_every_window_of_the_grid_is_visited():
    shape, window, stride = (20, 12, 9), (8, 5, 4), (3, 2, 4)
    starts = monai_starts(shape, window, stride)
    grids = [dtc_starts(*axis) for axis in zip(shape, window, stride)]
    assert sorted(starts) == sorted((x, y, z) for x in grids[0] for y in grids[1] for z in grids[2])


@pytest.mark.parametrize("window", [3, 5, 7, 12, 15, 18, 22, 80, 96, 112])
def test_every_stride_of_a_window(window):
    for stride in range(1, window + 1):
        for size in (window + 2 * stride, window + 2 * stride + 1, window):
            starts = monai_starts((size, 1, 1), (window, 1, 1), (stride, 1, 1))
            assert sorted(s[0] for s in starts) == dtc_starts(size, window, stride), (window, stride, size)
