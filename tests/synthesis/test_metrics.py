"""Synthesis metrics: MS-SSIM scales, diversity, the Fréchet distance on known Gaussians, and
one generator's pairs scored with a (tiny, untrained) segmenter."""

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from radsynth.segmentation.networks import build_segmenter
from radsynth.synthesis.metrics import (
    diversity,
    frechet_distance,
    ms_ssim,
    predict_slices,
    scale_weights,
    segmenter_features,
    structure_consistency,
    synthesis_scores,
)


def textures(n, size=64, seed=0):
    rng = np.random.default_rng(seed)
    images = [gaussian_filter(rng.normal(size=(size, size)), 2.0) for _ in range(n)]
    return np.stack([np.clip(x / np.abs(x).max(), -1, 1) for x in images])[:, None].astype(np.float32)


def test_scale_weights_shrink_with_the_image_and_sum_to_one():
    assert len(scale_weights(256)) == 5 and len(scale_weights(64)) == 4 and len(scale_weights(40)) == 3
    assert len(scale_weights(8)) == 1
    assert sum(scale_weights(64)) == pytest.approx(1.0)  # 64 > 6 * 2**3: four scales with a 7-pixel window


def test_ms_ssim_is_one_for_identical_images_and_drops_with_noise():
    images = textures(3)
    assert ms_ssim(images, images) == pytest.approx(np.ones(3), abs=1e-5)
    rng = np.random.default_rng(1)
    slightly = np.clip(images + rng.normal(0, 0.05, images.shape), -1, 1)
    strongly = np.clip(images + rng.normal(0, 0.5, images.shape), -1, 1)
    assert (ms_ssim(images, strongly) < ms_ssim(images, slightly)).all()
    with pytest.raises(ValueError, match="one shape"):
        ms_ssim(images, images[:2])


def test_diversity_orders_copies_variants_and_unrelated_samples():
    base = textures(1)[0]
    rng = np.random.default_rng(2)
    copies = np.stack([base] * 4)
    variants = np.stack([np.clip(base + rng.normal(0, 0.2, base.shape), -1, 1) for _ in range(4)])
    unrelated = textures(4, seed=3)
    assert diversity(copies) == pytest.approx(0.0, abs=1e-5)
    assert 0 < diversity(variants) < diversity(unrelated) <= 1
    assert np.isnan(diversity(copies[:1]))


def test_frechet_distance_of_gaussians_matches_the_closed_form():
    rng = np.random.default_rng(4)
    real = rng.normal(0, 1, (4000, 3))
    shifted = rng.normal(0, 1, (4000, 3)) + np.array([2.0, 0.0, 0.0])
    # equal covariances: the distance is the squared mean shift, 4
    assert frechet_distance(real, shifted) == pytest.approx(4.0, abs=0.15)
    assert frechet_distance(real, real) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="feature sets"):
        frechet_distance(real, shifted[:, :2])


# --- scoring a generator's pairs with the real-data segmenter ---------------------------------


def tiny_segmenter(classes=1, backbone="unet"):
    torch.manual_seed(0)
    if backbone == "vnet":
        return build_segmenter(2, 1, classes, features=4, backbone="vnet").eval()
    return build_segmenter(2, 1, classes, channels=(4, 8, 16), strides=(2, 2), features=4, backbone=backbone).eval()


def test_structure_consistency_on_hand_made_masks():
    square = np.zeros((1, 8, 8), np.uint8)
    square[0, 2:6, 2:6] = 1
    elsewhere = np.zeros_like(square)
    elsewhere[0, 6:8, 6:8] = 1
    empty = np.zeros_like(square)
    assert structure_consistency(square, square, 1) == pytest.approx([100.0])
    assert structure_consistency(elsewhere, square, 1) == pytest.approx([0.0])
    assert structure_consistency(empty, empty, 1) == pytest.approx([100.0])  # nothing drawn, nothing found
    assert structure_consistency(empty, square, 1) == pytest.approx([0.0])
    half = square.copy()
    half[0, 2:6, 4:6] = 0  # 8 of the 16 pixels: Dice 2 * 8 / 24
    assert structure_consistency(half, square, 1) == pytest.approx([200 / 3])
    # two classes: class 1 perfect, class 2 missed -> mean of 100 and 0; a class absent from
    # both masks does not count
    two = square.copy()
    two[0, 0, 0:2] = 2
    assert structure_consistency(square, two, 2) == pytest.approx([50.0])
    assert structure_consistency(two, two, 3) == pytest.approx([100.0])
    batch = structure_consistency(np.concatenate([square, empty]), np.concatenate([square, square]), 1)
    assert batch.shape == (2,) and batch == pytest.approx([100.0, 0.0])
    with pytest.raises(ValueError, match="differ in shape"):
        structure_consistency(square, square[:, :4], 1)


def test_predict_slices_follows_the_evaluation_convention():
    model = tiny_segmenter(classes=2)
    images = np.random.default_rng(0).uniform(-1, 1, (5, 1, 24, 24)).astype(np.float32)  # padded to 32
    labels = predict_slices(model, images, "cpu", batch_size=2)
    assert labels.shape == (5, 24, 24) and labels.dtype == np.uint8
    # sigmoid per class: the most likely class above 0.5, else background
    with torch.no_grad():
        padded = torch.nn.functional.pad(torch.as_tensor(images), (0, 8, 0, 8), value=float(images.min()))
        prob = torch.sigmoid(model(padded)[0])[..., :24, :24]
    best, index = prob.max(dim=1)
    assert np.array_equal(labels, torch.where(best > 0.5, index + 1, 0).numpy())
    assert predict_slices(model, images[:0], "cpu").shape == (0, 24, 24)


