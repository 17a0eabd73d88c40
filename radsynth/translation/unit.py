"""UNIT (Liu et al., NeurIPS 2017) as RegGAN compares it: one shared-latent VAE per domain and
a multi-scale least-squares discriminator, in 2D or 3D. MUNIT (:mod:`radsynth.translation.munit`)
reuses the content encoder, the decoder and the discriminator.

Sizes follow the official RegGAN code (Kid-Liet/Reg-GAN ``Model/Unit.py``, ``Yaml/Unit.yaml``):
with ``filters=64, residual_blocks=4`` a 1-channel VAE has 11,127,937 parameters (encoder
5,379,584 + decoder 5,748,353), and the 3-scale discriminator 8,265,027 (2,755,009 a scale).
"""

from __future__ import annotations

import torch
from monai.networks.layers.factories import Conv, Pool
from torch import nn

from radsynth.translation.blocks import ConvBlock, ResBlock


class ContentEncoder(nn.Module):
    """7x7 conv, two 4x4 stride-2 convs (doubling the width), instance-norm residual blocks.

    Every conv is reflection-padded, instance-normalised and ReLU'd, as the original's.

    Args:
        spatial_dims: 2 or 3.
        in_channels: image channels.
        filters: width of the first conv (64); the output has 4x as many channels.
        residual_blocks: residual blocks at the end (4).
    """

    def __init__(self, spatial_dims: int, in_channels: int, filters: int = 64, residual_blocks: int = 4):
        super().__init__()
        f = int(filters)
        block = {"pad": "reflect", "norm": "instance", "act": "relu"}
        self.model = nn.Sequential(
            ConvBlock(spatial_dims, in_channels, f, 7, padding=3, **block),
            ConvBlock(spatial_dims, f, 2 * f, 4, stride=2, padding=1, **block),
            ConvBlock(spatial_dims, 2 * f, 4 * f, 4, stride=2, padding=1, **block),
            *[ResBlock(spatial_dims, 4 * f) for _ in range(int(residual_blocks))],
        )
        self.out_channels = 4 * f

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class Decoder(nn.Module):
    """Residual blocks (instance norm, or AdaIN for MUNIT), two (nearest 2x upsampling, 5x5
    conv, :class:`~radsynth.translation.blocks.LayerNorm`, ReLU), then a 7x7 conv and tanh.

    Args:
        spatial_dims: 2 or 3.
        in_channels: channels of the latent (4 x filters).
        out_channels: image channels.
        residual_blocks: residual blocks (4).
        norm: "instance" (UNIT) or "adain" (MUNIT: the forward then takes the AdaIN parameters).
    """

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int, residual_blocks: int = 4,
                 norm: str = "instance"):
        super().__init__()
        c = int(in_channels)
        self.blocks = nn.ModuleList([ResBlock(spatial_dims, c, norm=norm) for _ in range(int(residual_blocks))])
        self.adain_parameters = 4 * c * len(self.blocks) if norm == "adain" else 0
        layers: list[nn.Module] = []
        for _ in range(2):
            layers += [nn.Upsample(scale_factor=2, mode="nearest"),
                       ConvBlock(spatial_dims, c, c // 2, 5, padding=2, norm="layer", act="relu")]
            c //= 2
        layers.append(ConvBlock(spatial_dims, c, out_channels, 7, padding=3, act="tanh"))
        self.up = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, adain: torch.Tensor | None = None) -> torch.Tensor:
        step = self.adain_parameters // max(len(self.blocks), 1)
        for i, block in enumerate(self.blocks):
            x = block(x, None if adain is None else adain[:, i * step : (i + 1) * step])
        return self.up(x)


class VAEGenerator(nn.Module):
    """UNIT's auto-encoder of one domain: :class:`ContentEncoder` + :class:`Decoder`.

    Translation A -> B decodes A's latent with B's decoder. In training the latent gets unit
    Gaussian noise (the "reduced VAE" of the original: mean = the latent, std = 1) and the KL
    term is ``mean(h**2)``; at test time the latent is decoded as it is.

    Args:
        spatial_dims: 2 or 3.
        channels: image channels of this domain.
        filters: width of the first conv (64).
        residual_blocks: residual blocks in the encoder and in the decoder (4).
    """

    def __init__(self, spatial_dims: int = 2, channels: int = 1, filters: int = 64, residual_blocks: int = 4):
        super().__init__()
        self.encoder = ContentEncoder(spatial_dims, channels, filters, residual_blocks)
        self.decoder = Decoder(spatial_dims, self.encoder.out_channels, channels, residual_blocks)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        return self.decoder(h)


class MultiScaleDiscriminator(nn.Module):
    """UNIT/MUNIT's discriminator: the same PatchGAN at ``scales`` resolutions, each a stack of
    4x4 stride-2 reflection-padded convs (64-128-256-512, LeakyReLU 0.2, no norm) and a 1x1
    conv to one map; the image is average-pooled (3, stride 2, padding 1, padding not
    counted) between scales.

    Args:
        spatial_dims: 2 or 3.
        in_channels: image channels.
        filters: width of the first conv (64); doubled per layer.
        layers: stride-2 convs per scale (4).
        scales: resolutions (3).

    Returns (forward):
        One score map per scale, finest first.
    """

    def __init__(self, spatial_dims: int = 2, in_channels: int = 1, filters: int = 64, layers: int = 4,
                 scales: int = 3):
        super().__init__()
        self.nets = nn.ModuleList()
        for _ in range(int(scales)):
            f = int(filters)
            convs = [ConvBlock(spatial_dims, in_channels, f, 4, stride=2, padding=1, act="lrelu")]
            for _ in range(int(layers) - 1):
                convs.append(ConvBlock(spatial_dims, f, 2 * f, 4, stride=2, padding=1, act="lrelu"))
                f *= 2
            convs.append(Conv[Conv.CONV, spatial_dims](f, 1, 1))
            self.nets.append(nn.Sequential(*convs))
        self.downsample = Pool[Pool.AVG, spatial_dims](3, stride=2, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for net in self.nets:
            outputs.append(net(x))
            x = self.downsample(x)
        return outputs
