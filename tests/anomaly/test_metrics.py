"""Anomaly maps and their scores on small hand-made maps, against values counted by hand."""

import itertools

import numpy as np
import pytest

from radsynth.anomaly.metrics import (
    anomaly_map,
    case_scores,
    dice,
    otsu_segmentation,
    pixel_auprc,
    pixel_auroc,
    slice_auroc,
)


def pair_auroc(scores, labels):
    """P(score of a positive > score of a negative), ties counting one half."""
    scores, labels = np.ravel(scores), np.ravel(labels) > 0
    pairs = list(itertools.product(scores[labels], scores[~labels]))
    return sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs) / len(pairs)


def precision_at_positives(scores, labels):
    """Mean over positives of the precision among the pixels ranked at or above it (no ties)."""
    order = np.argsort(-np.ravel(scores))
    hits = (np.ravel(labels) > 0)[order]
    return float(np.mean([hits[: k + 1].mean() for k in np.flatnonzero(hits)]))


def bimodal(seed=0, size=12):
    """A low mode (0.1-0.2) with a high-mode square (0.8-0.9) at rows/cols 3..6."""
    rng = np.random.default_rng(seed)
    heat = rng.uniform(0.1, 0.2, (size, size))
    blob = np.zeros((size, size), bool)
    blob[3:7, 3:7] = True
    heat[blob] = rng.uniform(0.8, 0.9, blob.sum())
    return heat, blob


def test_anomaly_map_sums_absolute_differences_over_channels():
    image = np.zeros((2, 2, 1, 2), np.float32)
    image[0, 0], image[0, 1] = [[1.0, -1.0]], [[0.5, 0.0]]
    image[1, 0], image[1, 1] = [[-0.25, 0.25]], [[1.0, 1.0]]
    counterfactual = np.zeros_like(image)
    counterfactual[0, 0], counterfactual[0, 1] = [[0.5, 0.0]], [[-0.5, 0.0]]
    counterfactual[1, 1] = [[1.0, -1.0]]
    expected = np.array([[[0.5 + 1.0, 1.0 + 0.0]], [[0.25 + 0.0, 0.25 + 2.0]]])
    heat = anomaly_map(image, counterfactual)
    assert heat.shape == (2, 1, 2)
    np.testing.assert_allclose(heat, expected, atol=1e-7)


def test_otsu_separates_two_levels():
    heat = np.full((2, 12, 12), 0.1)
    blob = np.zeros((2, 12, 12), bool)
    blob[0, 3:7, 3:7] = True
    blob[1, 5:, :4] = True
    heat[blob] = 0.8
    heat[1, 11, 0] = 0.9  # a graded blob stays one class
    segmentation = otsu_segmentation(heat)
    assert segmentation.dtype == bool
    np.testing.assert_array_equal(segmentation, blob)


def test_otsu_separates_the_two_modes():
    # scikit-image's threshold is the centre of a 256-bin histogram bin, so low-mode pixels in
    # the upper half of the threshold's bin (within 1/256 of the range of the low mode's top)
    # may come out segmented; every other low pixel must not, and every high pixel must.
    for seed in range(5):
        heat, blob = bimodal(seed)
        segmentation = otsu_segmentation(heat[None])[0]
        assert segmentation[blob].all()
        near_top = heat > heat[~blob].max() - (heat.max() - heat.min()) / 256
        assert not (segmentation & ~blob & ~near_top).any()
        assert (segmentation & ~blob).sum() <= 1


def test_a_constant_map_segments_nothing():
    heat, blob = bimodal()
    segmentation = otsu_segmentation(np.stack([np.full_like(heat, 0.3), heat]))
    assert not segmentation[0].any()
    np.testing.assert_array_equal(segmentation[1], blob)


def test_dice_by_hand():
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    a[0, :4] = True  # 4 pixels
    b[0, 1:4] = True
    b[1, :3] = True  # 6 pixels, 3 shared with a
    assert dice(a, b) == pytest.approx(2 * 3 / (4 + 6))
    assert dice(a, a) == 1.0
    assert dice(a, ~a) == 0.0
    assert dice(np.zeros((4, 4)), np.zeros((4, 4))) == 1.0  # both empty
    assert dice(np.zeros((4, 4)), b) == 0.0


