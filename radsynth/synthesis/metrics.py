"""What a synthetic image set is judged on, with no downloaded weights: diversity among the
samples of one mask and closeness to the real image (MS-SSIM), and a Fréchet distance between
feature sets (the features come from a network trained here on real data, never from
ImageNet weights fetched at run time).

:func:`synthesis_scores` puts them together for one generator's pairs, with the real-data
segmenter as the judge: structure consistency (does the segmenter find the mask the image was
drawn for?) and the Fréchet segmenter distance (FSD) in its deepest encoder features.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from monai.metrics.fid import get_fid_score
from monai.metrics.regression import compute_ms_ssim
from monai.networks.layers.simplelayers import SkipConnection
from monai.networks.nets.attentionunet import AttentionLayer
from torch import nn

from radsynth.segmentation.evaluate import predict_volume
from radsynth.segmentation.vnet import DTCVNet
from radsynth.training.loop import autocast, pick_device

COLUMNS = ["case", "method", "setting", "metric", "value"]

#: Wang et al.'s five MS-SSIM scale weights (MONAI's default); fewer scales for small images.
SCALE_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def scale_weights(size: int, kernel_size: int = 7) -> tuple[float, ...]:
    """The first scales whose coarsest image still exceeds the kernel, renormalised to sum 1
    (MONAI needs ``size > (kernel_size - 1) * 2 ** (scales - 1)``)."""
    scales = len(SCALE_WEIGHTS)
    while scales > 1 and size <= (kernel_size - 1) * 2 ** (scales - 1):
        scales -= 1
    weights = np.asarray(SCALE_WEIGHTS[:scales])
    return tuple(float(w) for w in weights / weights.sum())


def ms_ssim(a: np.ndarray, b: np.ndarray, kernel_size: int = 7) -> np.ndarray:
    """MS-SSIM of each pair of images (MONAI ``compute_ms_ssim``, data range 2 for [-1, 1]).

    Args:
        a, b: float (N, C, H, W) in [-1, 1], same shape.
        kernel_size: Gaussian window (7 suits 64-256 px images; scales adapt to the size).

    Returns:
        (N,) values in [0, 1]; 1 for identical images.
    """
    a, b = (torch.as_tensor(np.asarray(x, dtype=np.float32)) for x in (a, b))
    if a.shape != b.shape or a.ndim != 4:
        raise ValueError(f"ms_ssim needs two (N, C, H, W) arrays of one shape, got {tuple(a.shape)}, {tuple(b.shape)}")
    weights = scale_weights(min(a.shape[2:]), kernel_size)
    values = compute_ms_ssim(a, b, spatial_dims=2, data_range=2.0, kernel_size=kernel_size, weights=weights)
    return values.reshape(len(a), -1).mean(dim=1).numpy()


def diversity(samples: np.ndarray, kernel_size: int = 7) -> float:
    """Mean ``1 - MS-SSIM`` over every pair of the K samples drawn for one mask (0: identical
    samples; higher: more varied). NaN for fewer than two samples."""
    samples = np.asarray(samples)
    pairs = list(combinations(range(len(samples)), 2))
    if not pairs:
        return float("nan")
    first, second = (np.stack([samples[i] for i in side]) for side in zip(*pairs))
    return float(np.mean(1.0 - ms_ssim(first, second, kernel_size)))


def frechet_distance(real_features: np.ndarray, synthetic_features: np.ndarray) -> float:
    """Fréchet distance between two feature sets (MONAI ``get_fid_score``): FID's formula on
    whatever features are given, (N, D) and (M, D)."""
    real = torch.as_tensor(np.asarray(real_features, dtype=np.float64))
    synthetic = torch.as_tensor(np.asarray(synthetic_features, dtype=np.float64))
    if real.ndim != 2 or synthetic.ndim != 2 or real.shape[1] != synthetic.shape[1]:
        raise ValueError(f"feature sets must be (N, D) and (M, D), got {tuple(real.shape)}, {tuple(synthetic.shape)}")
    return float(get_fid_score(synthetic, real))


def predict_slices(segmenter: nn.Module, images: np.ndarray, device, batch_size: int = 64) -> np.ndarray:
    """Label maps of 2D slices, exactly as test volumes are segmented
    (:func:`radsynth.segmentation.evaluate.predict_volume`: sigmoid per class, the most likely
    class above 0.5, else background; sizes padded to the U-Net's divisor with the minimum).

    Args:
        segmenter: a trained segmenter on ``device`` (e.g. from ``load_segmenter``).
        images: float (M, C, H, W) in [-1, 1].
        device: where the segmenter runs ("cpu", "cuda" or a ``torch.device``).
        batch_size: slices per forward pass.

    Returns:
        uint8 (M, H, W) classes.
    """
    images = np.asarray(images, dtype=np.float32)
    if len(images) == 0:
        return np.zeros((0, *images.shape[2:]), np.uint8)
    # predict_volume segments the slices of a (C, X, Y, Z) volume along its last axis.
    volume = np.moveaxis(images, 0, -1)
    return np.ascontiguousarray(np.moveaxis(predict_volume(segmenter, volume, 2, batch_size, device), -1, 0))


def structure_consistency(predicted: np.ndarray, labels: np.ndarray, classes: int) -> np.ndarray:
    """Per-sample Dice (%) between the mask a synthetic image was drawn for and the
    segmenter's prediction on it.

    Args:
        predicted: integer (M, H, W) predicted classes.
        labels: integer (M, H, W) masks that conditioned (or were drawn with) the images.
        classes: foreground classes 1..classes.

    Returns:
        float (M,): the mean Dice over the foreground classes present in the mask or the
        prediction; 100 when both are empty (nothing drawn, nothing found: consistent, as
        ``segmentation_metrics`` scores two empty masks).
    """
    predicted, labels = np.asarray(predicted), np.asarray(labels)
    if predicted.shape != labels.shape:
        raise ValueError(f"predicted {predicted.shape} and labels {labels.shape} differ in shape")
    total = np.zeros(len(labels))
    present = np.zeros(len(labels))
    for value in range(1, classes + 1):
        p = (predicted == value).reshape(len(predicted), -1)
        r = (labels == value).reshape(len(labels), -1)
        size = p.sum(1) + r.sum(1)
        overlap = (p & r).sum(1)
        total += np.where(size > 0, 2.0 * overlap / np.maximum(size, 1), 0.0)
        present += size > 0
    return np.where(present > 0, 100.0 * total / np.maximum(present, 1), 100.0)


def _deepest_stage(segmenter: nn.Module) -> nn.Module:
    """The bottom of the backbone: the innermost U-Net skip connection's (or attention
    layer's) submodule, or the V-Net's fifth block."""
    backbone = getattr(segmenter, "backbone", segmenter)
    if isinstance(backbone, DTCVNet):
        return backbone.block_five
    # modules() walks outer to inner, so the last skip or attention layer is the innermost.
    nested = [m for m in backbone.modules() if isinstance(m, (SkipConnection, AttentionLayer))]
    if not nested:
        raise ValueError(f"no encoder bottom found in {type(backbone).__name__}")
    return nested[-1].submodule


def segmenter_features(segmenter: nn.Module, images: np.ndarray, device, batch_size: int = 64) -> np.ndarray:
    """Global-average-pooled features of the segmenter's deepest encoder stage.

    This is the feature space of the Fréchet segmenter distance (FSD): no Inception weights can
    be downloaded here, and the features of the segmenter trained on the real slices measure
    what matters for segmentation rather than for ImageNet classes.

    Args:
        segmenter: a trained segmenter on ``device`` (a :class:`DualHeadNet` or its backbone).
        images: float (M, C, H, W) in [-1, 1].
        device: where the segmenter runs.
        batch_size: slices per forward pass.

    Returns:
        float32 (M, F), F the channels of the deepest stage.
    """
    device = device if isinstance(device, torch.device) else pick_device(device or "auto")
    captured = []
    hook = _deepest_stage(segmenter).register_forward_hook(
        lambda module, inputs, output: captured.append(output.float().mean(dim=(2, 3)).cpu())
    )
    was_training = segmenter.training
    segmenter.eval()
    images = torch.as_tensor(np.ascontiguousarray(images, dtype=np.float32))
    # Pad to a multiple of 16 (the deepest stride of every backbone) with background, -1.
    pad = (0, -images.shape[3] % 16, 0, -images.shape[2] % 16)
    try:
        with torch.inference_mode():
            for start in range(0, len(images), batch_size):
                with autocast(device):
                    segmenter(F.pad(images[start : start + batch_size], pad, value=-1.0).to(device))
    finally:
        hook.remove()
        segmenter.train(was_training)
    if not captured:
        return np.zeros((0, 0), np.float32)
    return torch.cat(captured).numpy()


def _diversity_by_group(images: np.ndarray, groups: np.ndarray, chunk: int = 256) -> dict[int, float]:
    """:func:`diversity` of every group of at least two images, with all pairs of all groups
    batched into a few MS-SSIM calls (one call per group is slow for hundreds of masks)."""
    firsts, seconds, owners = [], [], []
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        for i, j in combinations(members, 2):
            firsts.append(i)
            seconds.append(j)
            owners.append(group)
    if not owners:
        return {}
    firsts, seconds, owners = map(np.asarray, (firsts, seconds, owners))
    dissimilarity = np.concatenate([
        1.0 - ms_ssim(images[firsts[s : s + chunk]], images[seconds[s : s + chunk]])
        for s in range(0, len(owners), chunk)
    ])
    return {int(g): float(dissimilarity[owners == g].mean()) for g in np.unique(owners)}


def _rows(cases, method: str, setting: str, metric: str, values) -> list[tuple]:
    return [(str(c), method, setting, metric, float(v)) for c, v in zip(cases, values)]


def synthesis_scores(
    pairs: dict,
    real: dict,
    segmenter: nn.Module,
    *,
    generator: str,
    setting: str,
    classes: int,
    device,
) -> pd.DataFrame:
    """One generator's synthetic pairs scored against the real training slices (long form).

    Args:
        pairs: ``image`` (M, C, H, W) in [-1, 1], ``label`` (M, H, W), ``source_index`` (M,)
            (the real slice whose mask conditioned the sample; -1 for an unconditional
            generator, which draws its own masks) and ``sample`` (M,) in 0..K-1.
        real: the real training slices, ``image`` (N, C, H, W) and ``label`` (N, H, W).
        segmenter: the segmenter trained on the real slices, on ``device``.
        generator: the method column of the synthetic rows.
        setting: the setting column (e.g. ``"cv0"``).
        classes: foreground classes.
        device: where the segmenter runs.

    Returns:
        Columns ``case, method, setting, metric, value``:

        - ``structure_dice`` (%, :func:`structure_consistency`) of the pairs whose mask is not
          empty, case = the sample's row in ``pairs``; ``empty_mask_share`` (case ``all``),
          the share of pairs left out that way (an unconditional model's empty draws); and, as method ``"real"``, the same segmenter on the real slices that
          have a mask (case = their row in ``real``): the ceiling to compare with;
        - ``diversity`` (:func:`diversity`) per source mask with K >= 2 samples, case
          ``source<i>``; an unconditional generator's samples are grouped in consecutive
          blocks of K (``np.arange(M) // K``), as its sampler lays them out;
        - ``ms_ssim_to_source``, per sample of a conditional generator: MS-SSIM to the real
          slice whose mask it kept (none for ``source_index`` -1);
        - ``fsd``, case ``all``: Fréchet distance between :func:`segmenter_features` of the
          real slices with a mask and of all synthetic samples.
    """
    images = np.asarray(pairs["image"], dtype=np.float32)
    source = np.asarray(pairs["source_index"], dtype=np.int64)
    real_images = np.asarray(real["image"], dtype=np.float32)
    real_labels = np.asarray(real["label"])
    cases = np.arange(len(images))
    rows = []

    # Only pairs with a structure to keep: an unconditional model's empty masks would score
    # 100 by the both-empty convention and say nothing about structure.
    labels = np.asarray(pairs["label"])
    structured = np.flatnonzero(labels.reshape(len(labels), -1).any(axis=1))
    if len(structured):
        dice = structure_consistency(predict_slices(segmenter, images[structured], device), labels[structured], classes)
        rows += _rows(cases[structured], generator, setting, "structure_dice", dice)
    rows += _rows(["all"], generator, setting, "empty_mask_share", [1.0 - len(structured) / max(len(labels), 1)])
    masked = np.flatnonzero(real_labels.reshape(len(real_labels), -1).any(axis=1))
    if not len(masked):
        raise ValueError("no real slice has a mask: nothing to compare the synthetic pairs with")
    real_dice = structure_consistency(predict_slices(segmenter, real_images[masked], device), real_labels[masked], classes)
    rows += _rows(masked, "real", setting, "structure_dice", real_dice)

    conditional = source >= 0
    if conditional.any() and not conditional.all():
        raise ValueError(f"{generator}: source_index mixes conditional samples and -1")
    per_mask = int(np.max(pairs["sample"])) + 1 if len(images) else 0
    groups = source if conditional.all() else cases // max(per_mask, 1)
    spread = _diversity_by_group(images, groups)
    rows += _rows([f"source{g}" for g in spread], generator, setting, "diversity", spread.values())
    if conditional.any():
        to_source = ms_ssim(images[conditional], real_images[source[conditional]])
        rows += _rows(cases[conditional], generator, setting, "ms_ssim_to_source", to_source)

    fsd = frechet_distance(
        segmenter_features(segmenter, real_images[masked], device), segmenter_features(segmenter, images, device)
    )
    rows += _rows(["all"], generator, setting, "fsd", [fsd])
    return pd.DataFrame(rows, columns=COLUMNS)
