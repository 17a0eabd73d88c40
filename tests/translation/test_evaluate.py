"""Per-slice translation metrics and registration end-point errors in long form."""

import numpy as np
import pytest
import torch

from radsynth.training.loop import seed_everything
from radsynth.translation.evaluate import evaluate_translation
from radsynth.translation.modes import architecture_for
from radsynth.translation.registration import warp_image
from radsynth.translation.translator import Translator, build_networks


def packed_test(n=3, size=32, seed=0):
    rng = np.random.default_rng(seed)
    t1 = rng.uniform(-1, 1, (n, 1, size, size)).astype(np.float32)
    mask = np.zeros((n, size, size), np.uint8)
    mask[:, 8:24, 6:26] = 1
    mask[1, 8:12] = 0  # slice 1 has the least foreground
    return {
        "image": np.concatenate([t1, -t1, np.zeros_like(t1)], axis=1),
        "channels": np.array(["t1", "t2", "flair"]),
        "mask": mask,
        "subject": np.array(["s0", "s0", "s1"]),
        "slice": np.array([4, 5, 2]),
    }


def misaligned_test(n=2, size=32, seed=1):
    rng = np.random.default_rng(seed)
    mask = np.zeros((n, size, size), np.uint8)
    mask[:, 10:20, 10:20] = 1
    return {
        "source": rng.uniform(-1, 1, (n, 1, size, size)).astype(np.float32),
        "target": rng.uniform(-1, 1, (n, 1, size, size)).astype(np.float32),
        "field": rng.normal(0, 2, (n, 2, size, size)).astype(np.float32),
        "mask": mask,
        "subject": np.array(["s0", "s1"]),
        "slice": np.array([4, 2]),
    }


class Oracle:
    """Negates the source (the t1 -> t2 map of packed_test) and returns a fixed field."""

    def __init__(self, field=None):
        self.field = field
        self.has_registration = field is not None

    def translate(self, source, batch_size=16):
        return -source

    def register(self, moving, fixed, batch_size=16):
        return self.field

    def warp(self, image, field, batch_size=16):
        return warp_image(torch.from_numpy(image), torch.from_numpy(field)).numpy()


def test_perfect_translator_and_registration_score_perfectly():
    test, moved = packed_test(), misaligned_test()
    frame, examples = evaluate_translation(
        Oracle(moved["field"]), test, moved, "t1", "t2", "nc_r", "level5", examples=2
    )
    assert list(frame.columns) == ["case", "method", "setting", "metric", "value"]
    assert set(frame.method) == {"nc_r"} and set(frame.setting) == {"level5"}
    by_metric = frame.groupby("metric")
    assert by_metric.size().to_dict() == {"mae": 3, "psnr": 3, "ssim": 3, "epe": 2, "epe_identity": 2}
    assert list(frame[frame.metric == "mae"].case) == ["s0:4", "s0:5", "s1:2"]
    values = by_metric.value
    assert values.max()["mae"] == 0 and values.min()["ssim"] == pytest.approx(1.0)
    assert values.max()["epe"] == 0
    # The do-nothing baseline is the true field's mean magnitude over the mask.
    magnitude = np.sqrt((moved["field"] ** 2).sum(axis=1))
    expected = [magnitude[i][moved["mask"][i] > 0].mean() for i in range(2)]
    np.testing.assert_allclose(frame[frame.metric == "epe_identity"].value, expected, rtol=1e-5)

    assert list(examples["case"]) == ["s0:4", "s1:2"]  # the slices with most foreground
    assert examples["output"].shape == examples["target"].shape == (2, 32, 32)
    assert examples["field"].shape == examples["true_field"].shape == (2, 2, 32, 32)
    for key in ("moved_source", "moved_target", "moved_output", "registered"):
        assert examples[key].shape == (2, 32, 32)


def test_modes_without_registration_report_image_metrics_only():
    frame, examples = evaluate_translation(Oracle(), packed_test(), misaligned_test(), "t1", "t2", "pix2pix", "level0")
    assert set(frame.metric) == {"mae", "psnr", "ssim"}
    assert "field" not in examples


def test_unknown_channel_is_an_error():
    with pytest.raises(ValueError, match="t3"):
        evaluate_translation(Oracle(), packed_test(), None, "t3", "t2", "nc", "level0")


def test_with_a_real_translator():
    seed_everything(0)
    arch = architecture_for("nc_r", 2, 1, 1, {"filters": 4, "residual_blocks": 1}, {"filters": 4}, {"channels": [4, 8]})
    state = {name: net.state_dict() for name, net in build_networks(arch).items()}
    translator = Translator(arch, state, "cpu")
    frame, examples = evaluate_translation(translator, packed_test(), misaligned_test(), "t1", "t2", "nc_r", "level5")
    assert np.isfinite(frame.value).all()
    assert len(frame) == 3 * 3 + 2 * 2
    # An untrained R sits at the identity, so its error is about the do-nothing baseline.
    epe = frame[frame.metric == "epe"].value.to_numpy()
    identity = frame[frame.metric == "epe_identity"].value.to_numpy()
    np.testing.assert_allclose(epe, identity, atol=1e-2)


def test_volumes_are_cases_and_figures_get_their_middle_plane():
    rng = np.random.default_rng(3)
    shape = (16, 12, 10)
    t1 = rng.uniform(-1, 1, (2, 1, *shape)).astype(np.float32)
    mask = np.zeros((2, *shape), np.uint8)
    mask[:, 4:12, 3:9, 2:8] = 1
    test = {"image": np.concatenate([t1, -t1], 1), "channels": np.array(["t1", "t2"]), "mask": mask,
            "subject": np.array(["s0", "s1"])}
    field = rng.normal(0, 1, (2, 3, *shape)).astype(np.float32)
    field[:, :, :, :, 5] = np.arange(3)[None, :, None, None]  # the middle plane's components: 0, 1, 2
    moved = {"source": t1, "target": -t1, "field": field, "mask": mask, "subject": np.array(["s0", "s1"])}
    frame, examples = evaluate_translation(Oracle(field), test, moved, "t1", "t2", "nc_r", "level5", examples=2)
    assert frame.groupby("metric").size().to_dict() == {"mae": 2, "psnr": 2, "ssim": 2, "epe": 2, "epe_identity": 2}
    assert list(frame[frame.metric == "mae"].case) == ["s0", "s1"]
    assert frame[frame.metric == "epe"].value.max() == 0
    magnitude = np.sqrt((field**2).sum(axis=1))  # all three components count
    np.testing.assert_allclose(frame[frame.metric == "epe_identity"].value, [magnitude[i][mask[i] > 0].mean() for i in range(2)], rtol=1e-5)
    assert examples["output"].shape == examples["moved_source"].shape == (2, 16, 12)
    np.testing.assert_array_equal(examples["target"], -t1[:, 0, :, :, 5])
    assert examples["field"].shape == (2, 2, 16, 12)
    assert examples["field"][:, 1].min() == examples["field"][:, 1].max() == 1.0  # in-plane components kept
