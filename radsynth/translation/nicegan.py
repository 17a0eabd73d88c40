"""NICE-GAN (Chen et al., CVPR 2020) as RegGAN compares it, in 2D or 3D: the discriminator's
first layers are the encoder, and the generator decodes what they encode.

Sizes follow the official RegGAN code (Kid-Liet/Reg-GAN ``Model/NiceGan.py``), 1 channel at
256 px: C's discriminator (``filters=64``, ``layers=7``) has 46,872,385 parameters, 165,441 of
them its encoder; C's generator (``filters=64``, ``residual_blocks=7``) 277,648,960, of which
268,435,456 is one linear layer that flattens the 256 x 64 x 64 bottleneck. ``light=True``
averages the bottleneck over space first (NICE-GAN's own light variant), for the CPU and 3D.
NC's networks (``Discriminator2``, ``ResnetGenerator2``): replication padding, a 32-filter
discriminator whose global head ends in a 3x3 conv (11,722,657), and a generator carrying its
own copy of the encoder (277,814,401).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from monai.networks.utils import pixelshuffle
from torch import nn

from radsynth.translation.blocks import ILN, AdaILN, ConvBlock, conv, pad_layer


class NiceEncoder(nn.Module):
    """Two 4x4 stride-2 spectral-norm convs (LeakyReLU 0.2), then the class-activation-map
    attention: a spectral-norm linear scores the concatenated global average and max pools
    (the CAM logit), the features (duplicated) are weighted by that linear layer's raw
    weights, a 1x1 conv halves them and ``lamda`` (starting at 0) mixes them back in.

    The raw weights, not the spectrally normalised ones, weight the features: the original
    reads ``list(fc.parameters())[0]``, which spectral norm leaves un-normalised.

    Args:
        spatial_dims: 2 or 3.
        in_channels: image channels.
        filters: width of the first conv; the code z has 2 x filters channels at 1/4 size.
        pad: "reflect" (C) or "replicate" (NC).
    """

    def __init__(self, spatial_dims: int, in_channels: int, filters: int = 64, pad: str = "reflect"):
        super().__init__()
        f = int(filters)
        block = {"stride": 2, "padding": 1, "pad": pad, "act": "lrelu", "spectral": True}
        self.model = nn.Sequential(ConvBlock(spatial_dims, in_channels, f, 4, **block),
                                   ConvBlock(spatial_dims, f, 2 * f, 4, **block))
        self.fc = nn.utils.parametrizations.spectral_norm(nn.Linear(4 * f, 1, bias=False))
        self.conv1x1 = conv(spatial_dims, 4 * f, 2 * f, 1)
        self.lamda = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(z, CAM logit (B, 1))."""
        x0 = self.model(x)
        pooled = torch.cat([x0.flatten(2).mean(2), x0.flatten(2).amax(2)], 1)
        cam_logit = self.fc(pooled)
        weight = self.fc.parametrizations.weight.original.reshape((1, -1) + (1,) * (x0.dim() - 2))
        x = self.conv1x1(torch.cat([x0, x0], 1) * weight)
        return F.leaky_relu(self.lamda * x + x0, 0.2), cam_logit


class NiceDiscriminator(nn.Module):
    """NICE-GAN's discriminator: :class:`NiceEncoder`, then a local head (PatchGAN-like) and a
    global head (deeper), each ending in an unbiased spectral-norm conv to one score map.

    From z (2f channels): ``layers - 6`` stride-2 convs doubling the width (shared), then the
    local head (a stride-1 conv doubling the width, pad, 4x4 conv to 1) and the global head
    (two stride-2 convs and a stride-1 conv doubling the width, pad, conv to 1); official
    C: ``layers=7``, 30x30 and 6x6 maps at 256 px. The global head needs at least
    3 x 2^(layers-2) px a side (2 x 2^(layers-2) with ``global_kernel=3``).

    Args:
        spatial_dims: 2 or 3.
        in_channels: image channels.
        filters: width of the first conv (C: 64, NC: 32).
        layers: depth, 6 or more (7).
        pad: "reflect" (C) or "replicate" (NC).
        global_kernel: kernel of the global head's last conv (C: 4, NC: 3).

    Returns (forward):
        ``(local map, global map, CAM logit, z)``; :meth:`encode` returns z alone.
    """

    def __init__(self, spatial_dims: int = 2, in_channels: int = 1, filters: int = 64, layers: int = 7,
                 pad: str = "reflect", global_kernel: int = 4):
        super().__init__()
        if int(layers) < 6:
            raise ValueError(f"the NICE-GAN discriminator needs layers >= 6, got {layers}")
        f, sd = int(filters), spatial_dims
        block = {"padding": 1, "pad": pad, "act": "lrelu", "spectral": True}
        self.encoder = NiceEncoder(sd, in_channels, f, pad)
        shared, c = [], 2 * f
        for _ in range(int(layers) - 6):
            shared.append(ConvBlock(sd, c, 2 * c, 4, stride=2, **block))
            c *= 2
        self.shared = nn.Sequential(*shared)
        self.local_head = nn.Sequential(ConvBlock(sd, c, 2 * c, 4, **block), pad_layer(sd, pad, 1),
                                        conv(sd, 2 * c, 1, 4, bias=False, spectral=True))
        self.global_head = nn.Sequential(
            ConvBlock(sd, c, 2 * c, 4, stride=2, **block), ConvBlock(sd, 2 * c, 4 * c, 4, stride=2, **block),
            ConvBlock(sd, 4 * c, 8 * c, 4, **block), pad_layer(sd, pad, 1),
            conv(sd, 8 * c, 1, int(global_kernel), bias=False, spectral=True),
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)[0]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        z, cam_logit = self.encoder(x)
        shared = self.shared(z)
        return self.local_head(shared), self.global_head(shared), cam_logit, z


