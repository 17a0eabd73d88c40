"""The reconstruction networks: MONAI ``DiffusionModelUNet`` for both diffusion methods and
MONAI ``BasicUNet`` for the supervised baseline. Complex slices are two channels."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.nets import BasicUNet

from radsynth.synthesis.networks import build_unet, unet_config


def diffusion_unet_config(in_channels: int, channels: Sequence[int], attention_levels: Sequence[bool],
                          num_res_blocks: int = 2, num_head_channels: int | None = None,
                          norm_num_groups: int = 32) -> dict:
    """Kwargs of a 2-channel-output ``DiffusionModelUNet`` (the complex noise).

    Args:
        in_channels: 4 for MC-DDPM (the current full image and the zero-filled image, complex),
            2 for DiffuseRecon (the noisy complex image).
        channels, attention_levels, num_res_blocks, num_head_channels, norm_num_groups: as
            :func:`radsynth.synthesis.networks.unet_config`.
    """
    config = unet_config(2, channels, attention_levels, num_res_blocks, num_head_channels, norm_num_groups)
    config["in_channels"] = int(in_channels)
    return config


def baseline_config(features: Sequence[int] = (32, 32, 64, 128, 256, 32)) -> dict:
    """Kwargs of the supervised baseline, a MONAI ``BasicUNet`` from the zero-filled magnitude
    to the magnitude, as fastMRI's U-Net baseline (6 feature widths: 5 levels and the output)."""
    return {"spatial_dims": 2, "in_channels": 1, "out_channels": 1, "features": [int(f) for f in features]}


class ResidualUNet(torch.nn.Module):
    """The baseline: zero-filled magnitude + ``BasicUNet`` correction (it learns the aliasing).

    ``BasicUNet`` pools four times and instance-normalises each level, so slices are zero-padded
    (background) to a multiple of 16 and at least 32 pixels, and cropped back.
    """

    def __init__(self, config: dict):
        super().__init__()
        self.unet = BasicUNet(**config)

    def forward(self, zero_filled: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) zero-filled magnitudes -> (N, 1, H, W) magnitudes."""
        h, w = zero_filled.shape[-2:]
        ph, pw = (max(32, -(-n // 16) * 16) - n for n in (h, w))
        padded = torch.nn.functional.pad(zero_filled, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
        correction = self.unet(padded)[..., ph // 2:ph // 2 + h, pw // 2:pw // 2 + w]
        return zero_filled + correction


def build_network(kind: str, config: dict) -> torch.nn.Module:
    """``"unet"`` -> :class:`ResidualUNet`; ``"mcddpm"``/``"diffuserecon"`` -> ``DiffusionModelUNet``."""
    return ResidualUNet(config) if kind == "unet" else build_unet(config)


def architecture_for(kind: str, settings: dict) -> dict:
    """The network kwargs of a method from its config block (``recon.unet``, ``recon.mcddpm``,
    ``recon.diffuserecon``)."""
    if kind == "unet":
        return baseline_config(settings["features"])
    unet = settings["unet"]
    return diffusion_unet_config(4 if kind == "mcddpm" else 2, unet["channels"], unet["attention_levels"],
                                 unet["num_res_blocks"], unet["num_head_channels"], unet["norm_num_groups"])
