"""MUNIT (Huang et al., ECCV 2018) as RegGAN compares it: per domain a content encoder (UNIT's),
a style encoder, and UNIT's decoder with AdaIN in its residual blocks fed by an MLP of the
style; the discriminator is UNIT's (:class:`radsynth.translation.unit.MultiScaleDiscriminator`).

Sizes follow the official RegGAN code (Kid-Liet/Reg-GAN ``Model/Munit.py``, ``Yaml/Munit.yaml``):
with ``filters=64, residual_blocks=4, style_dim=8, mlp_dim=256`` a 1-channel generator has
15,007,369 parameters, its style encoder 2,758,664.

Translation A -> B decodes A's content with a style of B. The original draws that style at
random for every test image, so its outputs (and scores) change from run to run; here every
image gets the same style, drawn once from N(0, I) with the seed ``test_style_seed``, so
a checkpoint always translates the same way.
"""

from __future__ import annotations

import torch
from monai.networks.layers.factories import Conv, Pool
from torch import nn

from radsynth.translation.blocks import ConvBlock
from radsynth.translation.unit import ContentEncoder, Decoder


class StyleEncoder(nn.Module):
    """7x7 conv, two 4x4 stride-2 convs doubling the width, two more keeping it, global
    average pooling and a 1x1 conv to the style code; ReLU, no norm, reflection padding.

    Args:
        spatial_dims: 2 or 3.
        in_channels: image channels.
        filters: width of the first conv (64).
        style_dim: length of the style code (8).
    """

    def __init__(self, spatial_dims: int, in_channels: int, filters: int = 64, style_dim: int = 8):
        super().__init__()
        f = int(filters)
        block = {"stride": 2, "padding": 1, "act": "relu"}
        self.model = nn.Sequential(
            ConvBlock(spatial_dims, in_channels, f, 7, padding=3, act="relu"),
            ConvBlock(spatial_dims, f, 2 * f, 4, **block),
            ConvBlock(spatial_dims, 2 * f, 4 * f, 4, **block),
            ConvBlock(spatial_dims, 4 * f, 4 * f, 4, **block),
            ConvBlock(spatial_dims, 4 * f, 4 * f, 4, **block),
            Pool[Pool.ADAPTIVEAVG, spatial_dims](1),
            Conv[Conv.CONV, spatial_dims](4 * f, int(style_dim), 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, style_dim) style codes."""
        return self.model(x).flatten(1)


class AdaINGenerator(nn.Module):
    """MUNIT's auto-encoder of one domain: content and style encoders, AdaIN decoder, MLP.

    Args:
        spatial_dims: 2 or 3.
        channels: image channels of this domain.
        filters: width of the encoders' first convs (64).
        residual_blocks: residual blocks in the content encoder and in the decoder (4).
        style_dim: length of the style code (8).
        mlp_dim: width of the MLP's hidden layers (256); the MLP has three linear layers
            with ReLU between them and outputs every AdaIN scale and shift.
        test_style_seed: seed of the one style code :meth:`test_style` gives every image.
    """

    def __init__(self, spatial_dims: int = 2, channels: int = 1, filters: int = 64, residual_blocks: int = 4,
                 style_dim: int = 8, mlp_dim: int = 256, test_style_seed: int = 0):
        super().__init__()
        self.style_dim, self.test_style_seed = int(style_dim), int(test_style_seed)
        self.style_encoder = StyleEncoder(spatial_dims, channels, filters, style_dim)
        self.content_encoder = ContentEncoder(spatial_dims, channels, filters, residual_blocks)
        self.decoder = Decoder(spatial_dims, self.content_encoder.out_channels, channels, residual_blocks, norm="adain")
        m = int(mlp_dim)
        self.mlp = nn.Sequential(
            nn.Linear(self.style_dim, m), nn.ReLU(), nn.Linear(m, m), nn.ReLU(),
            nn.Linear(m, self.decoder.adain_parameters),
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(content, style) codes of images of this domain."""
        return self.content_encoder(x), self.style_encoder(x)

    def decode(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """Images of this domain from a content and (B, style_dim) styles."""
        return self.decoder(content, self.mlp(style.flatten(1)))

    def test_style(self, n: int, like: torch.Tensor) -> torch.Tensor:
        """The fixed test style, (n, style_dim), on ``like``'s device and dtype (drawn on the CPU)."""
        generator = torch.Generator().manual_seed(self.test_style_seed)
        style = torch.randn(1, self.style_dim, generator=generator)
        return style.to(device=like.device, dtype=like.dtype).expand(n, -1)