class PixelShuffle(nn.Module):
    """Sub-pixel 2x upsampling in 2D or 3D (MONAI ``pixelshuffle``; ``nn.PixelShuffle`` in 2D)."""

    def __init__(self, spatial_dims: int):
        super().__init__()
        self.spatial_dims = spatial_dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pixelshuffle(x, self.spatial_dims, 2)


class AdaILNBlock(nn.Module):
    """``x + (pad-conv3-AdaILN-ReLU-pad-conv3-AdaILN)(x)``, unbiased convs, reflection padding."""

    def __init__(self, spatial_dims: int, channels: int):
        super().__init__()
        self.conv1 = ConvBlock(spatial_dims, channels, channels, 3, padding=1, bias=False)
        self.norm1 = AdaILN(channels)
        self.conv2 = ConvBlock(spatial_dims, channels, channels, 3, padding=1, bias=False)
        self.norm2 = AdaILN(channels)

    def forward(self, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.norm1(self.conv1(x), gamma, beta))
        return x + self.norm2(self.conv2(y), gamma, beta)


class NiceGenerator(nn.Module):
    """NICE-GAN's generator: decodes a code z (or, ``own_encoder``, an image through its own
    :class:`NiceEncoder`, as RegGAN's NC ``ResnetGenerator2``).

    A 3x3 conv to 4f channels (ILN, ReLU); an MLP gives the AdaILN scale and shift from the
    flattened bottleneck (or, ``light``, its spatial mean); AdaILN residual blocks; two
    (3x3 conv, ILN, ReLU, 1x1 conv, pixel shuffle 2x, ILN, ReLU); a 7x7 conv and tanh.

    Args:
        spatial_dims: 2 or 3.
        in_channels: channels of z (2 x the encoder's filters), or of the image with ``own_encoder``.
        out_channels: image channels.
        filters: f (64); the bottleneck has 4f channels.
        residual_blocks: AdaILN blocks (7).
        light: average the bottleneck over space before the MLP; False flattens it, which
            ties the network to ``image_size`` (and, at 256 px, costs 268 M weights).
        image_size: spatial size of the images (needed when not ``light``).
        own_encoder: encode images with an encoder of f filters of its own (NC).
        pad: padding of the first and last conv and of the own encoder ("reflect" in C,
            "replicate" in NC; the upsampling convs and residual blocks always reflect).
    """

    def __init__(self, spatial_dims: int = 2, in_channels: int = 128, out_channels: int = 1, filters: int = 64,
                 residual_blocks: int = 7, light: bool = False, image_size: Sequence[int] | None = None,
                 own_encoder: bool = False, pad: str = "reflect"):
        super().__init__()
        f, sd = int(filters), spatial_dims
        self.light = bool(light)
        self.encoder = NiceEncoder(sd, in_channels, f, pad) if own_encoder else None
        z_channels = 2 * f if own_encoder else int(in_channels)
        self.up0 = ConvBlock(sd, z_channels, 4 * f, 3, padding=1, pad=pad)
        self.up0_norm = ILN(4 * f)
        if self.light:
            features = 4 * f
        elif image_size is None or len(image_size) != sd:
            raise ValueError(f"a NICE-GAN generator that is not light needs image_size with {sd} values, got {image_size}")
        else:
            features = 4 * f * math.prod(int(s) // 4 for s in image_size)
        self.mlp = nn.Sequential(nn.Linear(features, 4 * f, bias=False), nn.ReLU(),
                                 nn.Linear(4 * f, 4 * f, bias=False), nn.ReLU())
        self.gamma = nn.Linear(4 * f, 4 * f, bias=False)
        self.beta = nn.Linear(4 * f, 4 * f, bias=False)
        self.blocks = nn.ModuleList([AdaILNBlock(sd, 4 * f) for _ in range(int(residual_blocks))])
        up: list[nn.Module] = []
        for c in (4 * f, 2 * f):
            up += [ConvBlock(sd, c, c // 2, 3, padding=1, bias=False), ILN(c // 2), nn.ReLU(),
                   conv(sd, c // 2, c // 2 * 2**sd, 1), PixelShuffle(sd), ILN(c // 2), nn.ReLU()]
        up += [ConvBlock(sd, f, out_channels, 7, padding=3, pad=pad, bias=False, act="tanh")]
        self.up = nn.Sequential(*up)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.encoder is not None:
            x = self.encoder(x)[0]
        x = F.relu(self.up0_norm(self.up0(x)))
        pooled = x.flatten(2).mean(2) if self.light else x.flatten(1)
        hidden = self.mlp(pooled)
        gamma, beta = self.gamma(hidden), self.beta(hidden)
        for block in self.blocks:
            x = block(x, gamma, beta)
        return self.up(x)
