"""Segmentation training: supervised (Dice / Dice+CE) and DTC semi-supervised, on packed slices.

DTC (Luo et al., AAAI 2021): labelled batches get the supervised loss plus
``sdf_weight * MSE(tanh_out, SDF)``; every batch (labelled and unlabelled) gets the dual-task
consistency ``mean((sigmoid(-k * tanh_out) - sigmoid(seg))^2)``, weighted by
``consistency * exp(-5 (1 - t)^2)``. The SDF targets are precomputed per case by the ``sdf``
stage (the official loop recomputes them on the CPU every iteration).

Labels and SDFs of subjects outside ``labelled_subjects`` are never read: they are dropped
before anything reaches the device.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from monai.losses import DiceCELoss, DiceLoss

from radsynth.augment import classic_augmentation
from radsynth.io import load_checkpoint
from radsynth.nets.segmentation import DualHeadNet, build_segmenter
from radsynth.train.common import (
    LossLog,
    autocast,
    batch_indices,
    pick_device,
    progress,
    seed_everything,
    to_device,
)

METHODS = ("supervised", "dtc")
DTC_DEFAULTS = {"sdf_weight": 0.3, "sharpness": 1500.0, "consistency": 1.0, "rampup": 1.0}


@dataclass
class SegmentationResult:
    """What training returns.

    Attributes:
        state: ``{"segmenter": state_dict}`` on the CPU, for :func:`radsynth.io.save_checkpoint`.
        architecture: keyword arguments of :func:`build_segmenter`; store them in the sidecar
            under ``"architecture"`` so :func:`load_segmenter` can rebuild the network.
        history: per-``log_every`` means of the loss terms, the ramp weight and the lr.
        images_per_second: training throughput (labelled + unlabelled images per second).
    """

    state: dict
    architecture: dict
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    images_per_second: float = 0.0


def consistency_weight(
    iteration: int, iterations: int, consistency: float, rampup: float = 1.0
) -> float:
    """DTC's ramp-up ``consistency * exp(-5 (1 - t)^2)``, ``t = iteration / (rampup * iterations)``.

    Args:
        iteration: current iteration (0-based).
        iterations: total iterations.
        consistency: the final weight.
        rampup: fraction of training over which the weight ramps up (DTC: all of it).
    """
    length = max(rampup * iterations, 1e-12)
    t = min(max(iteration / length, 0.0), 1.0)
    return float(consistency * math.exp(-5.0 * (1.0 - t) ** 2))


def dtc_losses(
    seg: torch.Tensor,
    tanh_out: torch.Tensor,
    sdf_target: torch.Tensor,
    has_target: torch.Tensor,
    sharpness: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The two DTC-specific terms, in float32.

    Args:
        seg: (B, K, ...) segmentation logits.
        tanh_out: (B, K, ...) tanh outputs of the distance head.
        sdf_target: (B, K, ...) SDF targets; rows without one are ignored.
        has_target: (B,) bool, the rows with an SDF target (the labelled ones).
        sharpness: k of ``sigmoid(-k * tanh_out)`` (DTC: 1500).

    Returns:
        ``(sdf_mse, consistency)``: MSE(tanh_out, SDF) over the rows with a target and
        ``mean((sigmoid(-k * tanh_out) - sigmoid(seg))^2)`` over all rows.
    """
    seg, tanh_out = seg.float(), tanh_out.float()
    if has_target.any():
        sdf_mse = F.mse_loss(tanh_out[has_target], sdf_target[has_target].float())
    else:  # a batch of synthetic pairs without SDFs
        sdf_mse = tanh_out.sum() * 0
    consistency = ((torch.sigmoid(-sharpness * tanh_out) - torch.sigmoid(seg)) ** 2).mean()
    return sdf_mse, consistency


def supervised_loss(name: str):
    """MONAI loss on sigmoid logits and one-hot foreground targets.

    ``batch=True`` pools the Dice over the batch (as DTC's dice loss does), so slices without
    foreground do not each demand an exactly empty prediction.
    """
    if name == "dice_ce":
        return DiceCELoss(sigmoid=True, batch=True)
    if name == "dice":
        return DiceLoss(sigmoid=True, batch=True)
    raise ValueError(f"unknown segmentation loss {name!r} (known: 'dice_ce', 'dice')")


def one_hot_foreground(label: torch.Tensor, classes: int) -> torch.Tensor:
    """(B, *spatial) integer classes -> (B, K, *spatial) float, channel k = class k + 1."""
    values = torch.arange(1, classes + 1, device=label.device).view(1, -1, *[1] * (label.ndim - 1))
    return (label.unsqueeze(1) == values).float()


def _labelled_rows(subjects: np.ndarray, labelled_subjects: Sequence[str] | None) -> np.ndarray:
    if labelled_subjects is None:
        return np.ones(len(subjects), bool)
    wanted = set(map(str, labelled_subjects))
    return np.array([str(s) in wanted for s in subjects], bool)


