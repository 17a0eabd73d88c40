"""Training of the three anomaly models on a training split's slices and slice labels.

- :func:`train_anomaly_ddpm`: the class-conditional noise predictor (epsilon-MSE, the official
  T = 1000 linear schedule), labels dropped to the null class with ``label_dropout`` so one
  model also serves classifier-free guidance.
- :func:`train_classifier`: cross-entropy on slices noised to a uniform t ~ U[0, T), as the
  official ``classifier_train.py --noised True``.
- :func:`train_autoencoder`: the reconstruction baseline, L1 on healthy slices only.

Pixel masks never enter: the labels are per slice (:mod:`radsynth.anomaly.data`).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from radsynth.anomaly.networks import NULL_CLASS, NoisyClassifier, build_autoencoder
from radsynth.synthesis.networks import build_unet, ddpm_scheduler
from radsynth.training.loop import batch_indices, cpu_state, fit_adam, pick_device, seed_everything, to_device
from radsynth.training.resume import Resume
from radsynth.training.trained import TrainedModel


def train_anomaly_ddpm(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    architecture: dict,
    iterations: int,
    batch_size: int = 8,
    lr: float = 1e-4,
    label_dropout: float = 0.1,
    seed: int = 0,
    device: torch.device | str | None = None,
    resume: Resume | None = None,
) -> TrainedModel:
    """Train the class-conditional epsilon predictor on slices of both classes.

    Args:
        images: float (N, C, H, W) in [-1, 1].
        labels: int (N,) slice classes (0 healthy, 1 lesion).
        architecture: ``{"unet": ddpm_config(...), "scheduler": scheduler_config(...)}``.
        iterations: optimiser steps.
        batch_size: slices per step.
        lr: Adam learning rate (official 1e-4).
        label_dropout: chance of training a row with the null class (classifier-free guidance
            needs the unconditional prediction); 0 trains the purely conditional official model.
        seed: seeds weights, batches, noise, timesteps and label dropout.
        device: "cpu", "cuda" or a torch device; None picks CUDA when present.
        resume: periodic state saving and continuation (:class:`Resume`).
    """
    device = pick_device() if device is None else torch.device(device)
    generator = seed_everything(seed)
    model = build_unet(architecture["unet"]).to(device)
    scheduler = ddpm_scheduler(architecture["scheduler"])
    if scheduler.prediction_type != "epsilon":
        raise ValueError("the anomaly DDPM predicts epsilon (guidance shifts the predicted noise)")
    x_all, y_all = to_device(images, device), torch.as_tensor(labels, dtype=torch.long, device=device)

    def step_loss(step):
        rows = batch_indices(len(x_all), batch_size, generator).to(device)
        x, y = x_all[rows], y_all[rows]
        dropped = torch.rand(len(rows), generator=generator).to(device) < label_dropout
        y = torch.where(dropped, torch.full_like(y, NULL_CLASS), y)
        noise = torch.randn(x.shape, generator=generator).to(device)
        t = torch.randint(0, scheduler.num_train_timesteps, (len(rows),), generator=generator).to(device)
        prediction = model(scheduler.add_noise(x, noise, t), t, class_labels=y)
        return F.mse_loss(prediction, noise), {}

    history, steps_per_second = fit_adam(model, step_loss, iterations=iterations, lr=lr, generator=generator,
                                     desc="anomaly ddpm", resume=resume)
    return TrainedModel(cpu_state(model), history, steps_per_second * batch_size)


def train_classifier(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    architecture: dict,
    scheduler_config: dict,
    iterations: int,
    batch_size: int = 8,
    lr: float = 3e-4,
    seed: int = 0,
    device: torch.device | str | None = None,
    resume: Resume | None = None,
) -> TrainedModel:
    """Train p(class | x_t, t) on slices noised by the DDPM's forward process.

    Args:
        images: float (N, C, H, W) in [-1, 1].
        labels: int (N,) slice classes (0 healthy, 1 lesion); both must occur.
        architecture: :func:`radsynth.anomaly.networks.classifier_config` kwargs.
        scheduler_config: the DDPM's noise schedule (the classifier must see its noise levels).
        iterations, batch_size, lr, seed, device, resume: as :func:`train_anomaly_ddpm`
            (official lr 3e-4).
    """
    device = pick_device() if device is None else torch.device(device)
    labels = np.asarray(labels)
    if not all((labels == c).any() for c in (0, 1)):
        raise ValueError("the classifier needs healthy and lesion slices; the training split lacks one class")
    generator = seed_everything(seed)
    model = NoisyClassifier(**architecture).to(device)
    scheduler = ddpm_scheduler(scheduler_config)
    x_all, y_all = to_device(images, device), torch.as_tensor(labels, dtype=torch.long, device=device)

    def step_loss(step):
        rows = batch_indices(len(x_all), batch_size, generator).to(device)
        x, y = x_all[rows], y_all[rows]
        t = torch.randint(0, scheduler.num_train_timesteps, (len(rows),), generator=generator).to(device)
        noisy = scheduler.add_noise(x, torch.randn(x.shape, generator=generator).to(device), t)
        logits = model(noisy, t)
        return F.cross_entropy(logits, y), {"accuracy": (logits.argmax(1) == y).float().mean().item()}

    history, steps_per_second = fit_adam(model, step_loss, iterations=iterations, lr=lr, generator=generator,
                                     desc="anomaly classifier", resume=resume)
    return TrainedModel(cpu_state(model), history, steps_per_second * batch_size)


def train_autoencoder(
    images: np.ndarray,
    *,
    architecture: dict,
    iterations: int,
    batch_size: int = 8,
    lr: float = 1e-3,
    seed: int = 0,
    device: torch.device | str | None = None,
    resume: Resume | None = None,
) -> TrainedModel:
    """Train the reconstruction baseline (L1) on healthy slices.

    Args:
        images: float (N, C, H, W) healthy slices in [-1, 1].
        architecture: :func:`radsynth.anomaly.networks.autoencoder_config` kwargs.
        iterations, batch_size, lr, seed, device, resume: as :func:`train_anomaly_ddpm`.
    """
    device = pick_device() if device is None else torch.device(device)
    generator = seed_everything(seed)
    model = build_autoencoder(architecture).to(device)
    x_all = to_device(images, device)

    def step_loss(step):
        x = x_all[batch_indices(len(x_all), batch_size, generator).to(device)]
        return F.l1_loss(model(x), x), {}

    history, steps_per_second = fit_adam(model, step_loss, iterations=iterations, lr=lr, generator=generator,
                                     desc="anomaly autoencoder", resume=resume)
    return TrainedModel(cpu_state(model), history, steps_per_second * batch_size)
