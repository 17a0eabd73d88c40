"""Pix2Pix-style mask-to-image GAN: a baseline generator of synthetic segmentation pairs.

The generator turns a mask (one-hot, with EMIT-Diff's control map of the real slice unless
``control`` is None, plus noise channels) into an image; a conditional PatchGAN judges
(condition, image) pairs. Losses follow Pix2Pix as in
:mod:`radsynth.translation.step`: least-squares GAN, L1 to the real image, Adam (0.5, 0.999),
generator first, then the discriminator on this step's fakes (no replay buffer).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from radsynth.synthesis.gan import MaskGANGenerator, gan_control, mask_inputs
from radsynth.training.loop import (
    DeviceSums,
    LossLog,
    autocast,
    batch_indices,
    cpu_state,
    pick_device,
    progress,
    seed_everything,
    to_device,
)
from radsynth.training.resume import Resume
from radsynth.translation.networks import PatchGAN, ResnetGenerator
from radsynth.translation.step import lsgan


@dataclass
class MaskGANResult:
    """What :func:`train_mask_gan` returns.

    Attributes:
        state: ``{"generator": ..., "discriminator": ...}`` CPU state dicts.
        architecture: ``{"generator": kwargs, "discriminator": kwargs, "classes",
            "noise_channels", "image_channels"}``; store it in the sidecar under
            ``"architecture"`` (with ``"generator": "gan"``).
        history: ``iteration`` and the mean ``g_adv``, ``g_l1``, ``g_total``, ``d`` per
            logged block.
        images_per_second: training throughput.
    """

    state: dict
    architecture: dict
    history: pd.DataFrame
    images_per_second: float

    def generator(self, device="cpu"):
        """The trained sampler, a :class:`radsynth.synthesis.gan.MaskGANGenerator`."""
        return MaskGANGenerator.from_architecture(self.architecture, self.state).to(
            device
        )


def _step(g, d, opt_g, opt_d, inputs, condition, image, l1_weight, device) -> dict:
    """One Pix2Pix iteration: the generator against a frozen D, then D on real vs fake."""
    d.requires_grad_(False)  # no D weight gradients from the generator's loss
    opt_g.zero_grad(set_to_none=True)
    with autocast(device):
        fake = g(inputs)
        g_adv = lsgan(d(torch.cat([condition, fake], 1)), True)
    g_l1 = l1_weight * F.l1_loss(fake.float(), image)
    (g_adv + g_l1).backward()
    opt_g.step()

    d.requires_grad_(True)
    opt_d.zero_grad(set_to_none=True)
    with autocast(device):
        real_score = d(torch.cat([condition, image], 1))
        fake_score = d(torch.cat([condition, fake.detach()], 1))
    # Halved as in Pix2Pix, which slows D relative to G.
    d_loss = 0.5 * (lsgan(real_score, True) + lsgan(fake_score, False))
    d_loss.backward()
    opt_d.step()
    return {"g_adv": g_adv, "g_l1": g_l1, "g_total": g_adv + g_l1, "d": d_loss}


def train_mask_gan(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    classes: int,
    generator: dict | None = None,
    discriminator: dict | None = None,
    noise_channels: int = 1,
    control: dict | None = None,
    iterations: int = 1000,
    batch_size: int = 8,
    lr: float = 2e-4,
    l1_weight: float = 100.0,
    flip: bool = True,
    seed: int = 0,
    device: torch.device | str | None = None,
    log_every: int = 10,
    resume: Resume | None = None,
    snapshot: Callable[[int, Callable[[], dict]], None] | None = None,
) -> MaskGANResult:
    """Train a mask-to-image Pix2Pix GAN on real (image, mask) slices held on the device.

    Args:
        images: float (N, C, H, W) in [-1, 1].
        labels: integer (N, H, W) in 0..classes, the masks the images are generated from.
        classes: foreground classes.
        generator: ``ResnetGenerator`` sizes ``{"filters", "residual_blocks"}`` (default 64, 9).
        discriminator: ``PatchGAN`` sizes ``{"filters", "layers"}`` (default 64, 3).
        noise_channels: Z, Gaussian channels appended to the mask (0: deterministic).
        control: ``{"edge_sigma", "mask_fill"}``: the generator and D also see the control map
            of each slice (:func:`radsynth.synthesis.control.control_map`); None, the mask alone.
        iterations: optimiser steps.
        batch_size: pairs per step.
        lr: Adam learning rate of both networks (betas (0.5, 0.999)).
        l1_weight: weight of the L1 loss to the real image (100 in Pix2Pix).
        flip: random left-right flips of image and mask together (array axis -2, X of the
            packed (X, Y) slices: anatomy is roughly left-right symmetric, not front-back).
        seed: seeds weights, batches, flips and noise.
        device: "cpu", "cuda" or a torch device; None picks CUDA when present.
        log_every: iterations averaged per row of ``history``.
        resume: saves the run's state every few steps and on SIGTERM, and continues from a
            saved state (:class:`radsynth.training.resume.Resume`); None trains in one go.
        snapshot: called as ``snapshot(step, state)`` at the start and after every step,
            ``state()`` giving the sampler's weights so far (:class:`radsynth.synthesis.curve.Snapshots`).

    Returns:
        A :class:`MaskGANResult`.
    """
    images = np.asarray(images, dtype=np.float32)
    labels = np.asarray(labels)
    if images.ndim != 4 or labels.shape != (images.shape[0],) + images.shape[2:]:
        raise ValueError(
            f"need images (N, C, H, W) and labels (N, H, W), got {images.shape}, {labels.shape}"
        )
    if labels.size and (labels.min() < 0 or labels.max() > classes):
        raise ValueError(
            f"labels must lie in 0..{classes}, got {labels.min()}..{labels.max()}"
        )
    device = pick_device() if device is None else torch.device(device)
    control = None if control is None else {"edge_sigma": float(control["edge_sigma"]), "mask_fill": control["mask_fill"]}
    channels, z = images.shape[1], int(noise_channels)
    mask_channels = int(classes) + 1 + (control is not None)  # the condition D sees too
    architecture = {
        "generator": {
            "spatial_dims": 2,
            "in_channels": mask_channels + z,
            "out_channels": channels,
            "filters": 64,
            "residual_blocks": 9,
            **(generator or {}),
        },
        "discriminator": {
            "spatial_dims": 2,
            "in_channels": mask_channels + channels,
            "filters": 64,
            "layers": 3,
            **(discriminator or {}),
        },
        "classes": int(classes),
        "noise_channels": z,
        "image_channels": channels,
        "control": control,
    }
    rng = seed_everything(seed)
    g = ResnetGenerator(**architecture["generator"]).to(device).train()
    d = PatchGAN(**architecture["discriminator"]).to(device).train()
    opt_g = torch.optim.Adam(g.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=lr, betas=(0.5, 0.999))
    # Flips and noise are drawn on the device; seed + 1 keeps them apart from the batch draws.
    device_rng = torch.Generator(device=device).manual_seed(seed + 1)

    data, masks = to_device(images, device), to_device(labels, device, torch.long)
    maps = gan_control(images, labels, control)
    maps = None if maps is None else to_device(maps, device)
    log = LossLog(every=1)
    sums = DeviceSums(device)
    resume = resume or Resume(None)
    resume.track(generator=g, discriminator=d, optimizer_g=opt_g, optimizer_d=opt_d)
    resume.track(batches=rng, device_rng=device_rng, log=log, sums=sums)
    first = resume.start()
    bar = progress(iterations, "mask gan", initial=first)
    snapshot = snapshot or (lambda step, state: None)
    weights = lambda: {"generator": cpu_state(g)}  # noqa: E731
    snapshot(first, weights)
    start = time.perf_counter()
    for step in range(first, iterations):
        iteration = step + 1
        rows = batch_indices(len(data), batch_size, rng).to(device)
        image, mask = data[rows], masks[rows]
        edges = None if maps is None else maps[rows]
        if flip:
            flipped = torch.rand(len(rows), device=device, generator=device_rng) < 0.5
            image = torch.where(flipped[:, None, None, None], image.flip(-2), image)
            mask = torch.where(flipped[:, None, None], mask.flip(-2), mask)
            if edges is not None:
                edges = torch.where(flipped[:, None, None, None], edges.flip(-2), edges)
        noise = torch.randn(
            (len(rows), z, *image.shape[2:]), device=device, generator=device_rng
        )
        inputs = mask_inputs(mask, classes, noise, edges)
        condition = inputs[:, :mask_channels]  # D sees the mask (and control), not the noise
        sums.add(_step(g, d, opt_g, opt_d, inputs, condition, image, l1_weight, device))
        if iteration % max(1, log_every) == 0 or iteration == iterations:
            log.add(iteration, **sums.pop((iteration - 1) % max(1, log_every) + 1))
        bar.update(1)
        snapshot(iteration, weights)
        resume.step(iteration)
    bar.close()
    resume.finish()
    elapsed = time.perf_counter() - start
    state = {"generator": cpu_state(g), "discriminator": cpu_state(d)}
    throughput = (iterations - first) * batch_size / max(elapsed, 1e-9)
    return MaskGANResult(state, architecture, log.frame(), throughput)
