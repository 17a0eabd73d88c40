"""Segmenting test volumes with a trained network and scoring them per case (long form)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from monai.inferers import sliding_window_inference

from radsynth.training.loop import autocast, pick_device

METRICS = ("dice", "jaccard", "hd95", "asd", "hd95_vox", "asd_vox")
EVALUATIONS = ("radsynth", "official")


def _probabilities(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Sigmoid foreground probabilities; a :class:`DualHeadNet` returns (seg, sdf), others seg."""
    with autocast(x.device):
        out = model(x)
    out = out[0] if isinstance(out, (tuple, list)) else out
    return torch.sigmoid(out.float())


def _to_label(prob: torch.Tensor) -> torch.Tensor:
    """(B, K, ...) probabilities -> (B, ...) classes: the most likely class above 0.5, else 0."""
    best, index = prob.max(dim=1)
    return torch.where(best > 0.5, index + 1, torch.zeros_like(index)).to(torch.uint8)


def window_overlap(roi: Sequence[int], stride: Sequence[int] | None) -> tuple[float, ...]:
    """MONAI's overlap fractions that make its window step exactly ``stride`` (0.5 without).

    MONAI steps by ``int(roi * (1 - overlap))``, which truncates: with ``1 - stride / roi`` the
    product can land just below ``stride`` (112 * (1 - (1 - 4/112)) = 3.99...: a step of 3).
    Aiming at ``stride + 0.5`` puts the product half a voxel away from both neighbours, far
    beyond float error, so the truncation gives ``stride``; a step of a whole window is overlap 0.
    """
    if stride is None:
        return tuple(0.5 for _ in roi)
    if len(stride) != len(roi) or any(not 0 < s <= r for s, r in zip(stride, roi)):
        raise ValueError(f"stride {tuple(stride)} must have one step in 1..window per axis of {tuple(roi)}")
    return tuple(0.0 if s == r else 1.0 - (s + 0.5) / r for s, r in zip(stride, roi))


def original_box(mask: np.ndarray | None) -> tuple[slice, ...]:
    """The bounding box of a foreground ``mask`` (the volume before preprocessing padded it to
    the common grid); everything when None or empty."""
    if mask is None or not np.any(mask):
        return (slice(None),) * (3 if mask is None else np.ndim(mask))
    return tuple(slice(int(a.min()), int(a.max()) + 1) for a in np.nonzero(mask))


def predict_volume(
    model: torch.nn.Module,
    volume: np.ndarray,
    spatial_dims: int = 2,
    batch_size: int = 32,
    device: str | torch.device | None = None,
    divisor: int = 16,
    patch_size: Sequence[int] | None = None,
    stride: Sequence[int] | None = None,
    pad_value: float | None = None,
) -> np.ndarray:
    """Segment one volume.

    Args:
        model: a segmenter (``forward`` returns logits or ``(logits, ...)``), sigmoid per class.
        volume: (C, X, Y, Z) float image.
        spatial_dims: 2: every slice along the last axis goes through the network; 3: MONAI
            sliding-window inference over the volume.
        batch_size: slices (2D) or windows (3D) per forward pass.
        device: "cpu", "cuda" or None (CUDA when present).
        divisor: 2D slices are padded (with the image minimum, i.e. background) to a multiple
            of this, as the U-Net's strides need, and cropped back.
        patch_size: 3D window size (e.g. DTC's 112x112x80); the whole volume when None.
        stride: 3D window step per axis (DTC LA: 18x18x4); None: half the window. Overlapping
            probabilities are averaged with equal weights, as DTC's test code does.
        pad_value: what pads a volume (or slice) smaller than the window: None = the image
            minimum (background); DTC pads with 0 (centred, and only where it is smaller).

    Returns:
        (X, Y, Z) uint8 classes (sigmoid > 0.5; with several classes the most likely one).
    """
    device = device if isinstance(device, torch.device) else pick_device(device or "auto")
    was_training = model.training
    model.eval()
    x = torch.as_tensor(np.ascontiguousarray(volume, dtype=np.float32))
    fill = float(x.min()) if pad_value is None else float(pad_value)
    with torch.inference_mode():
        if spatial_dims == 2:
            slices = x.permute(3, 0, 1, 2)  # (Z, C, X, Y)
            height, width = slices.shape[-2:]
            pad_h, pad_w = -height % divisor, -width % divisor
            slices = F.pad(slices, (0, pad_w, 0, pad_h), value=fill)
            parts = []
            for start in range(0, len(slices), batch_size):
                batch = slices[start : start + batch_size].to(device)
                parts.append(_to_label(_probabilities(model, batch))[:, :height, :width].cpu())
            out = torch.cat(parts).permute(1, 2, 0)  # (X, Y, Z)
        elif spatial_dims == 3:
            roi = tuple(patch_size) if patch_size is not None else tuple(x.shape[1:])
            prob = sliding_window_inference(
                x[None].to(device),
                roi_size=roi,
                sw_batch_size=batch_size,
                predictor=lambda patch: _probabilities(model, patch),
                overlap=window_overlap(roi, stride),
                mode="constant",
                padding_mode="constant",
                cval=fill,
            )
            out = _to_label(prob)[0].cpu()
        else:
            raise ValueError(f"spatial_dims must be 2 or 3, not {spatial_dims}")
    model.train(was_training)
    return out.numpy().astype(np.uint8)


