"""Predicting volumes slice by slice or by sliding window, and the long-form metric table."""

import numpy as np
import pytest
import torch
from torch import nn

from radsynth.segmentation.evaluate import METRICS, evaluate_segmentation, predict_volume
from radsynth.segmentation.networks import build_segmenter

torch.set_num_threads(1)


class Threshold(nn.Module):
    """Logits = 10 x the first image channels, so the prediction is ``image > 0`` per channel."""

    def __init__(self, classes=1):
        super().__init__()
        self.classes = classes

    def forward(self, x):
        logits = 10 * x[:, : self.classes]
        return logits, torch.tanh(logits)


def volume(shape=(20, 28, 5), seed=0):
    """(1, X, Y, Z) values away from 0 (so thresholds are exact) and its label."""
    rng = np.random.default_rng(seed)
    image = rng.choice([-0.7, -0.3, 0.4, 0.9], size=(1, *shape)).astype(np.float32)
    return image, (image[0] > 0).astype(np.uint8)


def test_predict_volume_2d_axes_and_padding():
    image, label = volume()  # 20 x 28 is not a multiple of 16: padded and cropped back
    pred = predict_volume(Threshold(), image, spatial_dims=2, batch_size=2, device="cpu")
    assert pred.dtype == np.uint8 and pred.shape == label.shape
    assert np.array_equal(pred, label)


def test_predict_volume_3d_sliding_window():
    image, label = volume((16, 16, 12))
    pred = predict_volume(
        Threshold(), image, spatial_dims=3, device="cpu", patch_size=(8, 8, 8), stride=(3, 3, 2)
    )
    assert np.array_equal(pred, label)


def test_window_overlap_from_a_stride():
    from radsynth.segmentation.evaluate import window_overlap

    # DTC's LA test: 112x112x80 windows every 18x18x4 voxels
    assert window_overlap((112, 112, 80), (18, 18, 4)) == pytest.approx((1 - 18.5 / 112, 1 - 18.5 / 112, 1 - 4.5 / 80))
    assert window_overlap((8, 8), (8, 2)) == pytest.approx((0.0, 1 - 2.5 / 8))
    assert window_overlap((8, 8), None) == (0.5, 0.5)
    with pytest.raises(ValueError, match="stride"):
        window_overlap((8, 8), (9, 2))


def test_predict_volume_several_classes():
    image = np.stack([volume(seed=1)[0][0], volume(seed=2)[0][0]])  # two class channels
    pred = predict_volume(Threshold(classes=2), image, device="cpu")
    best = image.argmax(0) + 1
    assert np.array_equal(pred, np.where(image.max(0) > 0, best, 0))


def test_predict_volume_real_network():
    net = build_segmenter(2, in_channels=2, channels=(8, 16), strides=(2,), features=8)
    pred = predict_volume(net, np.random.rand(2, 32, 24, 3).astype(np.float32), device="cpu")
    assert pred.shape == (32, 24, 3) and set(np.unique(pred)) <= {0, 1}
    assert net.training  # the caller's mode is restored


def drawn(regions, classes=1, shape=(16, 16, 1)):
    """An image whose channel c is positive exactly on the boxes of class c + 1 (so
    :class:`Threshold` predicts them) and the label map of those boxes."""
    image = np.full((classes, *shape), -0.5, np.float32)
    label = np.zeros(shape, np.uint8)
    for value, box in regions:
        image[(value - 1, *box)] = 0.5
        label[box] = value
    return image, label


# One slice (Z = 1): every object voxel lies on the surface (it has no neighbour along Z), so
# a surface distance is the distance from a voxel to the nearest voxel of the other mask.
SPACING = np.array([2.0, 1.0, 3.0])
REFERENCE = np.s_[2:6, 2:6, 0:1]  # 4 x 4 = 16 voxels
ONE_ROW_MORE = np.s_[2:7, 2:6, 0:1]  # 20 voxels: 4 extra ones 1 voxel (2 mm) away along X
ONE_COLUMN_LESS = np.s_[2:6, 2:5, 0:1]  # 12 voxels: misses 4, 1 voxel (1 mm) away along Y
# By hand (DTC convention: 95HD over the pooled distances of both directions, ASD from the
# prediction to the reference):
# one row more:    Dice 2*16/(20+16) = 8/9, Jaccard 16/20; prediction->reference: 16 zeros and
#                  4 ones, reference->prediction: 16 zeros; pooled 32 zeros + 4 ones, whose 95th
#                  percentile is 1 voxel = 2 mm; ASD = 4/20 voxel = 0.4 mm.
# one column less: Dice 2*12/(12+16) = 6/7, Jaccard 12/16; prediction->reference: 12 zeros,
#                  reference->prediction: 12 zeros and 4 ones; pooled 95th percentile 1 voxel
#                  = 1 mm; ASD 0.
ROW = {"dice": 8 / 9, "jaccard": 0.8, "hd95": 2.0, "asd": 0.4, "hd95_vox": 1.0, "asd_vox": 0.2}
COLUMN = {"dice": 6 / 7, "jaccard": 0.75, "hd95": 1.0, "asd": 0.0, "hd95_vox": 1.0, "asd_vox": 0.0}


