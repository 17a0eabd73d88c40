"""ControlNet training on control images (edges + mask boundary), with the diffusion UNet frozen.

The ControlNet starts as a copy of the trained UNet's encoder (MONAI ``copy_model_state``) with
zero-initialised outputs, so training begins from the base model's own samples; only the
ControlNet learns, which is what lets a base model pretrained on a pool keep its prior.
EMIT-Diff's transfer starts each task's ControlNet from the one pretrained on the pool instead
(``init``) and rotates and zooms image and control map together (``rotate``, ``scale``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from monai.inferers import ControlNetDiffusionInferer

from radsynth.synthesis.control import control_map
from radsynth.synthesis.control_augment import draw_rotate_scale, rotate_scale
from radsynth.synthesis.diffusion_trainer import drop_prompts, lr_factor, target
from radsynth.synthesis.networks import PromptEncoder, build_controlnet, build_unet, controlnet_config, ddpm_scheduler
from radsynth.training.loop import (
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


@dataclass
class ControlNetResult:
    """What :func:`train_controlnet` returns.

    Attributes:
        state: ``{"controlnet": state_dict}``.
        architecture: ``{"controlnet": kwargs, "control": {"edge_sigma", "mask_fill"}}``.
        history: DataFrame with ``iteration`` and mean ``loss`` per logged block.
        images_per_second: training throughput.
    """

    state: dict
    architecture: dict
    history: pd.DataFrame
    images_per_second: float


def frozen_base(state: dict, architecture: dict, device: torch.device):
    """The trained UNet and prompt encoder, in eval mode without gradients."""
    unet = build_unet(architecture["unet"])
    unet.load_state_dict(state["unet"])
    encoder = None
    if architecture.get("prompt_dim"):
        encoder = PromptEncoder(architecture["prompt_dim"])
        encoder.load_state_dict(state["prompt_encoder"])
    for module in filter(None, (unet, encoder)):
        module.to(device).eval().requires_grad_(False)
    return unet, encoder


def encoded_pairs(images: np.ndarray, codec, device: torch.device) -> torch.Tensor:
    """(2, N, ...) model inputs of the images and of their left-right mirror images (axis -2):
    a latent does not flip with its image, so both are encoded once up front."""
    pixels = to_device(images, device)
    both = torch.stack([pixels, pixels.flip(-2)])
    if codec is None:
        return both
    with torch.no_grad():  # the codec batches the encoding itself
        return torch.stack([codec.encode(part) for part in both])


def train_controlnet(
    images: np.ndarray,
    labels: np.ndarray,
    base_state: dict,
    base_architecture: dict,
    *,
    tokens: np.ndarray | None = None,
    codec=None,
    edge_sigma: float = 1.0,
    mask_fill: float | None = None,
    embedding_channels: int = 16,
    iterations: int = 1000,
    batch_size: int = 16,
    lr: float = 1e-4,
    lr_schedule: str = "constant",
    text_dropout: float = 0.1,
    flip: bool = True,
    rotate: float = 0.0,
    scale: Sequence[float] = (1.0, 1.0),
    init: dict | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
    log_every: int = 10,
    resume: Resume | None = None,
    snapshot: Callable[[int, Callable[[], dict]], None] | None = None,
) -> ControlNetResult:
    """Train a ControlNet that steers a frozen diffusion UNet with EMIT-Diff's control image.

    Args:
        images: float (N, C, H, W) in [-1, 1], real training slices.
        labels: integer (N, H, W) masks of the same slices.
        base_state: ``{"unet", "prompt_encoder"}`` weights of the trained diffusion model.
        base_architecture: its ``architecture`` (see :class:`radsynth.synthesis.diffusion_trainer.DiffusionResult`).
        tokens: int (N, MAX_WORDS) prompts, required when the base model has a prompt encoder.
        codec: a ``LatentCodec`` when the base model works in an autoencoder's latent space.
        edge_sigma: Canny sigma of the control images.
        mask_fill: control value inside the mask (None: EMIT-Diff's boundary only).
        embedding_channels: channels of ControlNet's control-image embedding.
        iterations: optimiser steps.
        batch_size: slices per step.
        lr: AdamW learning rate.
        lr_schedule: "constant" or "cosine".
        text_dropout: probability of dropping a row's prompt (classifier-free guidance).
        flip: random left-right flips of image and control together.
        rotate: largest random rotation (degrees) of image and control together (EMIT-Diff: 20).
        scale: [low, high] of the random crop factor of image and control together (EMIT-Diff:
            [0.75, 1.05]; see :mod:`radsynth.synthesis.control_augment`); [1, 1] for none.
        init: ``{"controlnet": state_dict}`` to start from (EMIT-Diff: the ControlNet pretrained
            on the pool); None starts from a copy of the base UNet's encoder.
        seed: seeds the batches, noise, timesteps, flips and dropout.
        device: "cpu", "cuda" or a torch device; None picks CUDA when present.
        log_every: iterations averaged per row of ``history``.
        resume: saves the run's state every few steps and on SIGTERM, and continues from a
            saved state (:class:`radsynth.training.resume.Resume`); None trains in one go.
        snapshot: called as ``snapshot(step, state)`` at the start and after every step,
            ``state()`` giving the ControlNet's weights so far (:class:`radsynth.synthesis.curve.Snapshots`).

    Returns:
        A :class:`ControlNetResult`.
    """
    device = pick_device() if device is None else torch.device(device)
    generator = seed_everything(seed)
    unet, encoder = frozen_base(base_state, base_architecture, device)
    if encoder is not None and tokens is None:
        raise ValueError("the base model is text-conditioned: give each image its prompt tokens")
    downsample = 1 if codec is None else codec.factor
    architecture = {
        "controlnet": controlnet_config(base_architecture["unet"], downsample, embedding_channels),
        "control": {"edge_sigma": float(edge_sigma), "mask_fill": None if mask_fill is None else float(mask_fill)},
    }
    controlnet = build_controlnet(architecture["controlnet"], unet).to(device)
    if init is not None:
        controlnet.load_state_dict(init["controlnet"])
    scheduler = ddpm_scheduler(base_architecture["scheduler"])
    inferer = ControlNetDiffusionInferer(scheduler)
    optimizer = torch.optim.AdamW(controlnet.parameters(), lr=lr)
    lr_scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(lr_schedule, iterations))

    # Rotation and zoom move the pixels, so a latent model encodes each augmented batch.
    spatial = rotate > 0 or tuple(scale) != (1.0, 1.0)
    inputs = None if spatial else encoded_pairs(images, codec, device)
    pixels = to_device(images, device) if spatial else None
    control = to_device(control_map(images, labels, edge_sigma, mask_fill), device)
    words = None if tokens is None else torch.as_tensor(tokens, device=device)
    log = LossLog(log_every)
    resume = resume or Resume(None)
    # Only the ControlNet learns: the frozen base holds no state that changes.
    resume.track(controlnet=controlnet, optimizer=optimizer, lr_scheduler=lr_scheduler, generator=generator, log=log)
    first = resume.start()
    bar = progress(iterations, "controlnet", initial=first)
    snapshot = snapshot or (lambda step, state: None)
    weights = lambda: {"controlnet": cpu_state(controlnet)}  # noqa: E731
    snapshot(first, weights)
    controlnet.train()
    start = time.perf_counter()
    for step in range(first, iterations):
        rows = batch_indices(len(control), batch_size, generator).to(device)
        flipped = torch.rand(len(rows), device=device) < (0.5 if flip else 0.0)
        condition = torch.where(flipped.view(-1, 1, 1, 1), control[rows].flip(-2), control[rows])
        if spatial:
            image = torch.where(flipped.view(-1, 1, 1, 1), pixels[rows].flip(-2), pixels[rows])
            image, condition = rotate_scale(image, condition, *draw_rotate_scale(len(rows), rotate, scale, generator))
            if codec is not None:
                with torch.no_grad():
                    image = codec.encode(image)
        else:
            image = inputs[flipped.long(), rows]
        noise = torch.randn_like(image)
        timesteps = torch.randint(0, scheduler.num_train_timesteps, (len(rows),), device=device)
        with autocast(device):
            context = None if encoder is None else drop_prompts(encoder(words[rows]), text_dropout)
            prediction = inferer(image, unet, controlnet, noise, timesteps, condition, condition=context)
        loss = F.mse_loss(prediction.float(), target(scheduler, image, noise, timesteps))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        lr_scheduler.step()
        log.add(step + 1, loss=loss.item())
        bar.update()
        snapshot(step + 1, weights)
        resume.step(step + 1)
    log.flush(iterations)
    bar.close()
    resume.finish()
    elapsed = time.perf_counter() - start
    throughput = (iterations - first) * batch_size / elapsed
    return ControlNetResult({"controlnet": cpu_state(controlnet)}, architecture, log.frame(), throughput)