def evaluate_segmentation(
    model: torch.nn.Module,
    subjects: list[dict],
    method: str,
    setting: str,
    classes: Sequence[int] = (1,),
    spatial_dims: int = 2,
    batch_size: int = 32,
    device: str | torch.device | None = None,
    patch_size: Sequence[int] | None = None,
    stride: Sequence[int] | None = None,
    convention: str = "dtc",
    lcc: bool = False,
    evaluation: str = "radsynth",
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Per-case segmentation metrics in long form, and the predicted label volumes.

    Args:
        model: the trained segmenter.
        subjects: dicts with ``name``, ``image`` (C, X, Y, Z), ``label`` (X, Y, Z) and
            ``spacing`` (3,) in mm.
        method: the method column (e.g. "supervised", "dtc").
        setting: the setting column (e.g. "labelled8", "synthetic0.5").
        classes: label values to score; with several, metric names get a ``_c<class>``
            suffix and the unsuffixed names hold the mean over the classes.
        spatial_dims, batch_size, device, patch_size, stride: see :func:`predict_volume`.
        convention: HD95 convention of ``segmentation_metrics``: "dtc" (medpy's pooled 95HD)
            or "monai" (max of the directed 95HDs); say which one a table uses.
        lcc: also score the prediction after keeping each class's largest connected
            component (:func:`radsynth.segmentation.postprocess.largest_component`), as metrics
            prefixed ``lcc_``.
        evaluation: "radsynth": the whole (preprocessed) grid, padded with the image minimum
            where smaller than the window; an empty prediction of a present class scores Dice 0
            and NaN distances, left out of means. "official" (DTC's ``test_all_case``): only
            the original volume (the bounding box of ``subject["mask"]`` when given; zeros
            elsewhere), padded with 0 only where smaller than the window, and an empty
            prediction scores 0 on every metric, counted in the means.

    Returns:
        A frame with columns ``case, method, setting, metric, value`` (metrics dice, jaccard,
        hd95, asd in mm and hd95_vox, asd_vox in voxels, as defined by
        ``radsynth.segmentation.metrics``), and subject name -> predicted uint8 volume
        (without post-processing).
    """
    # Imported here so predicting works without the metrics stage.
    from radsynth.segmentation.metrics import segmentation_metrics
    from radsynth.segmentation.postprocess import largest_component

    if evaluation not in EVALUATIONS:
        raise ValueError(f"evaluation must be one of {EVALUATIONS}, got {evaluation!r}")
    official = evaluation == "official"
    rows, predictions = [], {}
    for subject in subjects:
        image = np.asarray(subject["image"])
        box = original_box(subject.get("mask")) if official else tuple(slice(None) for _ in image.shape[1:])
        pred = np.zeros(image.shape[1:], np.uint8)  # outside the original volume: background
        pred[box] = predict_volume(
            model,
            image[(slice(None), *box)],
            spatial_dims,
            batch_size,
            device,
            patch_size=patch_size,
            stride=stride,
            pad_value=0.0 if official else None,
        )
        predictions[subject["name"]] = pred
        ref = np.asarray(subject["label"]).astype(np.uint8)
        spacing = np.asarray(subject["spacing"], float)
        variants = {"": pred}
        if lcc:
            variants["lcc_"] = largest_component(pred, classes)
        for prefix, labels in variants.items():
            per_class = segmentation_metrics(labels, ref, spacing, tuple(classes), convention=convention)
            if official:  # DTC: a prediction with no voxel scores (0, 0, 0, 0)
                for scores in per_class:
                    if not (labels == scores["class"]).any():
                        scores.update(dict.fromkeys(METRICS, 0.0))
            values = {}
            for scores in per_class:
                suffix = f"_c{scores['class']}" if len(classes) > 1 else ""
                values.update({prefix + metric + suffix: float(scores[metric]) for metric in METRICS})
            if len(classes) > 1:  # the class mean (NaN classes skipped) is what tables show
                for metric in METRICS:
                    values[prefix + metric] = float(np.nanmean([scores[metric] for scores in per_class]))
            rows += [
                {"case": subject["name"], "method": method, "setting": setting, "metric": k, "value": v}
                for k, v in values.items()
            ]
    return pd.DataFrame(rows, columns=["case", "method", "setting", "metric", "value"]), predictions
