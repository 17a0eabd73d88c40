"""Dual-head segmentation network: output shapes and one shared backbone."""

import pytest
import torch

from radsynth.nets.segmentation import DualHeadNet, build_segmenter

torch.set_num_threads(1)
TINY = dict(channels=(8, 16), strides=(2,), res_units=1, features=8)


@pytest.mark.parametrize("classes", [1, 2])
def test_shapes_2d(classes):
    net = build_segmenter(2, in_channels=2, classes=classes, **TINY)
    seg, sdf = net(torch.randn(3, 2, 32, 32))
    assert seg.shape == sdf.shape == (3, classes, 32, 32)
    assert sdf.abs().max() <= 1


def test_shapes_3d():
    net = build_segmenter(3, in_channels=1, classes=1, **TINY)
    seg, sdf = net(torch.randn(1, 1, 16, 16, 8))
    assert seg.shape == sdf.shape == (1, 1, 16, 16, 8)


def test_heads_share_one_backbone():
    net = build_segmenter(2, in_channels=1, classes=1, **TINY)
    assert isinstance(net, DualHeadNet)
    backbone = sum(p.numel() for p in net.backbone.parameters())
    heads = 2 * (8 * 1 + 1) + 1  # two 1x1 convs (weights + bias) and the PReLU slope
    assert sum(p.numel() for p in net.parameters()) == backbone + heads
    # Each head alone back-propagates into the same backbone parameters.
    first = next(net.backbone.parameters())
    for head in (0, 1):
        net.zero_grad()
        net(torch.randn(2, 1, 32, 32))[head].sum().backward()
        assert first.grad is not None and first.grad.abs().sum() > 0


def test_unknown_backbone():
    with pytest.raises(ValueError, match="backbone"):
        build_segmenter(2, 1, backbone="transformer")
