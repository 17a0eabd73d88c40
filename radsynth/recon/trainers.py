"""Training of the three learned reconstructions on a training split's fully sampled slices.

Masks are drawn afresh for every slice of every batch (an acceleration from the list, a new
seed), so one model serves every acceleration and mask (MC-DDPM trains one model per
acceleration; radsynth trains one on all listed, docs/fidelity.md).

- ``unet``: the supervised baseline, L1 from the zero-filled magnitude (fastMRI's U-Net baseline).
- ``mcddpm``: MC-DDPM's masked k-space epsilon-MSE (:mod:`radsynth.recon.mcddpm`).
- ``diffuserecon``: DiffuseRecon's unconditional DDPM (epsilon-MSE) on images scaled
  to a maximum magnitude of 1; it never sees a mask.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from radsynth.recon import mcddpm
from radsynth.recon.chain import cosine_alphas_cumprod
from radsynth.recon.kspace import fft2, magnitude, peak_scale, random_masks, zero_filled
from radsynth.recon.networks import build_network
from radsynth.training.loop import batch_indices, cpu_state, fit_adam, pick_device, seed_everything, to_device
from radsynth.training.resume import Resume
from radsynth.training.trained import TrainedModel


def train_recon(kind: str, images: np.ndarray, *, architecture: dict, iterations: int, batch_size: int = 8,
                lr: float = 1e-4, accelerations=(4, 8), train_timesteps: int = 1000, seed: int = 0,
                device: torch.device | str | None = None, resume: Resume | None = None) -> TrainedModel:
    """Train one reconstruction network.

    Args:
        kind: "unet", "mcddpm" or "diffuserecon".
        images: float (N, 2, H, W) fully sampled complex slices.
        architecture: the network's kwargs (:mod:`radsynth.recon.networks`).
        iterations: optimiser steps.
        batch_size: slices per step.
        lr: Adam learning rate (both officials: 1e-4).
        accelerations: the masks' accelerations (unet and mcddpm).
        train_timesteps: T of the cosine schedule (mcddpm 1000, diffuserecon 4000 officially).
        seed: seeds weights, batches, masks, timesteps and noise.
        device: "cpu", "cuda" or a torch device; None picks CUDA when present.
        resume: periodic state saving and continuation (:class:`Resume`).
    """
    if kind not in ("unet", "mcddpm", "diffuserecon"):
        raise ValueError(f"unknown reconstruction network {kind!r}")
    device = pick_device() if device is None else torch.device(device)
    generator = seed_everything(seed)
    model = build_network(kind, architecture).to(device)
    x_all = to_device(images, device)
    alphas_cumprod = cosine_alphas_cumprod(train_timesteps).float().to(device)
    width = images.shape[-1]

    def step_loss(step):
        x = x_all[batch_indices(len(x_all), batch_size, generator).to(device)]
        if kind == "diffuserecon":
            x = x * peak_scale(x)
            t = torch.randint(0, train_timesteps, (len(x),), generator=generator).to(device)
            noise = torch.randn(x.shape, generator=generator).to(device)
            abar = alphas_cumprod[t].reshape(-1, 1, 1, 1)
            return F.mse_loss(model(abar.sqrt() * x + (1 - abar).sqrt() * noise, t), noise), {}
        mask = random_masks(len(x), width, accelerations, generator).to(device)
        _, image_zf = zero_filled(x, mask)
        scale = peak_scale(image_zf)
        if kind == "unet":
            return F.l1_loss(model(magnitude(image_zf)[:, None] * scale), magnitude(x)[:, None] * scale), {}
        return mcddpm.training_loss(model, fft2(x) * scale, mask, alphas_cumprod, generator), {}

    history, steps_per_second = fit_adam(model, step_loss, iterations=iterations, lr=lr, generator=generator,
                                         desc=f"recon {kind}", resume=resume)
    return TrainedModel(cpu_state(model), history, steps_per_second * batch_size)
