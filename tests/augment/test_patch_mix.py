"""EMIT-Diff's mixing of each real slice with its own synthetic image through a block mask."""

import numpy as np
import pytest
import torch

from radsynth.augment.patch_mix import PatchMixBatches, block_mask, partner_table
from radsynth.segmentation.trainer import train_segmentation


def test_block_mask_is_64_px_blocks_real_with_probability_0_6():
    generator = torch.Generator().manual_seed(0)
    mask = block_mask(2000, (128, 192), 64, 0.6, generator)
    assert mask.shape == (2000, 1, 128, 192)
    blocks = mask[:, 0].reshape(2000, 2, 64, 3, 64)
    # Each 64 x 64 block is one value.
    assert (blocks.all(dim=(2, 4)) | ~blocks.any(dim=(2, 4))).all()
    # 12000 blocks, each real with p = 0.6: the fraction to about sqrt(0.24 / 12000) = 0.0045.
    assert blocks[:, :, 0, :, 0].float().mean().item() == pytest.approx(0.6, abs=0.02)


def test_partner_table_lists_each_real_rows_own_samples():
    table, counts = partner_table(np.array([4, 2, 4, 2, 4, -1]), np.array([2, 3, 4]))
    np.testing.assert_array_equal(counts, [2, 0, 3])
    np.testing.assert_array_equal(table, [[1, 3, -1], [-1, -1, -1], [0, 2, 4]])


def pairs(size=128):
    """Real rows 0..3 (row i filled with i, label i % 2 + 1 in its left half) and three synthetic
    samples per real row 0..2 (none of row 3), sample k of row i filled with 10 (i + 1) + k."""
    image = torch.arange(4, dtype=torch.float32).view(4, 1, 1, 1).expand(4, 1, size, size).clone()
    label = torch.zeros(4, size, size, dtype=torch.uint8)
    for i in range(4):
        label[i, :, : size // 2] = i % 2 + 1
    source_row = np.repeat([0, 1, 2], 3)
    sample = np.tile([0, 1, 2], 3)
    synthetic = {
        "image": (10 * (source_row + 1) + sample).astype(np.float32)[:, None, None, None] * np.ones((1, 1, size, size), np.float32),
        "label": label.numpy()[source_row],
        "source_row": source_row,
    }
    return image, label, torch.zeros(4, 1, size, size), synthetic


def test_each_real_slice_is_merged_with_its_own_synthetic_in_blocks():
    image, label, sdf, synthetic = pairs()
    batches = PatchMixBatches(image, label, sdf, np.arange(4), synthetic, batch_size=4, patch=64, real_fraction=0.6)
    generator = torch.Generator().manual_seed(0)
    real_blocks = []
    for _ in range(100):
        drawn, drawn_label, drawn_sdf = batches.draw(generator)
        assert drawn.shape == (8, 1, 128, 128) and drawn_sdf.shape == (8, 1, 128, 128)
        real, partner = drawn[:4, 0, 0, 0], drawn[4:, 0, 0, 0]
        # Subject-matched: row i's partner is one of row i's own samples; row 3 has none and
        # is paired with itself.
        own = torch.where(real < 3, torch.floor(partner / 10) - 1, partner)
        assert torch.equal(own, real)
        assert torch.equal(drawn_label[4:], drawn_label[:4])  # synthetic images keep the real mask
        merged, merged_label = batches.merge(drawn, drawn_label, generator)
        assert merged.shape == (4, 1, 128, 128) and merged_label.shape == (4, 128, 128)
        blocks = merged[:, 0].reshape(4, 2, 64, 2, 64)
        first = blocks[:, :, :1, :, :1]
        assert (blocks == first).all()  # every 64-px block from one of the two images
        is_real = first[:, :, 0, :, 0] == real.view(4, 1, 1)
        assert (is_real | (first[:, :, 0, :, 0] == partner.view(4, 1, 1))).all()
        real_blocks.append(is_real[real < 3].float().mean().item())  # row 3 is real either way
        assert torch.equal(merged_label, drawn_label[:4])
    # 100 draws x 12 blocks of rows with partners, each real with p = 0.6: to about 0.014.
    assert np.mean(real_blocks) == pytest.approx(0.6, abs=0.05)


def test_unconditional_samples_pair_with_any_and_labels_follow_the_blocks():
    image, label, sdf, synthetic = pairs()
    synthetic = {**synthetic, "source_row": np.full(9, -1), "label": np.zeros((9, 128, 128), np.uint8)}
    batches = PatchMixBatches(image, label, sdf, np.arange(4), synthetic, batch_size=4, patch=64, real_fraction=0.5)
    generator = torch.Generator().manual_seed(1)
    drawn, drawn_label, _ = batches.draw(generator)
    assert (drawn[4:] >= 10).all()  # every partner synthetic
    merged, merged_label = batches.merge(drawn, drawn_label, generator)
    from_real = merged[:, 0] < 10
    assert torch.equal(merged_label, torch.where(from_real, drawn_label[:4], torch.zeros_like(merged_label)))


def test_training_with_patch_mixing_runs_and_is_refused_for_other_methods():
    rng = np.random.default_rng(0)
    train = {
        "image": rng.normal(size=(4, 1, 32, 32)).astype(np.float32),
        "label": (rng.random((4, 32, 32)) > 0.7).astype(np.uint8),
        "sdf": np.zeros((4, 1, 32, 32), np.float32),
        "subject": np.array(["a", "a", "b", "b"]),
    }
    synthetic = {"image": train["image"][[0, 1, 2, 3]] + 0.1, "label": train["label"], "source_row": np.arange(4)}
    options = dict(synthetic=synthetic, iterations=2, batch_size=2, device="cpu", network={"channels": [8, 16], "strides": [2]},
                   patch_mix={"patch": 16, "real_fraction": 0.6})
    result = train_segmentation(train, **options)
    assert len(result.history) >= 1 and np.isfinite(result.history["loss"]).all()
    with pytest.raises(ValueError, match="patch mixing needs the supervised method"):
        train_segmentation(train, method="supervised_sdf", **options)
