"""The unconditional DDPM generator: image and mask denoised together as one tensor.

An unconditional model has no mask to follow, so it makes its own: the mask is one extra
channel (class k of K at -1 + 2k/K) trained and sampled with the image, and read back by
rounding. Its pairs come from no particular real slice (``source_index`` -1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from monai.inferers import DiffusionInferer

from radsynth.io import InputError, load_checkpoint
from radsynth.synthesis.networks import build_unet, sampling_scheduler
from radsynth.synthesis.sampling import plan_samples, sample_noise
from radsynth.training.loop import autocast, pick_device


def mask_channel(labels: np.ndarray, classes: int) -> np.ndarray:
    """Integer masks (N, H, W) -> float32 (N, 1, H, W) in [-1, 1], evenly spaced per class."""
    return (np.asarray(labels, dtype=np.float32)[:, None] * (2.0 / classes) - 1.0).astype(np.float32)


def channel_mask(channel: np.ndarray, classes: int) -> np.ndarray:
    """The inverse of :func:`mask_channel`: the nearest class of each pixel, uint8 (N, H, W)."""
    return np.clip(np.rint((np.asarray(channel)[:, 0] + 1.0) * classes / 2.0), 0, classes).astype(np.uint8)


def joint_data(images: np.ndarray, labels: np.ndarray, classes: int) -> np.ndarray:
    """What the unconditional DDPM learns: the image channels plus the mask channel."""
    return np.concatenate([np.asarray(images, dtype=np.float32), mask_channel(labels, classes)], axis=1)


@dataclass
class DDPMGenerator:
    """A trained joint image + mask DDPM.

    Attributes:
        unet: the noise-prediction network (C + 1 channels in and out).
        scheduler: kwargs of the training noise schedule.
        classes: K, the number of foreground classes of the mask channel.
        architecture: the sidecar dict it was built from.
    """

    unet: torch.nn.Module
    scheduler: dict
    classes: int
    architecture: dict = field(default_factory=dict)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: torch.device | str | None = None) -> DDPMGenerator:
        """Rebuild from a checkpoint whose sidecar has ``"generator": "ddpm"``."""
        device = pick_device() if device is None else torch.device(device)
        state, sidecar = load_checkpoint(path)
        if sidecar.get("generator") != "ddpm" or "unet" not in state:
            raise InputError(path, "not an unconditional DDPM generator checkpoint")
        architecture = sidecar["architecture"]
        unet = build_unet(architecture["unet"])
        unet.load_state_dict(state["unet"])
        return cls(unet.to(device).eval(), dict(architecture["scheduler"]), int(architecture["classes"]), architecture)

    def sample(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        per_mask: int,
        *,
        seed: int = 0,
        steps: int = 20,
        sampler: str = "ddim",
        eta: float = 0.0,
        batch_size: int = 32,
        device: torch.device | str | None = None,
        **_,
    ) -> dict[str, np.ndarray]:
        """As many image/mask pairs as K per real mask would give (N * K), each from its own noise.

        Args:
            images: float (N, C, H, W), the real slices; only their count and shape are used.
            labels: integer (N, H, W), unused (the model draws its own masks).
            per_mask: K.
            seed: base seed; sample j's noise comes from (seed, j // K, j % K).
            steps: sampler steps.
            sampler: "ddim" or "ddpm".
            eta: DDIM's noise weight (0: deterministic).
            batch_size: samples denoised together.
            device: where to sample; None picks CUDA when present.

        Returns:
            ``image`` float32 (N*K, C, H, W) in [-1, 1]; ``label`` uint8 (N*K, H, W), the drawn
            masks; ``source_index`` -1; ``sample`` and ``seed`` int64 (N*K,).
        """
        device = pick_device() if device is None else torch.device(device)
        n, channels, height, width = np.shape(images)
        if self.unet.out_channels != channels + 1:
            raise ValueError(f"model makes {self.unet.out_channels - 1} image channels, the slices have {channels}")
        plan = plan_samples(n, per_mask, seed)
        # Pixel space in [-1, 1]: x0 predictions are clamped to the data's range, as in DDPM.
        schedule = dict(sampler=sampler, steps=steps, clip_sample=True, eta=eta)
        inferer = DiffusionInferer(sampling_scheduler(self.scheduler, **schedule))
        out = np.empty((len(plan["seed"]), channels + 1, height, width), dtype=np.float32)
        for start in range(0, len(out), batch_size):
            part = slice(start, start + batch_size)
            noise = sample_noise(plan["seed"][part], (channels + 1, height, width)).to(device)
            with torch.inference_mode(), autocast(device):
                scheduler = sampling_scheduler(self.scheduler, **schedule)
                result = inferer.sample(noise, self.unet, scheduler=scheduler, verbose=False)
            out[part] = result.float().clamp(-1.0, 1.0).cpu().numpy()
        plan["source_index"] = np.full_like(plan["source_index"], -1)
        return {"image": out[:, :channels], "label": channel_mask(out[:, channels:], self.classes), **plan}
