"""EMIT-Diff's downstream use of synthetic pairs: every real slice of a batch comes with one of
its own synthetic images, both go through the segmenter, and the loss reads their predictions
and labels merged through a random block mask (DiffBoost ``segmentation/engine/network.py``,
``aug_training_step``: 64-px blocks, each real with probability 0.6).

The images are not merged: each is segmented whole, and the mask picks, block by block, whose
prediction and label the loss sees. Synthetic images keep their source's mask, so the merged
label is the real label wherever the synthetic comes from that slice.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from radsynth.training.loop import batch_indices, to_device


def partner_table(source_row: np.ndarray, real_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each real row, the synthetic samples generated from it.

    Args:
        source_row: int (M,) the training row each synthetic sample was conditioned on (-1 for
            an unconditional generator's samples).
        real_rows: int (R,) the training rows the real batches draw from, in their order.

    Returns:
        ``table`` int64 (R, K) synthetic indices (padded with -1) and ``counts`` int64 (R,).
    """
    source_row = np.asarray(source_row, dtype=np.int64)
    own = [np.flatnonzero(source_row == row) for row in np.asarray(real_rows)]
    counts = np.array([len(indices) for indices in own], dtype=np.int64)
    table = np.full((len(own), max(1, counts.max(initial=0))), -1, dtype=np.int64)
    for i, indices in enumerate(own):
        table[i, : len(indices)] = indices
    return table, counts


def block_mask(batch: int, shape: tuple[int, int], patch: int, real_fraction: float, generator: torch.Generator):
    """A bool (B, 1, H, W) mask of square blocks, each True (real) with probability ``real_fraction``.

    The grid has ``H // patch`` x ``W // patch`` cells (at least one), stretched over the image
    by nearest-neighbour upsampling as the official code does: ``patch``-px blocks when it
    divides the image.
    """
    height, width = shape
    cells = (batch, 1, max(1, height // patch), max(1, width // patch))
    real = (torch.rand(cells, generator=generator) < real_fraction).float()
    return F.interpolate(real, size=(height, width), mode="nearest").bool()


class PatchMixBatches:
    """Batches of B real slices followed by their B synthetic partners, and the merge of the
    segmenter's outputs on them.

    A real slice is paired with a uniformly drawn synthetic sample of its own (subject- and
    slice-matched); with an unconditional generator (every ``source_row`` -1), with any synthetic
    sample; a slice without one (no labelled structure: no sample was conditioned on it) with
    itself, so its loss reads the real slice only.

    Args:
        image, label, sdf: the real rows on the device.
        real_rows: their training-row numbers (what ``synthetic["source_row"]`` refers to).
        synthetic: ``image``, ``label``, ``source_row`` arrays.
        batch_size: B, real slices per batch.
        patch: block size in pixels (EMIT-Diff: 64).
        real_fraction: probability of a block showing the real slice (EMIT-Diff: 0.6).
    """

    def __init__(self, image, label, sdf, real_rows, synthetic, batch_size, patch=64, real_fraction=0.6):
        device = image.device
        self.image, self.label, self.sdf = image, label, sdf
        self.batch_size, self.patch, self.real_fraction = int(batch_size), int(patch), float(real_fraction)
        self.synthetic_image = to_device(synthetic["image"], device)
        self.synthetic_label = to_device(synthetic["label"], device, torch.uint8)
        source_row = np.asarray(synthetic["source_row"])
        self.unconditional = bool((source_row < 0).all())
        table, counts = partner_table(source_row, real_rows)
        self.table, self.counts = torch.as_tensor(table), torch.as_tensor(counts)
        self.has_sdf = torch.cat([torch.ones(batch_size, dtype=torch.bool), torch.zeros(batch_size, dtype=torch.bool)])
        self.has_sdf = self.has_sdf.to(device)

    @classmethod
    def for_training(cls, method: str, image, label, sdf, real_rows, synthetic, batch_size, options: dict):
        """The batches of a supervised run with synthetic pairs; ``options``: patch, real_fraction."""
        if method != "supervised" or synthetic is None or "source_row" not in synthetic:
            raise ValueError(
                "patch mixing needs the supervised method and synthetic pairs that name their source row "
                f"(got method {method!r})"
            )
        return cls(image, label, sdf, real_rows, synthetic, batch_size, **options)

    def partners(self, rows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Synthetic index of each real row's partner (-1: the row itself)."""
        if self.unconditional:
            return batch_indices(len(self.synthetic_image), len(rows), generator)
        counts = self.counts[rows]
        pick = (torch.rand(len(rows), generator=generator) * counts).long().clamp(max=(counts - 1).clamp(min=0))
        return torch.where(counts > 0, self.table[rows, pick], torch.full_like(rows, -1))

    def draw(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(image, label, sdf)`` of 2B rows: the real slices, then their partners (zero SDFs)."""
        rows = batch_indices(len(self.image), self.batch_size, generator)
        partner = self.partners(rows, generator).to(self.image.device)
        rows = rows.to(self.image.device)
        own = partner < 0
        safe = partner.clamp(min=0)
        partner_image = torch.where(own.view(-1, 1, 1, 1), self.image[rows], self.synthetic_image[safe])
        partner_label = torch.where(own.view(-1, 1, 1), self.label[rows], self.synthetic_label[safe])
        image = torch.cat([self.image[rows], partner_image])
        label = torch.cat([self.label[rows], partner_label])
        sdf = torch.cat([self.sdf[rows], torch.zeros_like(self.sdf[rows])])
        return image, label, sdf

    def merge(self, prediction: torch.Tensor, label: torch.Tensor, generator: torch.Generator):
        """Predictions (B, K, H, W) and labels (B, H, W) of the 2B rows merged block by block."""
        real = block_mask(self.batch_size, tuple(label.shape[-2:]), self.patch, self.real_fraction, generator)
        real = real.to(prediction.device)
        b = self.batch_size
        merged_prediction = torch.where(real, prediction[:b], prediction[b : 2 * b])
        merged_label = torch.where(real[:, 0], label[:b], label[b : 2 * b])
        return merged_prediction, merged_label
