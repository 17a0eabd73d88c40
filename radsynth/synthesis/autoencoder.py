"""The KL autoencoder of latent diffusion (MONAI ``AutoencoderKL``) and a codec around it.

Latent diffusion runs the DDPM on ``encode(images)`` instead of the images; the codec scales
the latents to unit variance (``scale_factor``) so the noise schedule of pixel space fits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from monai.networks.nets import AutoencoderKL


def autoencoder_config(
    image_channels: int,
    channels: Sequence[int] = (32, 64, 64),
    latent_channels: int = 3,
    num_res_blocks: int | Sequence[int] = 1,
    attention_levels: Sequence[bool] | None = None,
    norm_num_groups: int = 16,
) -> dict:
    """Full keyword arguments of a 2D ``AutoencoderKL`` (input and output: the images).

    Args:
        image_channels: C, the channels of the images to encode.
        channels: feature channels per resolution level; each level after the first halves
            the grid, so the latents are ``2 ** (len(channels) - 1)`` times smaller.
        latent_channels: channels of the latent grid.
        num_res_blocks: residual blocks per level (one for all, or one per level).
        attention_levels: self-attention per level; None is none anywhere (light and fast).
        norm_num_groups: GroupNorm groups; must divide every entry of ``channels``.

    Returns:
        JSON-serialisable kwargs for :func:`build_autoencoder` (stored in checkpoint sidecars).

    Raises:
        ValueError: on lengths that do not match ``channels`` or groups that do not divide it.
    """
    channels = [int(c) for c in channels]
    if not channels:
        raise ValueError("channels needs at least one level")
    if attention_levels is None:
        attention_levels = [False] * len(channels)
    attention_levels = [bool(a) for a in attention_levels]
    if len(attention_levels) != len(channels):
        raise ValueError(
            f"attention_levels has {len(attention_levels)} entries, "
            f"channels {len(channels)}"
        )
    if not isinstance(num_res_blocks, int):
        num_res_blocks = [int(n) for n in num_res_blocks]
        if len(num_res_blocks) != len(channels):
            raise ValueError(
                f"num_res_blocks has {len(num_res_blocks)} entries, "
                f"channels {len(channels)}"
            )
    if any(c % int(norm_num_groups) for c in channels):
        raise ValueError(
            f"norm_num_groups {norm_num_groups} must divide every channel count {channels}"
        )
    return {
        "spatial_dims": 2,
        "in_channels": int(image_channels),
        "out_channels": int(image_channels),
        "channels": channels,
        "latent_channels": int(latent_channels),
        "num_res_blocks": num_res_blocks,
        "attention_levels": attention_levels,
        "norm_num_groups": int(norm_num_groups),
        # The mid-block attention at full latent resolution costs more than the rest here.
        "with_encoder_nonlocal_attn": False,
        "with_decoder_nonlocal_attn": False,
    }


def build_autoencoder(config: dict) -> AutoencoderKL:
    """The autoencoder from the kwargs of :func:`autoencoder_config`."""
    return AutoencoderKL(**config)


def downsample_factor(config: dict) -> int:
    """Stride of the latent grid: image size / latent size."""
    return 2 ** (len(config["channels"]) - 1)


@dataclass
class LatentCodec:
    """A trained autoencoder as an image <-> latent codec for latent diffusion.

    Attributes:
        autoencoder: the MONAI ``AutoencoderKL``.
        scale_factor: latents are ``z_mu * scale_factor`` (unit variance on the training set).
        architecture: the sidecar dict it was built from (see ``AutoencoderResult``).
    """

    autoencoder: AutoencoderKL
    scale_factor: float = 1.0
    architecture: dict = field(default_factory=dict)

    @classmethod
    def from_architecture(
        cls, architecture: dict, state: dict | None = None
    ) -> LatentCodec:
        """Rebuild from ``{"autoencoder": kwargs, "scale_factor": s, ...}`` and optional weights.

        Args:
            architecture: as ``AutoencoderResult.architecture``.
            state: ``{"autoencoder": state_dict, ...}``; None keeps the random initial weights.

        Returns:
            A :class:`LatentCodec` on the CPU.
        """
        autoencoder = build_autoencoder(architecture["autoencoder"])
        if state is not None:
            autoencoder.load_state_dict(state["autoencoder"])
        scale = float(architecture.get("scale_factor", 1.0))
        return cls(autoencoder, scale, architecture)

    @property
    def factor(self) -> int:
        """Stride of the latent grid (see :func:`downsample_factor`)."""
        return 2 ** (len(self.autoencoder.encoder.channels) - 1)

    @property
    def latent_channels(self) -> int:
        return int(self.autoencoder.latent_channels)

    def latent_shape(self, image_shape: Sequence[int]) -> tuple[int, int, int]:
        """``(latent_channels, H / f, W / f)`` of a ``(C, H, W)`` image.

        Raises:
            ValueError: if H or W is not a multiple of the stride (the decoder could not
                give the size back).
        """
        *_, height, width = (int(s) for s in image_shape)
        if height % self.factor or width % self.factor:
            raise ValueError(
                f"image size {height}x{width} is not a multiple of the latent stride "
                f"{self.factor}"
            )
        return self.latent_channels, height // self.factor, width // self.factor

    @torch.no_grad()
    def encode(self, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
        """Scaled posterior means ``z_mu * scale_factor`` (deterministic, no sampling).

        Args:
            images: (N, C, H, W) in [-1, 1], on any device.
            batch_size: images per forward pass (bounds memory, not the result).

        Returns:
            (N, latent_channels, H / f, W / f) on the device of ``images``.
        """
        self.latent_shape(images.shape)
        device = self.device
        latents = [
            self.autoencoder.encode(chunk.to(device, torch.float32))[0]
            for chunk in images.split(batch_size)
        ]
        return (torch.cat(latents) * self.scale_factor).to(images.device)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
        """Images from scaled latents (the inverse of :meth:`encode`, up to reconstruction).

        Args:
            latents: (N, latent_channels, h, w), on any device.
            batch_size: latents per forward pass.

        Returns:
            (N, C, h * f, w * f) on the device of ``latents``.
        """
        device = self.device
        images = [
            self.autoencoder.decode(chunk.to(device, torch.float32) / self.scale_factor)
            for chunk in latents.split(batch_size)
        ]
        return torch.cat(images).to(latents.device)

    @property
    def device(self) -> torch.device:
        return next(self.autoencoder.parameters()).device

    def to(self, device: torch.device | str) -> LatentCodec:
        self.autoencoder.to(device)
        return self

    def eval(self) -> LatentCodec:
        self.autoencoder.eval()
        return self
