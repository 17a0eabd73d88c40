"""Segmentation networks: one backbone with a segmentation head and a DTC level-set head.

DTC (Luo et al., AAAI 2021) reads two outputs off the same decoder features: segmentation
logits and a tanh signed-distance map. MONAI's networks end in a single output layer, so the
backbone here is a MONAI network that outputs ``features`` channels and the two 1x1 heads
sit on top of it; a plain supervised segmenter simply ignores the second output.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.layers import Conv
from monai.networks.nets import UNet
from torch import nn


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
        # MONAI's UNet ends in a bare convolution: a non-linearity before the 1x1 heads keeps
        # them from collapsing into one linear layer with it.
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
) -> DualHeadNet:
    """A :class:`DualHeadNet` on a MONAI backbone; the arguments are what a sidecar stores.

    Args:
        spatial_dims: 2 (slices) or 3 (volumes/patches).
        in_channels: image channels.
        classes: foreground classes (1 for binary).
        channels: feature channels per resolution level of the backbone.
        strides: downsampling strides between levels (``len(channels) - 1`` of them); input
            sizes must be divisible by their product.
        res_units: residual units per block.
        features: channels of the backbone output read by both heads.
        backbone: "unet" (MONAI ``UNet``); other MONAI backbones plug in here.

    Returns:
        The network; ``forward`` returns ``(seg_logits, sdf)``.
    """
    if backbone != "unet":
        raise ValueError(f"unknown segmentation backbone {backbone!r} (known: 'unet')")
    net = UNet(
        spatial_dims=spatial_dims,
        in_channels=in_channels,
        out_channels=features,
        channels=tuple(channels),
        strides=tuple(strides),
        num_res_units=res_units,
    )
    return DualHeadNet(net, features, classes, spatial_dims)
