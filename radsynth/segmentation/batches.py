"""Segmentation batches drawn from arrays already on the device: labelled, synthetic and
unlabelled pools, whole slices or random patches of volumes (DTC's ``RandomCrop``), and
DTC's random 90-degree rotation + flip.

Patches stay inside each volume's box (the bounding box of its packed ``mask``: the image
before padding to the common shape), as DTC crops from the unpadded volume; a box smaller
than the patch is covered whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from radsynth.training.loop import batch_indices, to_device


def mask_boxes(mask: np.ndarray) -> np.ndarray:
    """(N, D, 2) [start, stop) of each sample's non-zero region; the whole extent if empty."""
    mask = np.asarray(mask)
    boxes = np.zeros((len(mask), mask.ndim - 1, 2), np.int64)
    for i, sample in enumerate(mask):
        for axis in range(sample.ndim):
            other = tuple(a for a in range(sample.ndim) if a != axis)
            present = np.flatnonzero(sample.any(axis=other)) if sample.any() else np.array([0, sample.shape[axis] - 1])
            boxes[i, axis] = present[0], present[-1] + 1
    return boxes


def patch_offsets(
    boxes: torch.Tensor, shape: Sequence[int], patch: Sequence[int], generator: torch.Generator
) -> torch.Tensor:
    """Random patch corners (B, D): inside each box when it is larger than the patch,
    covering it when smaller, always inside the array (``shape`` >= ``patch``)."""
    start, stop = boxes[..., 0], boxes[..., 1]
    size = torch.as_tensor(patch)
    low = torch.minimum(start, stop - size).clamp(min=0)
    high = torch.maximum(start, stop - size).clamp(max=torch.as_tensor(shape) - size)
    high = torch.maximum(high, low)
    return low + (torch.rand(low.shape, generator=generator) * (high - low + 1)).long().clamp(max=high - low)


def crop(array: torch.Tensor, index: torch.Tensor, corners: torch.Tensor, patch: Sequence[int]) -> torch.Tensor:
    """``array[index[b], ..., corner:corner + patch]`` for every sample b, stacked."""
    spatial = len(patch)
    parts = []
    for i, corner in zip(index.tolist(), corners.tolist()):
        window = tuple(slice(c, c + p) for c, p in zip(corner, patch))
        parts.append(array[i][(Ellipsis, *window)] if array.ndim > spatial + 1 else array[i][window])
    return torch.stack(parts)


def pad_to(array: torch.Tensor, patch: Sequence[int], value: float) -> torch.Tensor:
    """Pad the trailing spatial axes of (N, [C,] *spatial) up to at least ``patch`` (at the end)."""
    spatial = array.shape[-len(patch) :]
    pads = [max(0, p - s) for p, s in zip(patch, spatial)]
    if not any(pads):
        return array
    flat = [x for pad in reversed(pads) for x in (0, pad)]
    return F.pad(array.float(), flat, value=value).to(array.dtype)


def rot_flip(
    image: torch.Tensor, label: torch.Tensor, sdf: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """DTC's ``RandomRotFlip`` per sample: rotate the first two spatial axes by k * 90 degrees
    (k in 0..3; only 0 or 2 when they differ in size) and flip along one of them."""
    square = image.shape[2] == image.shape[3]
    images, labels, sdfs = [], [], []
    for x, y, s in zip(image, label, sdf):
        k = int(torch.randint(4 if square else 2, (1,), generator=generator)) * (1 if square else 2)
        axis = int(torch.randint(2, (1,), generator=generator))
        x, s = torch.rot90(x, k, (1, 2)).flip(axis + 1), torch.rot90(s, k, (1, 2)).flip(axis + 1)
        y = torch.rot90(y, k, (0, 1)).flip(axis)
        images.append(x), labels.append(y), sdfs.append(s)
    return torch.stack(images), torch.stack(labels), torch.stack(sdfs)


@dataclass
class Pool:
    """Rows a batch draws ``count`` of. ``label``/``sdf`` are None where the pool has none
    (unlabelled rows; synthetic pairs without SDFs): zero-filled stand-ins take their place so
    the batch is augmented as one. ``boxes`` (N, D, 2) enable patch crops."""

    image: torch.Tensor
    label: torch.Tensor | None
    sdf: torch.Tensor | None
    count: int
    boxes: torch.Tensor | None = None

    def draw(self, generator: torch.Generator, patch: Sequence[int] | None, classes: int):
        index = batch_indices(len(self.image), self.count, generator).to(self.image.device)
        shape = tuple(patch) if patch is not None else tuple(self.image.shape[2:])
        if patch is None:
            pick = lambda array: array[index]  # noqa: E731
        else:
            if self.boxes is None:  # no mask: the whole extent
                full = torch.tensor([[0, n] for n in self.image.shape[2:]])
                self.boxes = full.expand(len(self.image), -1, -1)
            boxes = self.boxes[index.cpu()]
            corners = patch_offsets(boxes, self.image.shape[2:], patch, generator)
            pick = lambda array: crop(array, index, corners, patch)  # noqa: E731
        image = pick(self.image)
        zeros = image.new_zeros
        label = pick(self.label) if self.label is not None else zeros((self.count, *shape), dtype=torch.uint8)
        sdf = pick(self.sdf) if self.sdf is not None else zeros((self.count, classes, *shape))
        return image, label, sdf


class Batches:
    """Training batches: ``labelled`` rows first (the supervised loss reads those), then
    synthetic and unlabelled rows.

    Args:
        image, label, sdf: labelled rows on the device.
        unlabelled: unlabelled images on the device, or None.
        n_unlabelled: unlabelled rows per batch.
        synthetic: ``image``, ``label`` (and optional ``sdf``) arrays, or None.
        n_synthetic: synthetic rows per batch (taken from ``batch_size``).
        batch_size: labelled (+ synthetic) rows per batch.
        patch: patch size to crop (None: whole samples).
        boxes, unlabelled_boxes: (N, D, 2) crop regions of the labelled / unlabelled rows.
    """

    def __init__(
        self, image, label, sdf, unlabelled, n_unlabelled, synthetic, n_synthetic, batch_size,
        patch=None, boxes=None, unlabelled_boxes=None,
    ):
        device = image.device
        self.patch = None if patch is None else tuple(int(p) for p in patch)
        self.classes = sdf.shape[1]
        self.pools = [Pool(image, label, sdf, batch_size - n_synthetic, boxes)]
        if n_synthetic:
            syn_sdf = to_device(synthetic["sdf"], device) if "sdf" in synthetic else None
            syn_label = to_device(synthetic["label"], device, torch.uint8)
            self.pools.append(Pool(to_device(synthetic["image"], device), syn_label, syn_sdf, n_synthetic))
        if n_unlabelled:
            self.pools.append(Pool(unlabelled, None, None, n_unlabelled, unlabelled_boxes))
        self.pools = [p for p in self.pools if p.count > 0]
        self.has_sdf = torch.cat([torch.full((p.count,), p.sdf is not None, device=device) for p in self.pools])

    def draw(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(image, label, sdf)`` of one batch."""
        image, label, sdf = zip(*(p.draw(generator, self.patch, self.classes) for p in self.pools))
        return torch.cat(image), torch.cat(label), torch.cat(sdf)
