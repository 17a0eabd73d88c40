"""Segmentation networks: one backbone with a segmentation head and a DTC level-set head.

DTC (Luo et al., AAAI 2021) reads two outputs off the same decoder features: segmentation
logits and a tanh signed-distance map. MONAI's networks end in a single output layer, so the
backbone here (MONAI's UNet or AttentionUnet, or DTC's own light V-Net from
:mod:`radsynth.segmentation.vnet`) outputs ``features`` channels and the two 1x1 heads sit on top of
it; a plain supervised segmenter simply ignores the second output.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.layers import Conv
from monai.networks.nets import AttentionUnet, UNet
from torch import nn

from radsynth.segmentation.vnet import DTCVNet

# The arguments of build_segmenter each backbone reads. The trainer fills in the UNet defaults
# for every backbone, so an unread argument is only an error when it differs from its default.
BACKBONE_ARGS = {
    "unet": ("channels", "strides", "res_units"),
    "attention_unet": ("channels", "strides"),
    "vnet": ("dropout",),
}
_DEFAULTS = {"channels": (16, 32, 64, 128), "strides": (2, 2, 2), "res_units": 1, "dropout": None}
VNET_DROPOUT = 0.5  # DTC trains its V-Net with has_dropout=True, Dropout3d(0.5)


class DualHeadNet(nn.Module):
    """A shared backbone with a segmentation head and a tanh signed-distance head.

    Args:
        backbone: a network mapping (B, C_in, *spatial) to (B, features, *spatial).
        features: channels of the backbone output.
        classes: foreground classes K. The segmentation head gives K sigmoid logits (one per
            foreground class, so 1 for binary) and the distance head K tanh maps.
        spatial_dims: 2 or 3.
    """

    def __init__(self, backbone: nn.Module, features: int, classes: int, spatial_dims: int = 2):
        super().__init__()
        conv = Conv[Conv.CONV, spatial_dims]
        self.backbone = backbone
        # MONAI's backbones end in a bare convolution: a non-linearity before the 1x1 heads
        # keeps them from collapsing into one linear layer with it. (DTC's V-Net ends in a
        # ReLU, on whose output the PReLU is the identity.)
        self.act = nn.PReLU()
        self.seg_head = conv(features, classes, kernel_size=1)
        self.sdf_head = conv(features, classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(seg_logits, sdf)``, each (B, K, *spatial); ``sdf`` is in [-1, 1]."""
        features = self.act(self.backbone(x))
        return self.seg_head(features), torch.tanh(self.sdf_head(features))


def build_segmenter(
    spatial_dims: int,
    in_channels: int,
    classes: int = 1,
    channels: Sequence[int] = (16, 32, 64, 128),
    strides: Sequence[int] = (2, 2, 2),
    res_units: int = 1,
    features: int = 16,
    backbone: str = "unet",
    dropout: float | None = None,
) -> DualHeadNet:
    """A :class:`DualHeadNet` on a chosen backbone; the arguments are what a sidecar stores.

    Every backbone reads ``spatial_dims``, ``in_channels``, ``classes`` and ``features``; the
    others are read only by the backbones named below and must keep their defaults otherwise.

    Args:
        spatial_dims: 2 (slices) or 3 (volumes/patches).
        in_channels: image channels.
        classes: foreground classes (1 for binary).
        channels: (unet, attention_unet) feature channels per resolution level.
        strides: (unet, attention_unet) downsampling strides between levels
            (``len(channels) - 1`` of them); input sizes must be divisible by their product.
        res_units: (unet) residual units per block.
        features: channels of the backbone output read by both heads (vnet: DTC's network
            exactly at 16, its base width; otherwise a 1x1 convolution projects to it).
        backbone: "unet" (MONAI ``UNet``), "attention_unet" (MONAI ``AttentionUnet``) or
            "vnet" (:class:`~radsynth.segmentation.vnet.DTCVNet`, the light V-Net of UA-MT/DTC:
            3^d kernels, widths 16 to 256, additive skips, 9.45 M parameters in 3D; four
            stride-2 levels, so input sizes must be divisible by 16).
        dropout: (vnet) rate of the two V-Net dropout layers (on the deepest encoder output
            and before the heads); None for DTC's 0.5, 0 for none.

    Returns:
        The network; ``forward`` returns ``(seg_logits, sdf)``.

    Raises:
        ValueError: for an unknown backbone, or an argument it does not read that differs
            from its default.
    """
    if backbone not in BACKBONE_ARGS:
        known = tuple(BACKBONE_ARGS)
        raise ValueError(f"unknown segmentation backbone {backbone!r} (known: {known})")
    given = {"channels": tuple(channels), "strides": tuple(strides), "res_units": res_units}
    given["dropout"] = dropout
    reads = BACKBONE_ARGS[backbone]
    unread = [k for k, v in given.items() if k not in reads and v != _DEFAULTS[k]]
    if unread:
        raise ValueError(f"backbone {backbone!r} does not read {unread}: leave them at defaults")
    unet = {
        "spatial_dims": spatial_dims,
        "in_channels": in_channels,
        "out_channels": features,
        "channels": tuple(channels),
        "strides": tuple(strides),
    }
    if backbone == "unet":
        net = UNet(**unet, num_res_units=res_units)
    elif backbone == "attention_unet":
        net = AttentionUnet(**unet)
    else:
        rate = VNET_DROPOUT if dropout is None else dropout
        net = DTCVNet(spatial_dims, in_channels, features, dropout=rate)
    return DualHeadNet(net, features, classes, spatial_dims)
