"""Segmentation training on packed slices (2D) or random patches of packed volumes (3D).

Methods (``method``):

- ``supervised``: the labelled cases, the supervised loss only;
- ``supervised_sdf``: the labelled cases, both heads (+ ``sdf_weight * MSE(tanh, SDF)``) and
  no consistency: DTC's ablation;
- ``dtc``: both heads on labelled cases + dual-task consistency on every case, ramped
  (:mod:`radsynth.segmentation.consistency`);
- ``mean_teacher``: supervised loss + EMA-teacher consistency on the unlabelled cases.

The SDF targets are precomputed per case by the ``sdf`` stage and cropped with the patch
(``sdf_target="case"``), or computed from each patch's own label as DTC's loop does
(``sdf_target="patch"``, on CPU threads while the network runs). Labels and SDFs of subjects
outside ``labelled_subjects`` are never read: they are dropped before anything reaches the
device.
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
from monai.losses import DiceCELoss, DiceLoss

from radsynth.augment import build_augmentation
from radsynth.augment.patch_mix import PatchMixBatches
from radsynth.io import load_checkpoint
from radsynth.segmentation.batches import Batches, mask_boxes, pad_to, rot_flip
from radsynth.segmentation.consistency import (
    DTC_DEFAULTS,
    MEAN_TEACHER_DEFAULTS,
    MeanTeacher,
    consistency_weight,
    dtc_losses,
    mean_teacher_loss,
)
from radsynth.segmentation.networks import BACKBONE_ARGS, DualHeadNet, build_segmenter
from radsynth.segmentation.sdf import PatchSDF
from radsynth.training.loop import (
    LossLog,
    autocast,
    channels_last_format,
    pick_device,
    progress,
    seed_everything,
    to_device,
)
from radsynth.training.resume import Resume

__all__ = [
    "DTC_DEFAULTS",
    "MEAN_TEACHER_DEFAULTS",
    "METHODS",
    "SegmentationResult",
    "consistency_weight",
    "dtc_losses",
    "load_segmenter",
    "one_hot_foreground",
    "supervised_loss",
    "train_segmentation",
]

METHODS = ("supervised", "supervised_sdf", "dtc", "mean_teacher")
SEMI_SUPERVISED = ("dtc", "mean_teacher")  # the methods that read unlabelled cases


@dataclass
class SegmentationResult:
    """What training returns.

    Attributes:
        state: ``{"segmenter": state_dict}`` on the CPU, for :func:`radsynth.io.save_checkpoint`.
        architecture: keyword arguments of :func:`build_segmenter`; store them in the sidecar
            under ``"architecture"`` so :func:`load_segmenter` can rebuild the network.
        history: per-``log_every`` means of the loss terms, the ramp weight and the lr.
        images_per_second: training throughput (labelled + unlabelled samples per second).
    """

    state: dict
    architecture: dict
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    images_per_second: float = 0.0


def supervised_loss(name: str):
    """MONAI loss on sigmoid logits and one-hot foreground targets.

    ``batch=True`` pools the Dice over the batch (as DTC's dice loss does), so slices without
    foreground do not each demand an exactly empty prediction. ``dice_squared`` is DTC's
    ``dice_loss``: 1 - (2 sum(p g) + 1e-5) / (sum(p^2) + sum(g^2) + 1e-5); ``dice`` has sum(p)
    in the denominator (the V-Net paper's is squared too; radsynth's default keeps MONAI's).
    """
    if name == "dice_ce":
        return DiceCELoss(sigmoid=True, batch=True)
    if name == "dice":
        return DiceLoss(sigmoid=True, batch=True)
    if name == "dice_squared":
        return DiceLoss(sigmoid=True, batch=True, squared_pred=True, smooth_nr=1e-5, smooth_dr=1e-5)
    raise ValueError(f"unknown segmentation loss {name!r} (known: 'dice_ce', 'dice', 'dice_squared')")


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


def train_segmentation(
    train: dict,
    *,
    method: str = "supervised",
    labelled_subjects: Sequence[str] | None = None,
    augmentation: str = "none",
    synthetic: dict | None = None,
    synthetic_fraction: float = 0.0,
    network: dict | None = None,
    loss: str = "dice_ce",
    lr: float = 1e-3,
    iterations: int = 1000,
    batch_size: int = 8,
    unlabelled_batch_size: int = 0,
    dtc: dict | None = None,
    mean_teacher: dict | None = None,
    patch_size: Sequence[int] | None = None,
    rotate_flip: bool = False,
    seed: int = 0,
    device: str | torch.device | None = None,
    log_every: int = 10,
    optimizer: str = "adamw",
    augmentation_prob: float = 0.5,
    resume: Resume | None = None,
    sdf_target: str = "case",
    patch_mix: dict | None = None,
) -> SegmentationResult:
    """Train a dual-head segmenter on packed slices or volumes.

    Args:
        train: arrays of ``packed/train.npz`` (2D: ``image`` (N, C, H, W), ``label`` (N, H, W)
            uint8, ``sdf`` (N, K, H, W)) or ``packed/volumes/train.npz`` (3D: one more spatial
            axis, and ``mask`` (N, X, Y, Z), whose box bounds the patches), and ``subject`` (N,).
        method: one of :data:`METHODS` (see the module docstring).
        labelled_subjects: subjects whose labels may be used (None: all of them).
        augmentation: a transform augmentation of :data:`radsynth.augment.AUGMENTATIONS`
            ("none"; EMIT-Diff's baselines "contrast", "noise", "rotate", "scale"; "deepstack").
        synthetic: ``image`` (M, C, H, W) and ``label`` (M, H, W) (optional ``sdf``) pairs
            mixed into every labelled batch; None for real data only.
        synthetic_fraction: share of each labelled batch drawn from ``synthetic``.
        network: :func:`build_segmenter` keywords (backbone, channels, strides, res_units,
            features, dropout); keys the backbone does not read are dropped. ``spatial_dims``,
            ``in_channels`` and ``classes`` come from the data.
        loss: "dice_ce" (MONAI ``DiceCELoss``), "dice" (``DiceLoss``) or "dice_squared" (DTC's
            squared denominator), all on sigmoids.
        lr: learning rate.
        iterations: optimiser steps.
        batch_size: labelled samples per step.
        unlabelled_batch_size: unlabelled samples per step (dtc and mean_teacher; DTC: 2 + 2).
        dtc: "sdf_weight" (0.3), "sharpness" (1500), "consistency" (1.0), "rampup" (1.0);
            supervised_sdf reads sdf_weight.
        mean_teacher: "consistency" (0.1), "ema_decay" (0.99), "noise" (0.1), "rampup" (1.0).
        patch_size: crop random patches of this size (DTC LA: 112x112x80); None trains on
            whole samples. Samples smaller than the patch are padded at the end.
        rotate_flip: DTC's random 90-degree rotation + flip of every sample.
        seed: seeds the network, the batches and the augmentation.
        device: "cpu", "cuda" or None (CUDA when present).
        log_every: iterations averaged per history row.
        optimizer: "adamw" (constant lr) or "sgd" (DTC: momentum 0.9, wd 1e-4, step decay).
        augmentation_prob: per-sample probability of a baseline transform.
        resume: saves the run's state every few steps and on SIGTERM, and continues from a
            saved state (:class:`radsynth.training.resume.Resume`); None trains in one go.
        sdf_target: "case" (crops of the precomputed whole-case maps) or "patch" (DTC: each
            labelled patch's own map after cropping and augmentation, normalised within it).
        patch_mix: EMIT-Diff's mixing, ``{"patch", "real_fraction"}``
            (:class:`radsynth.augment.patch_mix.PatchMixBatches`); None mixes whole synthetic rows.

    Returns:
        A :class:`SegmentationResult`.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r} (known: {METHODS})")
    if sdf_target not in ("case", "patch"):
        raise ValueError(f"unknown sdf_target {sdf_target!r} (known: 'case', 'patch')")
    dtc = {**DTC_DEFAULTS, **(dtc or {})}
    mt = {**MEAN_TEACHER_DEFAULTS, **(mean_teacher or {})}
    device = device if isinstance(device, torch.device) else pick_device(device or "auto")
    generator = seed_everything(seed)

    image_all = np.asarray(train["image"])
    spatial_dims = image_all.ndim - 2
    labelled = _labelled_rows(np.asarray(train["subject"]), labelled_subjects)
    if not labelled.any():
        raise ValueError("no training case belongs to a labelled subject")
    boxes = mask_boxes(train["mask"]) if "mask" in train and patch_size is not None else None
    patch = None if patch_size is None else tuple(int(p) for p in patch_size)
    if patch is not None and len(patch) != spatial_dims:
        raise ValueError(f"patch_size {patch} needs {spatial_dims} values for {spatial_dims}D data")

    def on_device(array, dtype=torch.float32, value=0.0):
        tensor = to_device(array, device, dtype)
        return tensor if patch is None else pad_to(tensor, patch, value)

    background = float(image_all.min())
    rows = np.flatnonzero(labelled)
    # Only labelled rows of label/sdf are ever indexed; the rest never leaves the dict.
    images = on_device(image_all[rows], value=background)
    labels = on_device(np.asarray(train["label"])[rows], torch.uint8)
    sdfs = on_device(np.asarray(train["sdf"])[rows], value=1.0)  # padding lies outside every object
    unlabelled, n_unlabelled = None, 0
    if method in SEMI_SUPERVISED and unlabelled_batch_size > 0:
        if labelled.all():
            raise ValueError(f"{method} needs unlabelled cases: every subject is labelled")
        unlabelled, n_unlabelled = on_device(image_all[~labelled], value=background), unlabelled_batch_size

    classes = sdfs.shape[1]
    network = {"features": 16, "backbone": "unet", **(network or {})}
    backbone = network["backbone"]
    # Scale presets set U-Net sizes for every run; a V-Net run keeps only what it reads.
    reads = ("features", "backbone", *BACKBONE_ARGS.get(backbone, network))  # unknown: build_segmenter says so
    network = {k: v for k, v in network.items() if k in reads}
    architecture = {
        **network,
        "spatial_dims": spatial_dims,
        "in_channels": int(images.shape[1]),
        "classes": int(classes),
    }
    architecture = {k: list(v) if isinstance(v, tuple) else v for k, v in architecture.items()}
    model = build_segmenter(**architecture).to(device)
    model.train()
    # On CUDA: channels-last tensors (tensor-core kernels) and cuDNN's fastest algorithms for
    # the one batch shape training ever sees.
    memory_format = channels_last_format(spatial_dims) if device.type == "cuda" else None
    if memory_format is not None:
        model.to(memory_format=memory_format)
        torch.backends.cudnn.benchmark = True
    teacher = MeanTeacher(model, mt["ema_decay"], mt["noise"]) if method == "mean_teacher" else None
    optim, scheduler = _optimizer(optimizer, model.parameters(), lr, iterations)
    criterion = supervised_loss(loss)
    uses_sdf = method in ("supervised_sdf", "dtc")
    patch_maps = PatchSDF(int(classes), torch.get_num_threads()) if uses_sdf and sdf_target == "patch" else None

    n_synthetic = 0
    if synthetic is not None:
        if len(synthetic.get("image", ())) == 0:
            raise ValueError("synthetic augmentation needs synthetic image/label pairs")
        if tuple(synthetic["image"].shape[1:]) != tuple(images.shape[1:]):
            shapes = f"{tuple(synthetic['image'].shape[1:])} and {tuple(images.shape[1:])}"
            raise ValueError(f"synthetic and real images differ in shape: {shapes}")
        n_synthetic = min(batch_size, round(synthetic_fraction * batch_size))
    batches = Batches(
        images, labels, sdfs, unlabelled, n_unlabelled, synthetic, n_synthetic, batch_size,
        patch=patch,
        boxes=None if boxes is None else torch.as_tensor(boxes[rows]),
        unlabelled_boxes=None if boxes is None else torch.as_tensor(boxes[~labelled]),
    )
    if patch_mix is not None:  # each real slice with a synthetic partner of its own
        batches = PatchMixBatches.for_training(method, images, labels, sdfs, rows, synthetic, batch_size, patch_mix)
    augment = build_augmentation(augmentation, augmentation_prob, seed, spatial_dims)

    log = LossLog(log_every)
    resume = resume or Resume(None)
    # Batches holds no state of its own: every draw comes from ``generator``.
    resume.track(model=model, optimizer=optim, generator=generator, log=log)
    if scheduler is not None:
        resume.track(scheduler=scheduler)
    if teacher is not None:
        resume.track(teacher=teacher)
    if augment is not None:
        resume.track(augmentation=augment)
    first = resume.start()
    start = time.perf_counter()
    with progress(iterations, f"segmentation {method}", initial=first) as bar:
        for iteration in range(first, iterations):
            image, label, sdf = batches.draw(generator)
            if rotate_flip:
                image, label, sdf = rot_flip(image, label, sdf, generator)
            if augment is not None:
                image, label, sdf = augment(image, label, sdf)
            if memory_format is not None:
                image = image.contiguous(memory_format=memory_format)

            # DTC's per-patch SDF, on CPU threads while the network runs (rows with labels).
            pending_sdf = patch_maps.submit(label[:batch_size]) if patch_maps is not None else None
            with autocast(device):
                seg, tanh_out = model(image)
            seg, tanh_out = seg.float(), tanh_out.float()
            if patch_mix is not None:  # the loss reads real and partner predictions merged by blocks
                seg, label = batches.merge(seg, label, generator)
            total = criterion(seg[:batch_size], one_hot_foreground(label[:batch_size], classes))
            terms = {"supervised": total.item()}
            if uses_sdf:
                if pending_sdf is not None:
                    sdf = torch.cat([pending_sdf(), sdf[batch_size:]])
                sdf_mse, cons = dtc_losses(seg, tanh_out, sdf, batches.has_sdf, dtc["sharpness"])
                total = total + dtc["sdf_weight"] * sdf_mse
                terms["sdf"] = sdf_mse.item()
                if method == "dtc":
                    weight = consistency_weight(iteration, iterations, dtc["consistency"], dtc["rampup"])
                    total = total + weight * cons
                    terms.update(consistency=cons.item(), consistency_weight=weight)
            if teacher is not None and n_unlabelled:
                rest = image[len(image) - n_unlabelled :]
                with autocast(device):
                    cons = mean_teacher_loss(seg[len(image) - n_unlabelled :], teacher.target(rest, generator))
                weight = consistency_weight(iteration, iterations, mt["consistency"], mt["rampup"])
                total = total + weight * cons
                terms.update(consistency=cons.item(), consistency_weight=weight)
            terms["lr"] = optim.param_groups[0]["lr"]
            optim.zero_grad(set_to_none=True)
            total.backward()
            optim.step()
            if teacher is not None:
                teacher.update(model, iteration + 1)
            if scheduler is not None:
                scheduler.step()
            log.add(iteration + 1, loss=total.item(), **terms)
            bar.update(1)
            resume.step(iteration + 1)
    elapsed = time.perf_counter() - start
    if patch_maps is not None:
        patch_maps.close()
    log.flush(iterations)
    resume.finish()
    plain = torch.contiguous_format  # checkpoints load anywhere, whatever layout trained
    state = {"segmenter": {k: v.detach().cpu().clone(memory_format=plain) for k, v in model.state_dict().items()}}
    return SegmentationResult(
        state=state,
        architecture=architecture,
        history=log.frame(),
        images_per_second=(iterations - first) * (batch_size + n_unlabelled) / max(elapsed, 1e-9),
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