def _optimizer(name: str, parameters, lr: float, iterations: int):
    """AdamW at a constant lr (EMIT-Diff) or DTC's SGD with x0.1 steps at 2500/6000 of training."""
    if name == "adamw":
        optimizer = torch.optim.AdamW(parameters, lr=lr)
        return optimizer, None
    if name == "sgd":
        optimizer = torch.optim.SGD(parameters, lr=lr, momentum=0.9, weight_decay=1e-4)
        # DTC: lr * 0.1 ** (iteration // 2500) over 6000 iterations, scaled to this run's length.
        step = max(iterations * 2500 / 6000, 1e-12)
        return optimizer, torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda it: 0.1 ** math.floor(it / step)
        )
    raise ValueError(f"unknown optimizer {name!r} (known: 'adamw', 'sgd')")


@dataclass
class _Pool:
    """Rows a batch draws ``count`` of; ``label``/``sdf`` are zero-filled stand-ins (``count`` rows)
    where the pool has none (unlabelled slices; synthetic pairs without SDFs)."""

    image: torch.Tensor
    label: torch.Tensor
    sdf: torch.Tensor
    count: int
    has_label: bool
    has_sdf: bool

    def draw(self, generator: torch.Generator):
        index = batch_indices(len(self.image), self.count, generator).to(self.image.device)
        label = self.label[index] if self.has_label else self.label
        return self.image[index], label, self.sdf[index] if self.has_sdf else self.sdf


