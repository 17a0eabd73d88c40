"""DDPM training of a diffusion UNet, with or without a text prompt (epsilon, v or x0 prediction).

One loop serves both diffusion generators: the unconditional DDPM (image + mask channel, no
prompt) and EMIT-Diff's text-conditioned base model that a ControlNet later steers (pretrained
on the pool, then fine-tuned on the task: ``init`` carries the pretrained weights over).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from monai.inferers import DiffusionInferer

from radsynth.synthesis.networks import (
    CFG_FILL_VALUE,
    PromptEncoder,
    build_unet,
    ddpm_scheduler,
    scheduler_config,
    unet_config,
)
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
class DiffusionResult:
    """What :func:`train_ddpm` returns.

    Attributes:
        state: ``{"unet": ..., "prompt_encoder": ...}`` state dicts (the encoder only with a
            prompt; ``"unet_online"``, the raw weights, when an EMA was kept).
        architecture: ``{"unet": kwargs, "scheduler": kwargs, "prompt_dim": int | None}``.
        history: DataFrame with ``iteration`` and mean ``loss`` per logged block.
        images_per_second: training throughput.
    """

    state: dict
    architecture: dict
    history: pd.DataFrame
    images_per_second: float


def train_ddpm(
    data: np.ndarray,
    *,
    tokens: np.ndarray | None = None,
    unet: dict | None = None,
    prompt_dim: int = 64,
    init: tuple[dict, dict] | None = None,
    train_timesteps: int = 1000,
    schedule: str = "linear_beta",
    prediction_type: str = "epsilon",
    iterations: int = 1000,
    batch_size: int = 16,
    lr: float = 1e-3,
    lr_schedule: str = "constant",
    ema_decay: float | None = None,
    text_dropout: float = 0.1,
    flip: bool = True,
    seed: int = 0,
    device: torch.device | str | None = None,
    log_every: int = 10,
    resume: Resume | None = None,
    snapshot: Callable[[int, Callable[[], dict]], None] | None = None,
) -> DiffusionResult:
    """Train a DDPM noise predictor on ``data``, optionally conditioned on prompts.

    Args:
        data: float (N, C, H, W): images in [-1, 1], images + a mask channel, or latents.
        tokens: int (N, MAX_WORDS) prompt word indices (:mod:`radsynth.synthesis.prompts`) per
            row; None trains an unconditional model.
        unet: keyword arguments of :func:`radsynth.synthesis.networks.unet_config` other than
            ``image_channels`` and ``cross_attention_dim``; None takes its defaults.
        prompt_dim: width of the learned prompt embedding (with ``tokens``).
        init: ``(state, architecture)`` of a trained model to start from (fine-tuning); its
            architecture must be the one this call would build.
        train_timesteps: T of the DDPM forward process.
        schedule: MONAI beta schedule name.
        prediction_type: "epsilon" (DDPM), "v_prediction" or "sample".
        iterations: optimiser steps.
        batch_size: rows per step.
        lr: AdamW learning rate.
        lr_schedule: "constant", or "cosine" (5% linear warm-up, then cosine decay to zero).
        ema_decay: if set, the returned ``"unet"`` weights are an exponential moving average
            (warmed up as min(decay, (1 + n) / (10 + n))); the raw ones are ``"unet_online"``.
        text_dropout: probability of replacing a row's prompt by the classifier-free-guidance
            fill, so guidance works at sampling.
        flip: random left-right flips (array axis -2, X of the packed (X, Y) slices: anatomy is
            roughly left-right symmetric, not front-back). Off for latents, which do not flip.
        seed: seeds weights, batches, noise, timesteps, flips and dropout.
        device: "cpu", "cuda" or a torch device; None picks CUDA when present.
        log_every: iterations averaged per row of ``history``.
        resume: saves the run's state every few steps and on SIGTERM, and continues from a
            saved state (:class:`radsynth.training.resume.Resume`); None trains in one go.
        snapshot: called as ``snapshot(step, state)`` at the start and after every step,
            ``state()`` giving the sampler's weights so far (the EMA's when kept; see
            :class:`radsynth.synthesis.curve.Snapshots`).

    Returns:
        A :class:`DiffusionResult`.
    """
    device = pick_device() if device is None else torch.device(device)
    data = np.asarray(data, dtype=np.float32)
    if data.ndim != 4 or (tokens is not None and len(tokens) != len(data)):
        raise ValueError(f"need data (N, C, H, W) and one token row per image, got {data.shape}")
    generator = seed_everything(seed)
    conditioned = tokens is not None
    architecture = {
        "unet": unet_config(data.shape[1], cross_attention_dim=prompt_dim if conditioned else None, **(unet or {})),
        "scheduler": scheduler_config(train_timesteps, schedule, prediction_type=prediction_type),
        "prompt_dim": int(prompt_dim) if conditioned else None,
    }
    model = build_unet(architecture["unet"]).to(device)
    encoder = PromptEncoder(prompt_dim).to(device) if conditioned else None
    if init is not None:
        load_initial(model, encoder, *init, architecture)
    modules = torch.nn.ModuleList([m for m in (model, encoder) if m is not None])
    scheduler = ddpm_scheduler(architecture["scheduler"])
    inferer = DiffusionInferer(scheduler)
    optimizer = torch.optim.AdamW(modules.parameters(), lr=lr)
    lr_scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(lr_schedule, iterations))
    ema = None
    if ema_decay:
        ema = torch.optim.swa_utils.AveragedModel(modules, multi_avg_fn=ema_update(ema_decay), use_buffers=True)

    images = to_device(data, device)
    words = torch.as_tensor(tokens, device=device) if conditioned else None
    log = LossLog(log_every)
    resume = resume or Resume(None)
    resume.track(modules=modules, optimizer=optimizer, lr_scheduler=lr_scheduler, generator=generator, log=log)
    if ema is not None:
        resume.track(ema=ema)
    first = resume.start()
    bar = progress(iterations, "diffusion", initial=first)
    snapshot = snapshot or (lambda step, state: None)
    weights = lambda: named_states(modules if ema is None else ema.module)  # noqa: E731
    snapshot(first, weights)
    modules.train()
    start = time.perf_counter()
    for step in range(first, iterations):
        rows = batch_indices(len(images), batch_size, generator).to(device)
        image = images[rows]
        if flip:
            flipped = torch.rand(len(rows), 1, 1, 1, device=device) < 0.5
            image = torch.where(flipped, image.flip(-2), image)
        noise = torch.randn_like(image)
        timesteps = torch.randint(0, scheduler.num_train_timesteps, (len(rows),), device=device)
        with autocast(device):
            context = None if encoder is None else drop_prompts(encoder(words[rows]), text_dropout)
            prediction = inferer(image, model, noise, timesteps, condition=context, mode="crossattn")
        loss = F.mse_loss(prediction.float(), target(scheduler, image, noise, timesteps))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        lr_scheduler.step()
        if ema is not None:
            ema.update_parameters(modules)
        log.add(step + 1, loss=loss.item())
        bar.update()
        snapshot(step + 1, weights)
        resume.step(step + 1)
    log.flush(iterations)
    bar.close()
    resume.finish()
    elapsed = time.perf_counter() - start
    state = named_states(modules)
    if ema is not None:
        state = {**named_states(ema.module), "unet_online": state["unet"]}
    return DiffusionResult(state, architecture, log.frame(), (iterations - first) * batch_size / elapsed)


def latent_training_data(images: np.ndarray, tokens: np.ndarray, codec, device) -> tuple[np.ndarray, np.ndarray]:
    """Latents of the images and of their left-right mirror images, with their prompts.

    A latent does not flip with its image, so the mirrored slices are encoded too, once, and
    training runs with ``flip=False``.

    Args:
        images: float (N, C, H, W) in [-1, 1].
        tokens: int (N, MAX_WORDS) prompts.
        codec: the ``LatentCodec`` of the autoencoder.
        device: where to encode.

    Returns:
        ``(latents (2N, ...), tokens (2N, MAX_WORDS))``.
    """
    with torch.inference_mode():
        pixels = torch.as_tensor(np.concatenate([images, images[..., ::-1, :]]), device=device)
        latents = codec.encode(pixels).cpu().numpy()
    return latents, np.concatenate([tokens, tokens])


def load_initial(model, encoder, state: dict, architecture: dict, expected: dict) -> None:
    """Start from pretrained weights, refusing a model of another shape or conditioning."""
    if architecture["unet"] != expected["unet"] or architecture.get("prompt_dim") != expected["prompt_dim"]:
        raise ValueError("the pretrained model's architecture differs from the one configured for fine-tuning")
    model.load_state_dict(state["unet"])
    if encoder is not None:
        encoder.load_state_dict(state["prompt_encoder"])


def drop_prompts(context: torch.Tensor, probability: float) -> torch.Tensor:
    """Replace whole rows of the context by the guidance fill with ``probability``."""
    if probability <= 0:
        return context
    dropped = torch.rand(len(context), 1, 1, device=context.device) < probability
    return context.masked_fill(dropped, CFG_FILL_VALUE)


def named_states(modules: torch.nn.ModuleList) -> dict:
    """``{"unet": ..., "prompt_encoder": ...}`` CPU state dicts of the trained modules."""
    names = ["unet", "prompt_encoder"]
    return {name: cpu_state(module) for name, module in zip(names, modules)}


def lr_factor(schedule: str, iterations: int):
    """LambdaLR factor: constant, or 5% linear warm-up then cosine decay to zero."""
    if schedule == "constant":
        return lambda step: 1.0
    if schedule != "cosine":
        raise ValueError(f"lr_schedule must be 'constant' or 'cosine', not {schedule!r}")
    warmup = max(1, iterations // 20)
    return lambda step: min((step + 1) / warmup, 0.5 * (1 + math.cos(math.pi * min(step, iterations) / iterations)))


def ema_update(decay: float):
    """``multi_avg_fn`` for ``AveragedModel``: EMA whose decay ramps up over the first updates."""

    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged) -> None:
        beta = min(decay, (1.0 + float(num_averaged)) / (10.0 + float(num_averaged)))
        torch._foreach_lerp_(averaged, current, 1.0 - beta)

    return update


def target(scheduler, image: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    """The regression target of the scheduler's prediction type."""
    if scheduler.prediction_type == "epsilon":
        return noise
    if scheduler.prediction_type == "v_prediction":
        return scheduler.get_velocity(image, noise, timesteps)
    return image
