"""The official RegGAN registration network R: a residual U-Net (Kid-Liet/Reg-GAN,
``trainer/reg.py`` ``ResUnet`` with configuration "A", blocks of ``trainer/layers.py``).

Down path: per level a 3x3 conv + LeakyReLU(0.2) and one residual block (reflection padding,
InstanceNorm), kept as the skip, then 2x2 max pooling; official widths 32, 64, 64, 64, 64, 64,
64 (seven levels). Bottleneck: 1x1 conv to twice the width, three residual blocks, 1x1 conv
back. Up path: per level, resize to the skip's size (bilinear), concatenate the skip and a
3x3 conv + LeakyReLU to the skip's width. Refinement: one residual block and a 1x1 conv +
LeakyReLU; output: a 3x3 conv to the field, weights normal with std 1e-5 (R starts at the
identity). Kaiming-normal (fan-in) weights elsewhere, zero biases. 2,058,018 parameters for
one-channel images, whatever the image size.

Assembled from the generator's residual block (:class:`radsynth.translation.networks.ResidualBlock`
is the same block) and plain convolutions: MONAI's ``UNet`` has no residual blocks with
reflection padding nor this bottleneck. Works in 2D and 3D (the official is 2D).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from monai.networks.layers.factories import Conv
from torch import nn

from radsynth.translation.networks import ResidualBlock

OFFICIAL_CHANNELS = (32, 64, 64, 64, 64, 64, 64)
SLOPE = 0.2  # LeakyReLU slope of the official down, up and refinement convs


def minimum_size(levels: int) -> int:
    """Smallest image side a ResUnet of ``levels`` poolings takes without padding.

    After ``levels`` floor-halvings the bottleneck must keep 2 pixels a side: its residual
    blocks pad by reflection (needs > 1 pixel) and normalise per instance. 256 for the
    official seven levels.
    """
    return 2 ** (int(levels) + 1)


class _ConvAct(nn.Sequential):
    """Convolution + LeakyReLU(0.2), Kaiming-normal for that slope, zero bias (official ``Conv``)."""

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int, kernel: int):
        conv = Conv[Conv.CONV, spatial_dims](in_channels, out_channels, kernel_size=kernel, padding=kernel // 2)
        nn.init.kaiming_normal_(conv.weight, a=SLOPE, mode="fan_in", nonlinearity="leaky_relu")
        nn.init.zeros_(conv.bias)
        super().__init__(conv, nn.LeakyReLU(SLOPE))


def _residual(spatial_dims: int, channels: int) -> ResidualBlock:
    """A residual block initialised as the official ``ResnetTransformer`` (Kaiming for ReLU)."""
    block = ResidualBlock(spatial_dims, channels)
    for module in block.modules():
        if isinstance(module, (nn.Conv2d, nn.Conv3d)):
            nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            nn.init.zeros_(module.bias)
    return block


class ResUnetRegistration(nn.Module):
    """R(moving, fixed) -> displacement field, the official RegGAN architecture.

    Inputs smaller than :func:`minimum_size` on a side (e.g. 32-pixel test images for the
    official seven levels, which need 256) are padded with background (-1) up to it and the
    field is cropped back; larger sizes need no padding (odd sizes are floored by the pooling
    and each up level is resized to its skip, as in the official code).

    Args:
        spatial_dims: 2 or 3; the field has this many channels.
        in_channels: channels of each of the two images.
        channels: width per level, shallowest first (the official seven levels by default);
            each up level returns to the width of its skip.
        bottleneck_blocks: residual blocks at the bottleneck (3 in the official code).
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        channels: Sequence[int] = OFFICIAL_CHANNELS,
        bottleneck_blocks: int = 3,
    ):
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        channels = [int(c) for c in channels]
        if not channels:
            raise ValueError("the ResUnet needs at least one level of channels")
        self.spatial_dims = spatial_dims
        self.minimum = minimum_size(len(channels))
        widths = [2 * int(in_channels), *channels]
        self.down = nn.ModuleList(
            nn.Sequential(_ConvAct(spatial_dims, w_in, w, 3), _residual(spatial_dims, w))
            for w_in, w in zip(widths[:-1], widths[1:])
        )
        deepest = channels[-1]
        self.bottleneck = nn.Sequential(
            _ConvAct(spatial_dims, deepest, 2 * deepest, 1),
            *[_residual(spatial_dims, 2 * deepest) for _ in range(int(bottleneck_blocks))],
            _ConvAct(spatial_dims, 2 * deepest, deepest, 1),
        )
        ups, width = [], deepest
        for skip in reversed(channels):  # deepest skip first
            ups.append(_ConvAct(spatial_dims, width + skip, skip, 3))
            width = skip
        self.up = nn.ModuleList(ups)
        self.refine = nn.Sequential(_residual(spatial_dims, width), _ConvAct(spatial_dims, width, width, 1))
        self.flow = Conv[Conv.CONV, spatial_dims](width, spatial_dims, kernel_size=3, padding=1)
        nn.init.normal_(self.flow.weight, std=1e-5)
        nn.init.zeros_(self.flow.bias)

    def forward(self, moving: torch.Tensor, fixed: torch.Tensor) -> torch.Tensor:
        """Field that warps ``moving`` onto ``fixed`` (both (B, C, *spatial))."""
        x = torch.cat([moving, fixed], dim=1)
        shape = x.shape[2:]
        pad = [max(0, self.minimum - s) for s in shape]
        if any(pad):
            x = F.pad(x, [p for s in reversed(pad) for p in (0, s)], value=-1.0)
        pool = F.max_pool2d if self.spatial_dims == 2 else F.max_pool3d
        skips = []
        for level in self.down:
            x = level(x)
            skips.append(x)
            x = pool(x, 2)
        x = self.bottleneck(x)
        mode = "bilinear" if self.spatial_dims == 2 else "trilinear"
        for up, skip in zip(self.up, reversed(skips)):
            x = F.interpolate(x, size=skip.shape[2:], mode=mode, align_corners=False)
            x = up(torch.cat([x, skip], dim=1))
        field = self.flow(self.refine(x))
        return field[(..., *(slice(0, s) for s in shape))]