def test_pixel_auroc_counts_pairs():
    heat = np.array([[0.9, 0.4, 0.4], [0.1, 0.7, 0.3], [0.4, 0.2, 0.8]])
    truth = np.array([[1, 0, 1], [0, 1, 0], [0, 0, 0]])
    # positives 0.9, 0.4, 0.7 against negatives 0.4, 0.1, 0.3, 0.4, 0.2, 0.8:
    # 0.9 beats 6; 0.4 beats 3 and ties 2; 0.7 beats 5 -> (6 + 4 + 5) / 18
    assert pair_auroc(heat, truth) == pytest.approx(15 / 18)
    assert pixel_auroc(heat, truth) == pytest.approx(15 / 18)
    assert pixel_auroc(-heat, truth) == pytest.approx(3 / 18)
    assert pixel_auroc(truth * 2.0, truth) == pytest.approx(1.0)


def test_pixel_auroc_random_maps():
    rng = np.random.default_rng(1)
    for _ in range(5):
        heat = rng.integers(0, 6, (8, 8)).astype(float)  # many ties
        truth = rng.random((8, 8)) < 0.3
        assert pixel_auroc(heat, truth) == pytest.approx(pair_auroc(heat, truth))


def test_pixel_auprc_is_precision_at_each_positive():
    heat = np.array([[0.9, 0.8, 0.7], [0.6, 0.5, 0.4], [0.3, 0.2, 0.1]])
    truth = np.array([[1, 0, 1], [0, 0, 1], [0, 0, 0]])
    # ranks 1, 3, 6: precisions 1/1, 2/3, 3/6
    assert precision_at_positives(heat, truth) == pytest.approx((1 + 2 / 3 + 1 / 2) / 3)
    assert pixel_auprc(heat, truth) == pytest.approx((1 + 2 / 3 + 1 / 2) / 3)
    rng = np.random.default_rng(2)
    for _ in range(5):
        heat = rng.permutation(64).reshape(8, 8) / 64.0  # no ties
        truth = rng.random((8, 8)) < 0.25
        assert pixel_auprc(heat, truth) == pytest.approx(precision_at_positives(heat, truth))


def test_slice_auroc_ranks_slice_maxima():
    heat = np.zeros((5, 3, 3))
    peaks = [0.2, 0.9, 0.5, 0.5, 0.1]
    for i, peak in enumerate(peaks):
        heat[i, i % 3, 1] = peak
    heat[4, :2] = 0.09  # a wide low map: the largest mean, the lowest peak
    labels = np.array([0, 1, 1, 0, 0])
    # positives 0.9, 0.5 against negatives 0.2, 0.5, 0.1: 3 + 2.5 of 6 pairs
    assert slice_auroc(heat, labels) == pytest.approx(5.5 / 6)
    assert slice_auroc(heat, labels) == pytest.approx(pair_auroc(peaks, labels))
    assert slice_auroc(heat, labels) != pytest.approx(pair_auroc(heat.mean(axis=(1, 2)), labels))


def test_case_scores_leave_healthy_slices_out():
    heat_hit, blob = bimodal(3)
    heat_half = heat_hit.copy()
    truth_half = np.zeros_like(blob)
    truth_half[3:7, 3:5] = True  # half of the segmented square, 8 of 16 pixels
    truth_half[9, 9] = True  # one lesion pixel in the low mode
    heat = np.stack([heat_hit, bimodal(4)[0], heat_half])
    truth = np.stack([blob, np.zeros_like(blob), truth_half])
    scores = case_scores(heat, truth)
    assert set(scores) == {"dice", "auroc", "auprc"}
    for values in scores.values():
        assert values.shape == (3,) and np.isnan(values[1])
    assert scores["dice"][0] == pytest.approx(1.0)
    assert scores["auroc"][0] == pytest.approx(1.0)
    assert scores["auprc"][0] == pytest.approx(1.0)
    assert scores["dice"][2] == pytest.approx(2 * 8 / (16 + 9))
    assert scores["auroc"][2] == pytest.approx(pair_auroc(heat_half, truth_half))
    assert scores["auprc"][2] == pytest.approx(precision_at_positives(heat_half, truth_half))
    assert scores["auroc"][2] < 1.0


def test_case_scores_of_a_constant_map():
    truth = np.zeros((1, 4, 4), bool)
    truth[0, :2, :2] = True
    scores = case_scores(np.full((1, 4, 4), 0.5), truth)
    assert scores["dice"][0] == 0.0  # nothing segmented
    assert scores["auroc"][0] == pytest.approx(0.5)  # every pair tied