@pytest.mark.parametrize(("backbone", "width"), [("unet", 16), ("attention_unet", 16), ("vnet", 256)])
def test_segmenter_features_pool_the_deepest_encoder_stage(backbone, width):
    model = tiny_segmenter(backbone=backbone)
    images = textures(3, size=32)
    features = segmenter_features(model, images, "cpu", batch_size=2)
    assert features.shape == (3, width) and np.isfinite(features).all()
    assert np.allclose(segmenter_features(model, images[::-1], "cpu"), features[::-1], atol=1e-5)
    assert not model.training and not any(m._forward_hooks for m in model.modules())


def _real_and_pairs(source_index, per_mask):
    rng = np.random.default_rng(5)
    real = {"image": textures(4, size=32), "label": np.zeros((4, 32, 32), np.uint8)}
    real["label"][:3, 8:20, 8:20] = 1  # slice 3 has no mask
    if source_index is None:  # unconditional: its own masks, samples in blocks of K
        m = 6
        source = np.full(m, -1, np.int64)
        labels = real["label"][np.arange(m) % 3]
    else:
        source = np.repeat(np.asarray(source_index, np.int64), per_mask)
        labels = real["label"][source]
        m = len(source)
    images = np.clip(real["image"][np.maximum(source, 0) % 4] + rng.normal(0, 0.1, (m, 1, 32, 32)), -1, 1)
    pairs = {"image": images.astype(np.float32), "label": labels, "source_index": source,
             "sample": np.tile(np.arange(per_mask, dtype=np.int64), m // per_mask)}
    return real, pairs


def test_synthesis_scores_of_a_conditional_generator():
    real, pairs = _real_and_pairs([0, 2, 3], per_mask=2)
    model = tiny_segmenter()
    scores = synthesis_scores(pairs, real, model, generator="gan", setting="cv1", classes=1, device="cpu")
    assert list(scores.columns) == ["case", "method", "setting", "metric", "value"]
    assert set(scores["setting"]) == {"cv1"}
    cases = scores.groupby(["method", "metric"])["case"].apply(list).to_dict()
    structured = [i for i in range(6) if pairs["label"][i].any()]  # empty masks say nothing on structure
    assert cases[("gan", "structure_dice")] == [str(i) for i in structured] and len(structured) < 6
    assert cases[("gan", "ms_ssim_to_source")] == [str(i) for i in range(6)]
    assert cases[("gan", "diversity")] == ["source0", "source2", "source3"]
    assert cases[("gan", "fsd")] == ["all"]
    assert cases[("real", "structure_dice")] == ["0", "1", "2"]  # the slices with a mask
    value = scores.set_index(["method", "metric", "case"])["value"].sort_index()
    expected = structure_consistency(predict_slices(model, pairs["image"][structured], "cpu"), pairs["label"][structured], 1)
    assert value.loc["gan", "structure_dice"].loc[[str(i) for i in structured]].to_numpy() == pytest.approx(expected)
    assert value.loc[("gan", "empty_mask_share", "all")] == pytest.approx(1 - len(structured) / 6)
    to_source = ms_ssim(pairs["image"], real["image"][pairs["source_index"]])
    assert value.loc["gan", "ms_ssim_to_source"].loc[[str(i) for i in range(6)]].to_numpy() == pytest.approx(to_source, abs=1e-6)
    assert value.loc["gan", "diversity", "source2"] == pytest.approx(diversity(pairs["image"][2:4]), abs=1e-6)
    assert value.loc["gan", "fsd", "all"] >= 0


def test_synthesis_scores_of_an_unconditional_generator():
    real, pairs = _real_and_pairs(None, per_mask=3)
    scores = synthesis_scores(pairs, real, tiny_segmenter(), generator="ddpm", setting="cv0", classes=1, device="cpu")
    metrics = scores.groupby("method")["metric"].apply(set).to_dict()
    assert metrics["ddpm"] >= {"diversity", "fsd", "empty_mask_share"} and metrics["real"] == {"structure_dice"}
    diversities = scores[scores["metric"] == "diversity"].set_index("case")["value"]
    assert list(diversities.index) == ["source0", "source1"]  # rows 0-2 and 3-5
    assert diversities["source1"] == pytest.approx(diversity(pairs["image"][3:6]), abs=1e-6)


def test_synthesis_scores_rejects_mixed_sources_and_maskless_real_slices():
    real, pairs = _real_and_pairs([0, 1], per_mask=2)
    model = tiny_segmenter()
    mixed = {**pairs, "source_index": np.array([0, 0, -1, -1])}
    with pytest.raises(ValueError, match="mixes"):
        synthesis_scores(mixed, real, model, generator="gan", setting="cv0", classes=1, device="cpu")
    empty = {**real, "label": np.zeros_like(real["label"])}
    with pytest.raises(ValueError, match="no real slice"):
        synthesis_scores(pairs, empty, model, generator="gan", setting="cv0", classes=1, device="cpu")


def test_synthesis_scores_without_any_structure_report_only_the_empty_share():
    model = tiny_segmenter()
    images = np.random.default_rng(0).uniform(-1, 1, (4, 1, 16, 16)).astype(np.float32)
    pairs = {"image": images, "label": np.zeros((4, 16, 16), np.uint8), "source_index": np.full(4, -1), "sample": np.tile([0, 1], 2)}
    real = {"image": images, "label": np.pad(np.ones((4, 4, 4), np.uint8), ((0, 0), (6, 6), (6, 6)))}
    scores = synthesis_scores(pairs, real, model, generator="ddpm", setting="cv0", classes=1, device="cpu")
    ddpm = scores[scores["method"] == "ddpm"]
    assert "structure_dice" not in set(ddpm["metric"])
    assert ddpm.loc[ddpm["metric"] == "empty_mask_share", "value"].item() == 1.0