def case(name, predicted, reference, classes=1):
    image, _ = drawn(predicted, classes)
    _, label = drawn(reference, classes)
    return {"name": name, "image": image, "label": label, "spacing": SPACING}


def test_long_form():
    cases = [case("case0", [(1, ONE_ROW_MORE)], [(1, REFERENCE)]),
             case("case1", [(1, ONE_COLUMN_LESS)], [(1, REFERENCE)])]
    frame, predictions = evaluate_segmentation(Threshold(), cases, "supervised", "labelled2", device="cpu")
    assert list(frame.columns) == ["case", "method", "setting", "metric", "value"]
    assert len(frame) == 2 * len(METRICS)
    assert (frame["method"] == "supervised").all() and (frame["setting"] == "labelled2").all()
    for name, expected in [("case0", ROW), ("case1", COLUMN)]:
        values = frame[frame["case"] == name].set_index("metric")["value"]
        assert set(values.index) == set(METRICS)
        for metric, value in expected.items():
            assert values[metric] == pytest.approx(value), (name, metric)
    assert sorted(predictions) == ["case0", "case1"]
    np.testing.assert_array_equal(predictions["case0"], drawn([(1, ONE_ROW_MORE)])[1])


def test_class_suffix():
    # Class 1 predicted one row too long, class 2 one column too short, class 3 missed.
    far, other = np.s_[9:13, 9:13, 0:1], np.s_[9:13, 9:12, 0:1]
    missed = np.s_[13:15, 1:3, 0:1]
    predicted = [(1, ONE_ROW_MORE), (2, other)]
    reference = [(1, REFERENCE), (2, far), (3, missed)]
    frame, _ = evaluate_segmentation(Threshold(classes=3), [case("c", predicted, reference, 3)], "dtc", "s",
                                     classes=(1, 2, 3), device="cpu")
    assert len(frame) == 4 * len(METRICS)  # per class, and the class mean without a suffix
    values = frame.set_index("metric")["value"]
    for metric in METRICS:
        assert values[f"{metric}_c1"] == pytest.approx(ROW[metric])
        assert values[f"{metric}_c2"] == pytest.approx(COLUMN[metric])
    assert values["dice_c3"] == 0 and values["jaccard_c3"] == 0 and np.isnan(values["hd95_c3"])
    # The mean over classes skips the NaN distances of the missed class, not its zero Dice.
    assert values["dice"] == pytest.approx((8 / 9 + 6 / 7 + 0) / 3)
    assert values["asd"] == pytest.approx((0.4 + 0.0) / 2)
    assert values["hd95_vox"] == pytest.approx(1.0)


def subjects(n=2):
    out = []
    for i in range(n):
        image, label = volume(seed=i)
        out.append(
            {"name": f"case{i}", "image": image, "label": label, "spacing": np.array([1.0, 1.0, 2.0])}
        )
    return out


def test_with_real_metrics():
    frame, predictions = evaluate_segmentation(Threshold(), subjects(1), "supervised", "all", device="cpu")
    values = frame.set_index("metric")["value"]
    assert values["dice"] == pytest.approx(1.0) and values["hd95"] == pytest.approx(0.0)


def test_largest_component_is_scored_beside_the_raw_prediction():
    image, label = volume((24, 24, 8), seed=3)
    image[:] = -0.5
    image[0, 4:12, 4:12, 2:6] = 0.5  # the object
    image[0, 18:20, 18:20, 3] = 0.5  # a speck the network "predicts" too
    label = np.zeros(label.shape, np.uint8)
    label[4:12, 4:12, 2:6] = 1
    case = [{"name": "c", "image": image, "label": label, "spacing": np.ones(3)}]
    frame, predictions = evaluate_segmentation(Threshold(), case, "dtc", "none-25-s0", device="cpu", lcc=True)
    values = frame.set_index("metric")["value"]
    assert values["dice"] < 1 and values["lcc_dice"] == 1.0 and values["lcc_hd95"] == 0.0
    assert predictions["c"].sum() == label.sum() + 4  # the saved prediction is the raw one
