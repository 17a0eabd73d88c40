"""RegGAN's registration network R(G(x), y) -> displacement field, and warping with MONAI.

Two networks: ``unet``, radsynth's lighter MONAI U-Net (:class:`RegistrationNet`), and
``resunet``, the official residual U-Net (:class:`radsynth.translation.resunet.ResUnetRegistration`);
:func:`build_registration` picks one by name.

Fields follow the contract of CONTRIBUTING.md (MONAI ``Warp``): pixels, channel i along
spatial axis i, ``warped(p) = image(p + field(p))``, so a field R predicts compares directly
with the ground truth stored by the misalignment stage.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from monai.networks.blocks import Warp
from monai.networks.layers.factories import Conv
from monai.networks.nets import UNet
from torch import nn

from radsynth.translation.resunet import ResUnetRegistration


def warp_image(image: torch.Tensor, field: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Warp an image in [-1, 1] so that what comes in from outside is background (-1).

    Args:
        image: (B, C, *spatial).
        field: (B, spatial_dims, *spatial) displacement in pixels.
        mode: interpolation ("bilinear" is linear in 2D and 3D; "nearest" for labels).

    Returns:
        The warped image, float32, same shape as ``image``.
    """
    with warnings.catch_warnings():
        # MONAI warns on every construction that it falls back to torch's grid_sample.
        warnings.simplefilter("ignore")
        # A fresh Warp per call: its cached reference grid is keyed on shape only, not device.
        warp = Warp(mode=mode, padding_mode="zeros")
    # float32 pixel coordinates: under bf16 autocast a 256-pixel grid would lose sub-pixel steps.
    with torch.autocast(device_type=image.device.type, enabled=False):
        return warp(image.float() + 1.0, field.float()) - 1.0


class RegistrationNet(nn.Module):
    """U-Net (MONAI ``UNet``) on the concatenated (moving, fixed) pair with a flow head.

    The flow conv starts near zero (normal, std 1e-5; zero bias), so R begins at the identity
    and the correction loss first trains G, as in RegGAN. Inputs whose size is not a multiple
    of the U-Net's total stride are padded with -1 and the field is cropped back.

    Args:
        spatial_dims: 2 or 3; the field has this many channels.
        in_channels: channels of each of the two images.
        channels: U-Net channels per level (each level halves the size), e.g. (32, 64, 64, 64).
        num_res_units: residual units per U-Net block (0: plain convs as in VoxelMorph).
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        channels: Sequence[int] = (32, 64, 64, 64),
        num_res_units: int = 0,
    ):
        super().__init__()
        channels = [int(c) for c in channels]
        if len(channels) < 2:
            raise ValueError(f"registration channels need at least two levels, got {channels}")
        self.multiple = 2 ** (len(channels) - 1)
        # LeakyReLU and no normalisation, like the official ResUnet and VoxelMorph.
        act = ("LEAKYRELU", {"negative_slope": 0.2})
        self.unet = UNet(
            spatial_dims, 2 * in_channels, channels[0], channels=channels, strides=[2] * (len(channels) - 1),
            num_res_units=num_res_units, act=act, norm=None,
        )
        self.act = nn.LeakyReLU(0.2)
        self.flow = Conv[Conv.CONV, spatial_dims](channels[0], spatial_dims, kernel_size=3, padding=1)
        nn.init.normal_(self.flow.weight, std=1e-5)
        nn.init.zeros_(self.flow.bias)

    def forward(self, moving: torch.Tensor, fixed: torch.Tensor) -> torch.Tensor:
        """Field that warps ``moving`` onto ``fixed`` (both (B, C, *spatial))."""
        x = torch.cat([moving, fixed], dim=1)
        shape = x.shape[2:]
        pad = [math.ceil(s / self.multiple) * self.multiple - s for s in shape]
        if any(pad):
            x = F.pad(x, [p for s in reversed(pad) for p in (0, s)], value=-1.0)
        field = self.flow(self.act(self.unet(x)))
        return field[(..., *(slice(0, s) for s in shape))]


REGISTRATION_NETWORKS = {"unet": RegistrationNet, "resunet": ResUnetRegistration}


def build_registration(network: str = "unet", **kwargs) -> nn.Module:
    """The registration network named ``network`` with its constructor ``kwargs``.

    Args:
        network: "unet" (:class:`RegistrationNet`, radsynth's default) or "resunet" (the
            official RegGAN R, :class:`ResUnetRegistration`).
        **kwargs: ``spatial_dims``, ``in_channels``, ``channels`` of that network.
    """
    if network not in REGISTRATION_NETWORKS:
        raise ValueError(f"unknown registration network {network!r}; expected one of {sorted(REGISTRATION_NETWORKS)}")
    return REGISTRATION_NETWORKS[network](**kwargs)
