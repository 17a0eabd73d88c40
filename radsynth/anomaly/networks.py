"""Networks of diffusion anomaly detection.

- The noise predictor is MONAI's ``DiffusionModelUNet`` with a class embedding (the official
  model is class-conditional, ``--class_cond True``); a third, "null" class is the dropped label
  that classifier-free guidance needs.
- The classifier is the UNet's encoder (MONAI's ``DiffusionModelEncoder``, time-conditioned so
  it reads noisy slices) with guided-diffusion's attention pooling head in place of MONAI's
  flatten + MLP head, which no library offers.
- The reconstruction baseline is MONAI's convolutional ``AutoEncoder`` with a narrow bottleneck.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.nets import AutoEncoder
from monai.networks.nets.diffusion_model_unet import DiffusionModelEncoder, get_timestep_embedding
from torch import nn

from radsynth.synthesis.networks import unet_config

HEALTHY, LESION, NULL_CLASS = 0, 1, 2


def ddpm_config(image_channels: int, **unet) -> dict:
    """Kwargs of the class-conditional noise predictor (healthy, lesion and the null class).

    Args:
        image_channels: channels of the slices.
        **unet: keyword arguments of :func:`radsynth.synthesis.networks.unet_config`.
    """
    return {**unet_config(image_channels, **unet), "num_class_embeds": 3}


def classifier_config(
    image_channels: int,
    size: Sequence[int],
    channels: Sequence[int] = (32, 64, 64),
    attention_levels: Sequence[bool] = (False, True, True),
    num_res_blocks: int = 1,
    num_head_channels: int = 16,
    norm_num_groups: int = 16,
    resblock_updown: bool = True,
) -> dict:
    """Kwargs of :class:`NoisyClassifier` (JSON-serialisable, kept in the checkpoint sidecar).

    Args:
        image_channels: channels of the slices.
        size: (H, W) of the slices (the attention pool has one position per output pixel).
        channels: feature channels per level; every level halves the resolution.
        attention_levels: self-attention per level (the official classifier attends at 32, 16
            and 8 px).
        num_res_blocks: residual blocks per level (the official ``classifier_depth`` is 4).
        num_head_channels: channels per attention head (in the blocks and the pool).
        norm_num_groups: GroupNorm groups; must divide every entry of ``channels``.
        resblock_updown: downsample with residual blocks (the official
            ``--classifier_resblock_updown True``) instead of strided convolutions.
    """
    return {
        "in_channels": int(image_channels),
        "input_shape": [int(s) for s in size],
        "channels": [int(c) for c in channels],
        "attention_levels": [bool(a) for a in attention_levels],
        "num_res_blocks": int(num_res_blocks),
        "num_head_channels": int(num_head_channels),
        "norm_num_groups": int(norm_num_groups),
        "resblock_updown": bool(resblock_updown),
    }


class AttentionPool(nn.Module):
    """The mean feature, with learned position embeddings, attends to every position.

    Args:
        channels: feature channels.
        positions: spatial positions of the feature map.
        heads: attention heads.
        classes: output logits.
    """

    def __init__(self, channels: int, positions: int, heads: int, classes: int):
        super().__init__()
        self.position = nn.Parameter(torch.randn(positions + 1, channels) / channels**0.5)
        self.attention = nn.MultiheadAttention(channels, heads, batch_first=True)
        self.logits = nn.Linear(channels, classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        tokens = features.flatten(2).transpose(1, 2)  # (B, HW, C)
        tokens = torch.cat([tokens.mean(1, keepdim=True), tokens], dim=1) + self.position
        pooled, _ = self.attention(tokens[:, :1], tokens, tokens, need_weights=False)
        return self.logits(pooled[:, 0])


class NoisyClassifier(DiffusionModelEncoder):
    """p(class | x_t, t): healthy against lesion, on slices noised to timestep t.

    Args:
        **config: the kwargs of :func:`classifier_config`.
    """

    def __init__(self, **config):
        channels = config["channels"]
        super().__init__(spatial_dims=2, out_channels=2, **config)
        positions = 1
        for size in config["input_shape"]:
            for _ in channels:  # every MONAI encoder level halves the resolution: strided
                # convolutions round up, the residual blocks' average pooling rounds down
                size = size // 2 if config.get("resblock_updown") else -(-size // 2)
            positions *= size
        self.out = AttentionPool(channels[-1], positions, max(1, channels[-1] // config["num_head_channels"]), 2)

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        embedding = self.time_embed(get_timestep_embedding(timesteps, self.block_out_channels[0]).to(x.dtype))
        features = self.conv_in(x)
        for block in self.down_blocks:
            features, _ = block(hidden_states=features, temb=embedding, context=None)
        return self.out(features)


def autoencoder_config(image_channels: int, channels: Sequence[int] = (16, 32, 64, 64)) -> dict:
    """Kwargs of the baseline ``AutoEncoder``: each level halves the resolution (64 px -> 4 px
    with four levels), a bottleneck narrow enough that a lesion is not copied through it."""
    channels = [int(c) for c in channels]
    return {
        "spatial_dims": 2,
        "in_channels": int(image_channels),
        "out_channels": int(image_channels),
        "channels": channels,
        "strides": [2] * len(channels),
        "num_res_units": 1,
    }


def build_autoencoder(config: dict) -> AutoEncoder:
    """The reconstruction baseline from :func:`autoencoder_config`'s kwargs."""
    return AutoEncoder(**config)
