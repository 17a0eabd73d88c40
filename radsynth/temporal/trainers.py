"""Training of DDM and of the registration baseline on (ED, ES) pairs of the training subjects.

Each step draws a batch of pairs and flips or transposes each pair (the same for both frames,
as the official loader); Adam with beta1 0.5 (official).
"""

from __future__ import annotations

import numpy as np
import torch

from radsynth.temporal.ddm import DDM, Registration, RegistrationLoss, ddm_loss, ddpm_schedule, registration_loss
from radsynth.training.loop import batch_indices, cpu_state, fit_adam, pick_device, seed_everything, to_device
from radsynth.training.resume import Resume
from radsynth.training.trained import TrainedModel

BETAS = (0.5, 0.999)


def augment_pairs(source: torch.Tensor, target: torch.Tensor, generator: torch.Generator):
    """Random flips of each spatial axis and, in 2D, a transpose, the same for S and T."""
    dims = source.ndim - 2
    for axis in range(2, 2 + dims):
        if torch.rand((), generator=generator) < 0.5:
            source, target = source.flip(axis), target.flip(axis)
    if dims == 2 and torch.rand((), generator=generator) < 0.5:
        source, target = source.transpose(2, 3), target.transpose(2, 3)
    return source, target


def train_temporal(kind: str, sources: np.ndarray, targets: np.ndarray, *, architecture: dict, iterations: int,
                   batch_size: int = 1, lr: float = 2e-4, weight: float = 20.0, window: int = 9,
                   train_timesteps: int = 2000, seed: int = 0, device=None, resume: Resume | None = None) -> TrainedModel:
    """Train DDM (``kind`` "ddm") or the registration baseline ("registration").

    Args:
        kind: "ddm" or "registration".
        sources, targets: float (N, 1, ...) ED and ES frames in [0, 1].
        architecture: ``{"code": ..., "field": ..., "anchored": bool}`` (ddm) or ``{"field": ...}``.
        iterations, batch_size, lr: Adam schedule (official 2e-4, batch 1).
        weight: lambda on the registration terms (official 20).
        window: NCC window (official 9).
        train_timesteps: T of DDM's schedule (official 2000).
        seed, device, resume: as the other trainers.
    """
    if kind not in ("ddm", "registration"):
        raise ValueError(f"unknown temporal model {kind!r}")
    device = pick_device() if device is None else torch.device(device)
    generator = seed_everything(seed)
    spatial_dims = sources.ndim - 2
    model = (DDM(architecture["code"], architecture["field"], architecture.get("anchored", False)) if kind == "ddm"
             else Registration(architecture["field"])).to(device)
    s_all, t_all = to_device(sources, device), to_device(targets, device)
    terms, schedule = RegistrationLoss(spatial_dims, window), ddpm_schedule(train_timesteps)

    def step_loss(step):
        rows = batch_indices(len(s_all), batch_size, generator).to(device)
        source, target = augment_pairs(s_all[rows], t_all[rows], generator)
        if kind == "ddm":
            return ddm_loss(model, source, target, schedule, terms, weight, generator)
        return registration_loss(model, source, target, terms, weight)

    history, steps_per_second = fit_adam(model, step_loss, iterations=iterations, lr=lr, generator=generator,
                                         desc=f"temporal {kind}", resume=resume, betas=BETAS)
    return TrainedModel(cpu_state(model), history, steps_per_second * batch_size)
