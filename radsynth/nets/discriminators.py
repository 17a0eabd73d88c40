"""PatchGAN discriminator (MONAI ``PatchDiscriminator``) as Pix2Pix / CycleGAN / RegGAN use it."""

from __future__ import annotations

import torch
from monai.networks.nets import PatchDiscriminator


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
    """

    def __init__(self, spatial_dims: int = 2, in_channels: int = 1, filters: int = 64, layers: int = 3):
        # bias=True as in the originals (InstanceNorm has no affine shift to make it redundant).
        super().__init__(
            spatial_dims=spatial_dims, channels=int(filters), in_channels=in_channels, out_channels=1,
            num_layers_d=int(layers), norm="INSTANCE", bias=True,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x)[-1]