class _Batches:
    """Training batches from arrays already on the device: labelled, synthetic, unlabelled rows.

    Zero-filled stand-ins keep the batch whole so it is augmented as one; ``has_sdf`` (B,) keeps
    zero-filled SDFs out of the SDF loss, and the supervised loss reads the first
    ``batch_size`` rows only.
    """

    def __init__(
        self, images, labels, sdfs, unlabelled, n_unlabelled, synthetic, n_synthetic, batch_size
    ):
        device = images.device

        def pool(image, label, sdf, count):
            return _Pool(
                image,
                label if label is not None else labels.new_zeros(count, *labels.shape[1:]),
                sdf if sdf is not None else sdfs.new_zeros(count, *sdfs.shape[1:]),
                count,
                label is not None,
                sdf is not None,
            )

        self.pools = [pool(images, labels, sdfs, batch_size - n_synthetic)]
        if n_synthetic:
            syn_sdfs = to_device(synthetic["sdf"], device) if "sdf" in synthetic else None
            syn_labels = to_device(synthetic["label"], device, torch.uint8)
            self.pools.append(
                pool(to_device(synthetic["image"], device), syn_labels, syn_sdfs, n_synthetic)
            )
        if n_unlabelled:
            self.pools.append(pool(unlabelled, None, None, n_unlabelled))
        self.pools = [p for p in self.pools if p.count > 0]
        self.has_sdf = torch.cat([torch.full((p.count,), p.has_sdf, device=device) for p in self.pools])

    def draw(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(image, label, sdf)`` of one batch."""
        image, label, sdf = zip(*(p.draw(generator) for p in self.pools))
        return torch.cat(image), torch.cat(label), torch.cat(sdf)


def train_segmentation(
    train: dict,
    *,
    method: str = "supervised",
    labelled_subjects: Sequence[str] | None = None,
    classic: bool = False,
    synthetic: dict | None = None,
    synthetic_fraction: float = 0.0,
    network: dict | None = None,
    loss: str = "dice_ce",
    lr: float = 1e-3,
    iterations: int = 1000,
    batch_size: int = 8,
    unlabelled_batch_size: int = 0,
    dtc: dict | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    log_every: int = 10,
    optimizer: str = "adamw",
    augmentation_prob: float = 0.5,
) -> SegmentationResult:
    """Train a 2D dual-head segmenter on packed slices.

    Args:
        train: arrays of ``packed/train.npz``: ``image`` (N, C, H, W) (the segmentation input
            channels), ``label`` (N, H, W) uint8, ``sdf`` (N, K, H, W), ``subject`` (N,).
        method: "supervised" (labelled slices only) or "dtc" (labelled + unlabelled).
        labelled_subjects: subjects whose labels may be used (None: all of them).
        classic: apply classic augmentation (:func:`radsynth.augment.classic_augmentation`).
        synthetic: ``image`` (M, C, H, W) and ``label`` (M, H, W) (optional ``sdf``) pairs
            mixed into every labelled batch; None for real data only.
        synthetic_fraction: share of each labelled batch drawn from ``synthetic``.
        network: :func:`build_segmenter` keywords (channels, strides, res_units, features);
            ``spatial_dims``, ``in_channels`` and ``classes`` come from the data.
        loss: "dice_ce" (MONAI ``DiceCELoss``) or "dice" (``DiceLoss``), both on sigmoids.
        lr: learning rate.
        iterations: optimiser steps.
        batch_size: labelled samples per step.
        unlabelled_batch_size: unlabelled samples per step (DTC only; DTC uses 2 + 2).
        dtc: "sdf_weight" (0.3), "sharpness" (1500), "consistency" (1.0), "rampup" (1.0).
        seed: seeds the network, the batches and the augmentation.
        device: "cpu", "cuda" or None (CUDA when present).
        log_every: iterations averaged per history row.
        optimizer: "adamw" (constant lr) or "sgd" (DTC: momentum 0.9, wd 1e-4, step decay).
        augmentation_prob: per-sample probability of each classic transform.

    Returns:
        A :class:`SegmentationResult`.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r} (known: {METHODS})")
    dtc = {**DTC_DEFAULTS, **(dtc or {})}
    device = device if isinstance(device, torch.device) else pick_device(device or "auto")
    generator = seed_everything(seed)

    labelled = _labelled_rows(np.asarray(train["subject"]), labelled_subjects)
    if not labelled.any():
        raise ValueError("no training slice belongs to a labelled subject")
    rows = np.flatnonzero(labelled)
    # Only labelled rows of label/sdf are ever indexed; the rest never leaves the dict.
    images = to_device(np.asarray(train["image"])[rows], device)
    labels = to_device(np.asarray(train["label"])[rows], device, torch.uint8)
    sdfs = to_device(np.asarray(train["sdf"])[rows], device)
    unlabelled = None
    if method == "dtc":
        if unlabelled_batch_size > 0:
            if labelled.all():
                raise ValueError("DTC needs unlabelled slices: every subject is labelled")
            unlabelled = to_device(np.asarray(train["image"])[~labelled], device)

    classes = sdfs.shape[1]
    architecture = {
        **{"channels": (16, 32, 64, 128), "strides": (2, 2, 2), "res_units": 1, "features": 16},
        **(network or {}),
        "spatial_dims": 2,
        "in_channels": int(images.shape[1]),
        "classes": int(classes),
    }
    architecture = {k: list(v) if isinstance(v, tuple) else v for k, v in architecture.items()}
    model = build_segmenter(**architecture).to(device)
    model.train()
    optim, scheduler = _optimizer(optimizer, model.parameters(), lr, iterations)
    criterion = supervised_loss(loss)

    n_synthetic = 0
    if synthetic is not None:
        if len(synthetic.get("image", ())) == 0:
            raise ValueError("synthetic augmentation needs synthetic image/label pairs")
        if tuple(synthetic["image"].shape[1:]) != tuple(images.shape[1:]):
            shapes = f"{tuple(synthetic['image'].shape[1:])} and {tuple(images.shape[1:])}"
            raise ValueError(f"synthetic and real images differ in shape: {shapes}")
        n_synthetic = min(batch_size, round(synthetic_fraction * batch_size))
    n_unlabelled = unlabelled_batch_size if unlabelled is not None else 0
    batches = _Batches(
        images, labels, sdfs, unlabelled, n_unlabelled, synthetic, n_synthetic, batch_size
    )
    augment = classic_augmentation(None, augmentation_prob, seed) if classic else None

    log = LossLog(log_every)
    start = time.perf_counter()
    with progress(iterations, f"segmentation {method}") as bar:
        for iteration in range(iterations):
            image, label, sdf = batches.draw(generator)
            if augment is not None:
                image, label, sdf = augment(image, label, sdf)

            with autocast(device):
                seg, tanh_out = model(image)
            seg, tanh_out = seg.float(), tanh_out.float()
            total = criterion(seg[:batch_size], one_hot_foreground(label[:batch_size], classes))
            terms = {"supervised": total.item()}
            if method == "dtc":
                sdf_mse, cons = dtc_losses(seg, tanh_out, sdf, batches.has_sdf, dtc["sharpness"])
                weight = consistency_weight(iteration, iterations, dtc["consistency"], dtc["rampup"])
                total = total + dtc["sdf_weight"] * sdf_mse + weight * cons
                terms.update(sdf=sdf_mse.item(), consistency=cons.item(), consistency_weight=weight)
            terms["lr"] = optim.param_groups[0]["lr"]
            optim.zero_grad(set_to_none=True)
            total.backward()
            optim.step()
            if scheduler is not None:
                scheduler.step()
            log.add(iteration + 1, loss=total.item(), **terms)
            bar.update(1)
    elapsed = time.perf_counter() - start
    log.flush(iterations)
    state = {"segmenter": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    return SegmentationResult(
        state=state,
        architecture=architecture,
        history=log.frame(),
        images_per_second=iterations * (batch_size + n_unlabelled) / max(elapsed, 1e-9),
    )


def load_segmenter(path: str | Path, device: str | torch.device = "cpu") -> DualHeadNet:
    """Rebuild a trained segmenter from ``save_checkpoint(path, result.state, sidecar)``.

    Args:
        path: the ``.pt`` checkpoint; its sidecar must hold ``"architecture"``
            (``SegmentationResult.architecture``).
        device: where to put the network.

    Returns:
        The network in eval mode.
    """
    state, sidecar = load_checkpoint(path, map_location="cpu")
    model = build_segmenter(**sidecar["architecture"])
    model.load_state_dict(state["segmenter"])
    return model.to(device).eval()
