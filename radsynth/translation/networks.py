"""The networks of Pix2Pix / CycleGAN / RegGAN, in 2D or 3D: the ResNet generator and the
PatchGAN discriminator (the mask-to-image GAN of :mod:`radsynth.synthesis.gan` reuses both).

MONAI has no ResNet (CycleGAN-style) generator, so this one is assembled from MONAI
``Convolution`` blocks plus the reflection padding and residual blocks of the original.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from monai.networks.blocks import Convolution
from monai.networks.nets import PatchDiscriminator
from torch import nn

_REFLECTION_PAD = {1: nn.ReflectionPad1d, 2: nn.ReflectionPad2d, 3: nn.ReflectionPad3d}


def _reflect_conv(spatial_dims: int, in_channels: int, out_channels: int, kernel: int, **kwargs):
    """Reflection padding then an unpadded MONAI ``Convolution`` (the original's pad + conv)."""
    return nn.Sequential(
        _REFLECTION_PAD[spatial_dims](kernel // 2),
        Convolution(spatial_dims, in_channels, out_channels, kernel_size=kernel, padding=0, **kwargs),
    )


class ResidualBlock(nn.Module):
    """``x + (pad-conv3-IN-ReLU-pad-conv3-IN)(x)``: MONAI's ``ResidualUnit`` cannot end in conv + norm."""

    def __init__(self, spatial_dims: int, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            _reflect_conv(spatial_dims, channels, channels, 3, norm="INSTANCE", act="RELU"),
            _reflect_conv(spatial_dims, channels, channels, 3, norm="INSTANCE", act=None),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """ResNet generator: 7x7 conv, two stride-2 convs, residual blocks, two up-convs, 7x7 + tanh.

    Inputs whose spatial size is not a multiple of 4 are padded with -1 (background) and the
    output is cropped back, so any slice size works.

    Args:
        spatial_dims: 2 or 3.
        in_channels: channels of the source image.
        out_channels: channels of the synthesised image.
        filters: channels after the first 7x7 conv (64 in the paper); doubled per down-sampling.
        residual_blocks: residual blocks at the bottleneck (9 in the paper).
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        out_channels: int = 1,
        filters: int = 64,
        residual_blocks: int = 9,
    ):
        super().__init__()
        f = int(filters)
        block = {"norm": "INSTANCE", "act": "RELU"}
        layers: list[nn.Module] = [_reflect_conv(spatial_dims, in_channels, f, 7, **block)]
        for scale in (1, 2):  # down-sampling: f -> 2f -> 4f
            layers.append(
                Convolution(spatial_dims, f * scale, f * scale * 2, strides=2, kernel_size=3, padding=1, **block)
            )
        layers += [ResidualBlock(spatial_dims, 4 * f) for _ in range(int(residual_blocks))]
        for scale in (4, 2):  # up-sampling with transposed convs, as in the original
            layers.append(
                Convolution(
                    spatial_dims, f * scale, f * scale // 2, strides=2, kernel_size=3, padding=1,
                    output_padding=1, is_transposed=True, **block,
                )
            )
        layers.append(_reflect_conv(spatial_dims, f, out_channels, 7, act="TANH", norm=None))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape[2:]
        pad = [(-s) % 4 for s in shape]
        if any(pad):
            # F.pad lists the last axis first, (before, after) per axis.
            x = F.pad(x, [p for s in reversed(pad) for p in (0, s)], value=-1.0)
        y = self.model(x)
        return y[(..., *(slice(0, s) for s in shape))]


class PatchGAN(PatchDiscriminator):
    """MONAI ``PatchDiscriminator`` returning only the final patch map (not the feature list).

    With ``filters=64, layers=3`` this is the 70x70 PatchGAN of the paper: 4x4 convs with
    64-128-256-512 channels (strides 2, 2, 2, 1), InstanceNorm, LeakyReLU 0.2, one output map.

    Args:
        spatial_dims: 2 or 3.
        in_channels: 1 for an unconditional discriminator, source + target channels for
            Pix2Pix's conditional one.
        filters: channels of the first conv; doubled per layer.
        layers: normalised conv layers after the first (``num_layers_d``).
        pool: average the map to one score per image, (B, 1), as the official RegGAN
            discriminator does (``Model/CycleGan.py``); False keeps the (B, 1, *map) patch
            map of Pix2Pix/CycleGAN, each patch scored by the loss.
    """

    def __init__(
        self, spatial_dims: int = 2, in_channels: int = 1, filters: int = 64, layers: int = 3, pool: bool = False
    ):
        # bias=True as in the originals (InstanceNorm has no affine shift to make it redundant).
        super().__init__(
            spatial_dims=spatial_dims, channels=int(filters), in_channels=in_channels, out_channels=1,
            num_layers_d=int(layers), norm="INSTANCE", bias=True,
        )
        self.pool = bool(pool)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        scores = super().forward(x)[-1]
        return scores.flatten(2).mean(2) if self.pool else scores
