"""Training the mask-conditioned diffusion model (DDPM: epsilon, v or x0 prediction) and loading it back."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from monai.inferers import DiffusionInferer

from radsynth.io import InputError, load_checkpoint
from radsynth.nets.diffusion import (
    CFG_FILL_VALUE,
    DiffusionSynthesizer,
    build_unet,
    ddpm_scheduler,
    scheduler_config,
    unet_config,
)
from radsynth.synthesis import control_map
from radsynth.train.common import (
    LossLog,
    autocast,
    batch_indices,
    pick_device,
    progress,
    seed_everything,
    to_device,
)


@dataclass
class DiffusionResult:
    """What :func:`train_diffusion` returns.

    Attributes:
        state: ``{"unet": state_dict}`` for :func:`radsynth.io.save_checkpoint`.
        architecture: ``{"unet": kwargs, "scheduler": kwargs, "conditioning": {...}}``, enough to
            rebuild the model; put it in the checkpoint sidecar under ``"architecture"``.
        history: DataFrame with ``iteration`` and mean ``loss`` per logged block.
        images_per_second: training throughput (images through forward + backward per second).
    """

    state: dict
    architecture: dict
    history: pd.DataFrame
    images_per_second: float

    def synthesizer(self, device: torch.device | str = "cpu") -> DiffusionSynthesizer:
        """The trained model, ready for :func:`radsynth.synthesis.synthesize` (no checkpoint needed)."""
        return DiffusionSynthesizer.from_architecture(self.architecture, self.state).to(device)


def train_diffusion(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    unet: dict | None = None,
    train_timesteps: int = 1000,
    schedule: str = "linear_beta",
    prediction_type: str = "epsilon",
    iterations: int = 1000,
    batch_size: int = 16,
    lr: float = 1e-3,
    lr_schedule: str = "constant",
    ema_decay: float | None = None,
    condition_dropout: float = 0.1,
    edge_sigma: float = 1.0,
    mask_fill: float | None = None,
    flip: bool = True,
    seed: int = 0,
    device: torch.device | str | None = None,
    log_every: int = 10,
) -> DiffusionResult:
    """Train a DDPM noise predictor conditioned on control maps concatenated to its input.

    Args:
        images: float (N, C, H, W) in [-1, 1], real training slices.
        labels: integer (N, H, W) masks of the same slices.
        unet: keyword arguments of :func:`radsynth.nets.diffusion.unet_config` other than
            ``image_channels`` (channels, attention_levels, num_res_blocks, num_head_channels,
            norm_num_groups); None takes its defaults.
        train_timesteps: T of the DDPM forward process.
        schedule: MONAI beta schedule name.
        prediction_type: "epsilon" (DDPM), "v_prediction" or "sample"; see
            :func:`radsynth.nets.diffusion.scheduler_config`.
        iterations: optimiser steps.
        batch_size: slices per step (drawn with replacement only when N < batch_size).
        lr: AdamW learning rate.
        lr_schedule: "constant", or "cosine": linear warm-up over the first 5% of the
            iterations, then cosine decay to zero (better final weights in short runs).
        ema_decay: if set, the returned ``"unet"`` weights are an exponential moving average
            with this decay (warmed up as min(decay, (1 + n) / (10 + n)) so short runs are not
            dominated by the initial weights); the raw weights are kept as ``"unet_online"``.
        condition_dropout: probability of replacing a sample's control map by the
            classifier-free-guidance fill (-1), so ``guidance_scale`` works at sampling.
        edge_sigma: Canny sigma of the control maps (kept with the model for sampling).
        mask_fill: control-map value inside the mask (see :func:`radsynth.synthesis.control_map`);
            None is EMIT-Diff's boundary-only map.
        flip: random left-right flips (array axis -2, X of the packed (X, Y) slices) of image
            and control together: the brain is roughly left-right symmetric, not front-back.
        seed: seeds weights, batches, noise, timesteps, flips and dropout.
        device: "cpu", "cuda" or a torch device; None picks CUDA when present.
        log_every: iterations averaged per row of ``history``.

    Returns:
        A :class:`DiffusionResult`.
    """
    device = pick_device() if device is None else torch.device(device)
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or len(labels) != len(images):
        raise ValueError(f"need images (N, C, H, W) and labels (N, H, W), got {images.shape}, {np.shape(labels)}")
    generator = seed_everything(seed)
    architecture = {
        "unet": unet_config(images.shape[1], control_channels=1, **(unet or {})),
        "scheduler": scheduler_config(train_timesteps, schedule, prediction_type=prediction_type),
        "conditioning": {
            "mode": "concat",
            "control": "canny+mask_boundary",
            "edge_sigma": float(edge_sigma),
            "mask_fill": None if mask_fill is None else float(mask_fill),
            "condition_dropout": float(condition_dropout),
            "cfg_fill_value": CFG_FILL_VALUE,
        },
    }
    model = build_unet(architecture["unet"]).to(device)
    scheduler = ddpm_scheduler(architecture["scheduler"])
    inferer = DiffusionInferer(scheduler)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    lr_scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(lr_schedule, iterations))
    ema = None
    if ema_decay:
        ema = torch.optim.swa_utils.AveragedModel(model, multi_avg_fn=ema_update(ema_decay), use_buffers=True)

    # Both image and control map live on the device; one concatenated tensor so a flip is one op.
    control = control_map(images, labels, edge_sigma, mask_fill)
    data = torch.cat([to_device(images, device), to_device(control, device)], dim=1)
    channels = images.shape[1]
    log = LossLog(log_every)
    bar = progress(iterations, "diffusion")
    model.train()
    start = time.perf_counter()
    for iteration in range(1, iterations + 1):
        batch = data[batch_indices(len(data), batch_size, generator).to(device)]
        if flip:
            flipped = torch.rand(len(batch), 1, 1, 1, device=device) < 0.5
            # Packed slices are (X, Y) of RAS volumes: left-right is axis -2, not the last one.
            batch = torch.where(flipped, batch.flip(-2), batch)
        image, control = batch[:, :channels], batch[:, channels:]
        if condition_dropout > 0:
            dropped = torch.rand(len(batch), 1, 1, 1, device=device) < condition_dropout
            control = control.masked_fill(dropped, CFG_FILL_VALUE)
        noise = torch.randn_like(image)
        timesteps = torch.randint(0, scheduler.num_train_timesteps, (len(batch),), device=device)
        with autocast(device):
            prediction = inferer(image, model, noise, timesteps, condition=control, mode="concat")
        loss = F.mse_loss(prediction.float(), target(scheduler, image, noise, timesteps))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        lr_scheduler.step()
        if ema is not None:
            ema.update_parameters(model)
        log.add(iteration, loss=loss.item())
        bar.update()
    log.flush(iterations)
    bar.close()
    elapsed = time.perf_counter() - start
    state = {"unet": cpu_state(model)}
    if ema is not None:
        state = {"unet": cpu_state(ema.module), "unet_online": state["unet"]}
    return DiffusionResult(state, architecture, log.frame(), iterations * batch_size / elapsed)


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


def cpu_state(module: torch.nn.Module) -> dict:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def target(scheduler, image: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    """The regression target of the scheduler's prediction type."""
    if scheduler.prediction_type == "epsilon":
        return noise
    if scheduler.prediction_type == "v_prediction":
        return scheduler.get_velocity(image, noise, timesteps)
    return image


def load_synthesizer(path: str | Path, device: torch.device | str | None = None) -> DiffusionSynthesizer:
    """Rebuild a trained model from a checkpoint written with ``save_checkpoint``.

    The caller saves ``save_checkpoint(path, result.state, {"architecture": result.architecture, ...})``.

    Args:
        path: the ``.pt`` file (its ``.json`` sidecar beside it).
        device: where to put the network; None picks CUDA when present.

    Returns:
        A :class:`~radsynth.nets.diffusion.DiffusionSynthesizer` in eval mode.
    """
    device = pick_device() if device is None else torch.device(device)
    state, sidecar = load_checkpoint(path)
    if "architecture" not in sidecar or "unet" not in state:
        raise InputError(path, "not a diffusion checkpoint (no 'architecture' in sidecar or no 'unet' state)")
    synthesizer = DiffusionSynthesizer.from_architecture(sidecar["architecture"], state).to(device)
    synthesizer.unet.eval()
    return synthesizer
