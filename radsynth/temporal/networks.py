"""The networks of the temporal stage, MONAI's: a ``DiffusionModelUNet`` that reads
(S, T, x_t) and returns the latent code (the noise estimate), a ``VoxelMorphUNet`` that turns
(S, code) into a displacement field, and ``Warp``. The same field network, reading (S, T),
is the VoxelMorph baseline."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.blocks import Warp
from monai.networks.nets import VoxelMorphUNet

from radsynth.synthesis.networks import build_unet, unet_config


def code_unet_config(spatial_dims: int, channels: Sequence[int], attention_levels: Sequence[bool],
                     num_res_blocks: int = 1, num_head_channels: int | None = None, norm_num_groups: int = 4) -> dict:
    """Kwargs of DDM's diffusion module: 3 channels in (S, T, x_t), 1 out (the code)."""
    config = unet_config(1, channels, attention_levels, num_res_blocks, num_head_channels, norm_num_groups)
    config.update(spatial_dims=int(spatial_dims), in_channels=3)
    return config


def field_config(spatial_dims: int, channels: Sequence[int] = (16, 32, 32, 32, 32, 32),
                 unet_out_channels: int = 32, final_conv_channels: Sequence[int] = (16, 16)) -> dict:
    """Kwargs of MONAI's ``VoxelMorphUNet`` from two images (S and the code, or S and T) to a
    displacement field.

    Args:
        spatial_dims: 2 or 3.
        channels: MONAI's UNet widths (its docstring's VoxelMorph: 16, 32, 32, 32, 32, 32).
        unet_out_channels: the UNet's output width.
        final_conv_channels: the convolutions before the field.
    """
    return {"spatial_dims": int(spatial_dims), "in_channels": 2, "unet_out_channels": int(unet_out_channels),
            "channels": [int(c) for c in channels], "final_conv_channels": [int(c) for c in final_conv_channels]}


class FieldNet(torch.nn.Module):
    """Two images -> a displacement field in pixels, (N, spatial_dims, ...)."""

    def __init__(self, config: dict):
        super().__init__()
        self.unet = VoxelMorphUNet(**config)
        last = [m for m in self.unet.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv3d))][-1]
        # VoxelMorph's small initialisation of the field layer: the first fields are near zero.
        torch.nn.init.normal_(last.weight, 0.0, 1e-5)
        torch.nn.init.zeros_(last.bias)

    def forward(self, moving: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        return self.unet(torch.cat([moving, other], dim=1))


def build_code_unet(config: dict):
    return build_unet(config)


def warp(spatial_dims: int, mode: str = "bilinear") -> Warp:
    """MONAI's ``Warp`` (zeros outside, as the official STN); ``nearest`` for labels."""
    return Warp(mode=mode, padding_mode="zeros")
