"""Diffusion networks: MONAI's DiffusionModelUNet and ControlNet, a prompt encoder, the schedules.

EMIT-Diff's model is a text-conditioned diffusion UNet (prompts through cross-attention) plus
a ControlNet that reads the control image (edges + mask boundary). The unconditional DDPM
generator is the same UNet without cross-attention, producing the image and its mask together.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.nets import ControlNet, DiffusionModelUNet
from monai.networks.schedulers import DDPMScheduler
from monai.networks.utils import copy_model_state
from torch import nn

from radsynth.synthesis.prompts import MAX_WORDS, VOCABULARY
from radsynth.synthesis.schedulers import RespacedDDPMScheduler, SpacedDDIMScheduler

# MONAI's inferers fill the unconditional context with this value for classifier-free
# guidance, so a prompt dropped in training is replaced by the same constant.
CFG_FILL_VALUE = -1.0


def unet_config(
    image_channels: int,
    channels: Sequence[int] = (32, 64, 64),
    attention_levels: Sequence[bool] = (False, False, True),
    num_res_blocks: int | Sequence[int] = 1,
    num_head_channels: int | Sequence[int] | None = None,
    norm_num_groups: int = 32,
    cross_attention_dim: int | None = None,
    use_flash_attention: bool = True,
) -> dict:
    """Full keyword arguments of a 2D ``DiffusionModelUNet``.

    Args:
        image_channels: channels it denoises (image channels, + 1 for a joint mask channel, or
            the latent channels of an autoencoder).
        channels: feature channels per resolution level.
        attention_levels: self-attention (and cross-attention, with a prompt) per level.
        num_res_blocks: residual blocks per level.
        num_head_channels: channels per attention head; None takes 32, or fewer where a level
            has fewer channels.
        norm_num_groups: GroupNorm groups; must divide every entry of ``channels``.
        cross_attention_dim: width of the prompt embedding; None for an unconditional UNet.
        use_flash_attention: attention through torch's fused ``scaled_dot_product_attention``.

    Returns:
        JSON-serialisable kwargs for :func:`build_unet` (stored in checkpoint sidecars).
    """
    channels = [int(c) for c in channels]
    attention_levels = [bool(a) for a in attention_levels]
    if len(attention_levels) != len(channels):
        raise ValueError(f"attention_levels has {len(attention_levels)} entries, channels {len(channels)}")
    if num_head_channels is None:
        num_head_channels = [min(32, c) for c in channels]
    return {
        "spatial_dims": 2,
        "in_channels": int(image_channels),
        "out_channels": int(image_channels),
        "channels": channels,
        "attention_levels": attention_levels,
        "num_res_blocks": num_res_blocks if isinstance(num_res_blocks, int) else list(num_res_blocks),
        "num_head_channels": num_head_channels if isinstance(num_head_channels, int) else list(num_head_channels),
        "norm_num_groups": int(norm_num_groups),
        "with_conditioning": cross_attention_dim is not None,
        "cross_attention_dim": None if cross_attention_dim is None else int(cross_attention_dim),
        "use_flash_attention": bool(use_flash_attention),
    }


def build_unet(config: dict) -> DiffusionModelUNet:
    """The noise-prediction UNet from the kwargs of :func:`unet_config`."""
    return DiffusionModelUNet(**config)


def controlnet_config(unet: dict, downsample: int = 1, embedding_channels: int = 16) -> dict:
    """Kwargs of a MONAI ``ControlNet`` that mirrors a UNet's encoder.

    Args:
        unet: the kwargs of :func:`unet_config` of the frozen diffusion UNet.
        downsample: how much smaller the UNet's input is than the control image (1 in pixel
            space, the autoencoder's factor in latent space); a power of two.
        embedding_channels: channels of the control-image embedding; doubled per downsampling.

    Returns:
        JSON-serialisable kwargs for :func:`build_controlnet`.
    """
    levels = int(downsample).bit_length() - 1
    if downsample < 1 or 2**levels != downsample:
        raise ValueError(f"downsample must be a power of two, not {downsample}")
    keys = ("spatial_dims", "in_channels", "channels", "attention_levels", "num_res_blocks", "num_head_channels")
    config = {key: unet[key] for key in keys}
    config.update(
        norm_num_groups=unet["norm_num_groups"],
        with_conditioning=unet["with_conditioning"],
        cross_attention_dim=unet["cross_attention_dim"],
        use_flash_attention=unet["use_flash_attention"],
        conditioning_embedding_in_channels=1,
        # One stride-2 stage per halving, so the control image meets the latent grid.
        conditioning_embedding_num_channels=[int(embedding_channels) * 2**i for i in range(levels + 1)],
    )
    return config


def build_controlnet(config: dict, unet: DiffusionModelUNet | None = None) -> ControlNet:
    """A ControlNet; given the trained UNet, its encoder weights are copied in (ControlNet's
    initialisation: a trainable copy of the encoder whose zero-initialised outputs start silent)."""
    controlnet = ControlNet(**config)
    if unet is not None:
        copy_model_state(controlnet, unet.state_dict())
    return controlnet


class PromptEncoder(nn.Module):
    """A learned embedding of the fixed prompt vocabulary: word + position, then LayerNorm.

    Stands in for EMIT-Diff's CLIP text encoder, which cannot be downloaded here.

    Args:
        dim: embedding width (the UNet's ``cross_attention_dim``).
    """

    def __init__(self, dim: int = 64):
        super().__init__()
        self.words = nn.Embedding(len(VOCABULARY), dim, padding_idx=0)
        self.positions = nn.Parameter(torch.zeros(MAX_WORDS, dim))
        self.norm = nn.LayerNorm(dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, MAX_WORDS) word indices -> (B, MAX_WORDS, dim) context for cross-attention."""
        return self.norm(self.words(tokens) + self.positions)


def scheduler_config(
    num_train_timesteps: int = 1000,
    schedule: str = "linear_beta",
    beta_start: float = 1e-4,
    beta_end: float = 2e-2,
    prediction_type: str = "epsilon",
) -> dict:
    """The noise schedule shared by DDPM training and DDIM sampling (must be identical).

    Args:
        num_train_timesteps: T, the length of the forward process.
        schedule: a MONAI beta schedule ("linear_beta", "scaled_linear_beta", "cosine").
        beta_start: first beta (linear schedules).
        beta_end: last beta (linear schedules).
        prediction_type: what the network predicts: "epsilon" (the noise, DDPM/EMIT-Diff),
            "v_prediction" or "sample" (x0, which gives usable samples far sooner in short runs).

    Returns:
        JSON-serialisable kwargs for :func:`ddpm_scheduler` and :func:`ddim_scheduler`.
    """
    config = {"num_train_timesteps": int(num_train_timesteps), "schedule": schedule, "prediction_type": prediction_type}
    if schedule != "cosine":  # the cosine schedule takes no betas
        config.update(beta_start=float(beta_start), beta_end=float(beta_end))
    return config


def ddpm_scheduler(config: dict) -> DDPMScheduler:
    """DDPM scheduler of training (noising and targets; its clipping is never used there)."""
    return DDPMScheduler(**config)


def ddim_scheduler(config: dict, steps: int, *, clip_sample: bool = True, eta: float = 0.0) -> SpacedDDIMScheduler:
    """DDIM over the training schedule, set to ``steps`` steps of one stride each.

    Args:
        config: kwargs of :func:`scheduler_config`.
        steps: sampling steps.
        clip_sample: clamp each x0 prediction to [-1, 1]: right for pixel-space data in
            [-1, 1] (the DDPM convention), wrong for latents, whose values are unbounded.
        eta: DDIM's noise weight (0: deterministic).
    """
    scheduler = SpacedDDIMScheduler(**config, clip_sample=clip_sample, eta=eta)
    scheduler.set_timesteps(int(steps))
    return scheduler


def sampling_scheduler(config: dict, sampler: str, steps: int, *, clip_sample: bool = True, eta: float = 0.0):
    """``"ddim"`` with ``steps`` steps (and ``eta``), or ``"ddpm"``: ancestral sampling over
    ``steps`` respaced steps (:class:`radsynth.synthesis.schedulers.RespacedDDPMScheduler`)."""
    if sampler == "ddim":
        return ddim_scheduler(config, steps, clip_sample=clip_sample, eta=eta)
    if sampler != "ddpm":
        raise ValueError(f"sampler must be 'ddim' or 'ddpm', not {sampler!r}")
    scheduler = RespacedDDPMScheduler(**config, clip_sample=clip_sample)
    scheduler.set_timesteps(int(steps))
    return scheduler
