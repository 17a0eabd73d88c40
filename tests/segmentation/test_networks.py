"""Dual-head segmentation networks: output shapes, one shared backbone, the backbones."""

import json

import pytest
import torch
from monai.networks.nets import UNet
from torch import nn

from radsynth.segmentation.networks import DualHeadNet, build_segmenter
from radsynth.segmentation.vnet import DTCVNet

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


# Small configurations per backbone; V-Net has fixed widths and needs sizes divisible by 16.
# The 3D V-Net is DTC's exactly (features 16), the 2D one projects block nine to 8 channels.
# TINY's res_units=1 is the default, so attention_unet (which reads no res_units) accepts it.
CASES = {
    ("unet", 2): (TINY, (32, 32)),
    ("attention_unet", 2): (TINY, (32, 32)),
    ("attention_unet", 3): (TINY, (32, 32, 16)),
    ("vnet", 3): ({}, (32, 32, 16)),
    ("vnet", 2): ({"features": 8}, (32, 32)),
}
DTC_VNET_PARAMETERS = 9_448_866  # DTC's V-Net (16 filters, 3^3 kernels) with its two heads


def n_parameters(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("backbone, dims", [case for case in CASES if case != ("vnet", 2)])
def test_backbone_forward_and_gradients(backbone, dims):
    kwargs, spatial = CASES[backbone, dims]
    torch.manual_seed(0)
    net = build_segmenter(dims, in_channels=1, classes=2, backbone=backbone, **kwargs)
    print(f"{backbone} {dims}D: {n_parameters(net):,} parameters")
    seg, sdf = net(torch.randn(2, 1, *spatial))
    assert seg.shape == sdf.shape == (2, 2, *spatial)
    assert sdf.abs().max() <= 1
    (seg.square().mean() + sdf.square().mean()).backward()
    for part in (net.seg_head, net.sdf_head, net.backbone):
        assert all(p.grad is not None for p in part.parameters())
        assert sum(p.grad.abs().sum() for p in part.parameters()) > 0


@pytest.mark.parametrize("backbone, dims", list(CASES))
def test_rebuild_from_sidecar_kwargs(backbone, dims):
    kwargs, spatial = CASES[backbone, dims]
    # What the trainer stores: UNet defaults filled in, tuples as JSON lists.
    architecture = {"channels": [16, 32, 64, 128], "strides": [2, 2, 2], "res_units": 1}
    architecture |= {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}
    architecture |= {"spatial_dims": dims, "in_channels": 1, "classes": 2, "backbone": backbone}
    net = build_segmenter(**architecture).eval()
    clone = build_segmenter(**json.loads(json.dumps(architecture))).eval()
    clone.load_state_dict(net.state_dict())
    x = torch.randn(1, 1, *spatial)
    with torch.no_grad():
        for a, b in zip(net(x), clone(x), strict=True):
            torch.testing.assert_close(a, b)


def test_unet_keys_unchanged():
    net = build_segmenter(2, in_channels=1, classes=1, **TINY)
    unet = UNet(2, 1, 8, channels=(8, 16), strides=(2,), num_res_units=1)
    expected = {f"backbone.{k}" for k in unet.state_dict()}
    expected |= {"act.weight", "seg_head.weight", "seg_head.bias"}
    expected |= {"sdf_head.weight", "sdf_head.bias"}
    assert set(net.state_dict()) == expected


def test_vnet_size():
    # DTC's V-Net (3^3 kernels, additive skips), not MONAI's Milletari VNet (45.6 M in 3D).
    dual = build_segmenter(3, in_channels=1, classes=1, backbone="vnet")  # features 16
    dual2d = build_segmenter(2, in_channels=1, classes=1, backbone="vnet")
    n3d, n2d = n_parameters(dual), n_parameters(dual2d)
    dtc = DTC_VNET_PARAMETERS
    print(f"DTC V-Net dual head, in 1/classes 1: 3D {n3d:,}, 2D {n2d:,}; DTC {dtc:,}")
    assert abs(n3d - DTC_VNET_PARAMETERS) <= 0.01 * DTC_VNET_PARAMETERS
    # Backbone + DTC's two 1x1 output convolutions + DualHeadNet's PReLU slope, no projection.
    assert n3d == n_parameters(dual.backbone) + 2 * (16 + 1) + 1 == DTC_VNET_PARAMETERS + 1
    assert isinstance(dual.backbone.project, nn.Identity)
    # 2D: the same layers with 3^2 and 2^2 kernels, so 1/3 (3x3 convolutions) to 1/2
    # (resampling ones) of the 3D weights; mostly the former.
    assert 0.3 * n3d < n2d < 0.4 * n3d


def test_vnet_follows_dtc_layout():
    net = DTCVNet(3, in_channels=1, out_channels=16)
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    # DTC's module names and widths: 1/2/3/3/3 encoder and 3/3/2/1 decoder 3^3 convolutions.
    convs = {k.split(".")[0]: 0 for k in shapes}
    for k, shape in shapes.items():
        if k.endswith("weight") and len(shape) == 5:
            convs[k.split(".")[0]] += 1
    names = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    assert convs == {
        **{f"block_{n}": c for n, c in zip(names, [1, 2, 3, 3, 3, 3, 3, 2, 1], strict=True)},
        **{f"block_{n}_dw": 1 for n in names[:4]},
        **{f"block_{n}_up": 1 for n in names[4:8]},
    }
    assert shapes["block_one.conv.0.weight"] == (16, 1, 3, 3, 3)
    assert shapes["block_four_dw.conv.0.weight"] == (256, 128, 2, 2, 2)
    assert shapes["block_five.conv.6.weight"] == (256, 256, 3, 3, 3)
    assert shapes["block_five_up.conv.0.weight"] == (256, 128, 2, 2, 2)  # transposed: in, out
    assert shapes["block_nine.conv.0.weight"] == (16, 16, 3, 3, 3)
    # A width other than 16 for the heads adds a 1x1 projection after block nine.
    projected = DTCVNet(3, in_channels=1, out_channels=8)
    assert n_parameters(projected) == n_parameters(net) + 16 * 8 + 8


@pytest.mark.parametrize("dims", [2, 3])
def test_vnet_dropout(dims):
    spatial = (32, 32) if dims == 2 else (16, 16, 16)
    x = torch.randn(2, 1, *spatial)
    net = build_segmenter(dims, in_channels=1, backbone="vnet", features=8, dropout=0.0)
    assert net.training
    assert not [m for m in net.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]
    with torch.no_grad():  # no dropout at all: training-mode passes agree
        for a, b in zip(net(x), net(x), strict=True):
            torch.testing.assert_close(a, b)
    net = build_segmenter(dims, in_channels=1, backbone="vnet", features=8)
    drops = [m for m in net.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]
    # DTC's two dropout layers (deepest encoder output, before the heads) at its 0.5, channel
    # dropout of the input's dimension (a Dropout3d on 2D input would drop whole samples).
    assert len(drops) == 2
    assert {(type(m), m.p) for m in drops} == {(nn.Dropout2d if dims == 2 else nn.Dropout3d, 0.5)}
    with torch.no_grad():
        assert not torch.equal(net(x)[0], net(x)[0])


@pytest.mark.parametrize("spatial", [(24, 32, 16), (32, 32, 8)])
def test_vnet_needs_sizes_divisible_by_16(spatial):
    net = build_segmenter(3, in_channels=1, backbone="vnet", dropout=0.0)
    with pytest.raises(ValueError, match="divisible by 16"):
        net(torch.randn(1, 1, *spatial))


@pytest.mark.parametrize(
    "backbone, unread",
    [
        ("vnet", {"channels": (8, 16), "strides": (2,)}),
        ("vnet", {"res_units": 2}),
        ("attention_unet", {"res_units": 2}),
        ("unet", {"dropout": 0.5}),
    ],
)
def test_unread_arguments_raise(backbone, unread):
    with pytest.raises(ValueError, match="does not read"):
        build_segmenter(3, 1, backbone=backbone, **unread)


def test_unknown_backbone_names_known_ones():
    with pytest.raises(ValueError, match="'unet', 'attention_unet', 'vnet'"):
        build_segmenter(2, 1, backbone="vnet3d")
