"""Predicting volumes slice by slice or by sliding window, and the long-form metric table."""

import importlib.util
import sys
import types

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
    assert window_overlap((112, 112, 80), (18, 18, 4)) == pytest.approx((1 - 18 / 112, 1 - 18 / 112, 0.95))
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


def stand_in_metrics(pred, ref, spacing, classes, convention="dtc"):
    """Dice by hand, other metrics constant: the real module may not exist yet."""
    rows = []
    for c in classes:
        a, b = pred == c, ref == c
        dice = 2 * (a & b).sum() / max(a.sum() + b.sum(), 1)
        rows.append(
            {
                "class": c,
                "dice": dice,
                "jaccard": 0.5,
                "hd95": 1.0,
                "asd": 1.0,
                "hd95_vox": 1.0,
                "asd_vox": 1.0,
            }
        )
    return rows


@pytest.fixture
def metrics_stand_in(monkeypatch):
    module = types.ModuleType("radsynth.segmentation.metrics")
    module.segmentation_metrics = stand_in_metrics
    monkeypatch.setitem(sys.modules, "radsynth.segmentation.metrics", module)


def subjects(n=2):
    out = []
    for i in range(n):
        image, label = volume(seed=i)
        out.append(
            {"name": f"case{i}", "image": image, "label": label, "spacing": np.array([1.0, 1.0, 2.0])}
        )
    return out


def test_long_form(metrics_stand_in):
    frame, predictions = evaluate_segmentation(Threshold(), subjects(), "supervised", "labelled2", device="cpu")
    assert list(frame.columns) == ["case", "method", "setting", "metric", "value"]
    assert len(frame) == 2 * len(METRICS)
    assert set(frame["metric"]) == set(METRICS)
    assert (frame["method"] == "supervised").all() and (frame["setting"] == "labelled2").all()
    assert frame.query("metric == 'dice'")["value"].tolist() == [1.0, 1.0]
    assert sorted(predictions) == ["case0", "case1"]
    assert predictions["case0"].shape == subjects()[0]["label"].shape


def test_class_suffix(metrics_stand_in):
    frame, predictions = evaluate_segmentation(Threshold(), subjects(1), "dtc", "s", classes=(1, 2), device="cpu")
    assert {"dice_c1", "dice_c2", "hd95_vox_c2", "dice"} <= set(frame["metric"]) and len(frame) == 18
    values = frame.set_index("metric")["value"]
    assert values["asd"] == pytest.approx(np.nanmean([values["asd_c1"], values["asd_c2"]]))


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
