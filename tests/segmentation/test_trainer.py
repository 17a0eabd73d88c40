"""Segmentation training: supervised and DTC steps, the unlabelled-label firewall, DTC terms."""

import math

import numpy as np
import pytest
import torch

from radsynth.io import save_checkpoint
from radsynth.segmentation.networks import build_segmenter
from radsynth.segmentation.trainer import (
    consistency_weight,
    dtc_losses,
    load_segmenter,
    one_hot_foreground,
    train_segmentation,
)

torch.set_num_threads(1)
NETWORK = dict(channels=(8, 16), strides=(2,), res_units=1, features=8)
LABELLED = ["s0", "s1"]


@pytest.fixture
def packed():
    """24 slices of 4 subjects, 32x32: a bright square and its label, a stand-in SDF."""
    rng = np.random.default_rng(0)
    label = np.zeros((24, 32, 32), np.uint8)
    for i in range(24):
        r, c = rng.integers(4, 18, size=2)
        label[i, r : r + 10, c : c + 10] = 1
    image = np.where(label[:, None] == 1, 0.5, -0.5).astype(np.float32) + rng.normal(
        0, 0.1, (24, 1, 32, 32)
    ).astype(np.float32)
    sdf = np.where(label[:, None] == 1, -0.5, 0.5).astype(np.float32)
    subject = np.array([f"s{i % 4}" for i in range(24)])
    return {"image": image, "label": label, "sdf": sdf, "subject": subject}


def run(data, method="supervised", **overrides):
    args = dict(
        method=method,
        labelled_subjects=LABELLED,
        augmentation="none",
        synthetic=None,
        synthetic_fraction=0.0,
        network=NETWORK,
        loss="dice_ce",
        lr=1e-2,
        iterations=3,
        batch_size=2,
        unlabelled_batch_size=2 if method in ("dtc", "mean_teacher") else 0,
        dtc={"sdf_weight": 0.3, "sharpness": 1500, "consistency": 1.0},
        seed=0,
        device="cpu",
        log_every=1,
    )
    return train_segmentation(data, **{**args, **overrides})


def poisoned(data):
    """Labels and SDFs of unlabelled subjects replaced by garbage."""
    rng = np.random.default_rng(1)
    out = {key: value.copy() for key, value in data.items()}
    hidden = ~np.isin(out["subject"], LABELLED)
    out["label"][hidden] = rng.integers(0, 2, out["label"][hidden].shape, dtype=np.uint8)
    out["sdf"][hidden] = rng.uniform(-1, 1, out["sdf"][hidden].shape).astype(np.float32)
    return out


@pytest.mark.parametrize("method", ["supervised", "supervised_sdf", "dtc", "mean_teacher"])
def test_one_step_changes_weights(packed, method):
    before = run(packed, method, iterations=0).state["segmenter"]
    after = run(packed, method, iterations=1).state["segmenter"]
    changed = {key for key in before if not torch.equal(before[key], after[key])}
    assert "seg_head.weight" in changed
    assert any(key.startswith("backbone.") for key in changed)
    # Only the methods with an SDF loss train the distance head.
    assert ("sdf_head.weight" in changed) == (method in ("supervised_sdf", "dtc"))


def test_supervised_sdf_is_dtc_without_consistency(packed):
    ablation = run(packed, "supervised_sdf", iterations=4)
    assert "sdf" in ablation.history and "consistency" not in ablation.history
    # With the consistency weight at 0 and no unlabelled rows, DTC trains the same network.
    dtc = run(packed, "dtc", iterations=4, unlabelled_batch_size=0, dtc={"consistency": 0.0})
    for key, value in ablation.state["segmenter"].items():
        torch.testing.assert_close(dtc.state["segmenter"][key], value)


def test_mean_teacher_consistency_ramps_on_unlabelled_rows(packed):
    result = run(packed, "mean_teacher", iterations=4)
    weights = result.history["consistency_weight"].to_numpy()
    assert (np.diff(weights) > 0).all() and weights[-1] < 0.1
    assert (result.history["consistency"] >= 0).all() and "sdf" not in result.history


def test_mean_teacher_follows_the_student_by_ema():
    from radsynth.segmentation.consistency import MeanTeacher

    student = torch.nn.Linear(2, 2)
    teacher = MeanTeacher(student, ema_decay=0.9)
    before = teacher.teacher.weight.clone()
    with torch.no_grad():
        student.weight.add_(1.0)
    teacher.update(student, step=1)  # alpha = min(1 - 1/2, 0.9) = 0.5
    torch.testing.assert_close(teacher.teacher.weight, 0.5 * before + 0.5 * student.weight)
    teacher.update(student, step=100)  # alpha = 0.9
    assert not teacher.teacher.weight.requires_grad


@pytest.mark.parametrize("method,augmentation", [("supervised", "none"), ("dtc", "none"), ("dtc", "deepstack"), ("mean_teacher", "none")])
def test_unlabelled_labels_never_used(packed, method, augmentation):
    clean = run(packed, method, augmentation=augmentation).state["segmenter"]
    dirty = run(poisoned(packed), method, augmentation=augmentation).state["segmenter"]
    assert all(torch.equal(clean[key], dirty[key]) for key in clean)


def test_history_and_throughput(packed):
    result = run(packed, "dtc", augmentation="rotate")
    assert {"loss", "supervised", "sdf", "consistency", "consistency_weight", "lr"} <= set(
        result.history.columns
    )
    assert len(result.history) == 3 and np.isfinite(result.history["loss"]).all()
    assert result.images_per_second > 0
    assert result.architecture["in_channels"] == 1 and result.architecture["classes"] == 1


def test_synthetic_batches(packed):
    synthetic = {"image": packed["image"][:4], "label": packed["label"][:4]}
    result = run(packed, synthetic=synthetic, synthetic_fraction=0.5)
    assert np.isfinite(result.history["loss"]).all()
    # DTC on batches that are all synthetic: no SDF target, so the SDF term is 0, not NaN.
    result = run(
        packed, "dtc", augmentation="rotate", synthetic=synthetic, synthetic_fraction=1.0
    )
    assert np.isfinite(result.history["loss"]).all() and (result.history["sdf"] == 0).all()
    with_sdf = {**synthetic, "sdf": packed["sdf"][:4]}
    result = run(packed, "dtc", synthetic=with_sdf, synthetic_fraction=1.0)
    assert (result.history["sdf"] > 0).all()
    with pytest.raises(ValueError, match="synthetic"):
        run(
            packed,
            synthetic={"image": np.zeros((2, 3, 32, 32)), "label": np.zeros((2, 32, 32))},
        )


def test_sgd_step_decay(packed):
    # 12 iterations: DTC's x0.1 at 2500 and 5000 of 6000 falls at iterations 5 and 10.
    lrs = run(packed, iterations=12, optimizer="sgd").history["lr"].to_numpy()
    assert lrs == pytest.approx([1e-2] * 5 + [1e-3] * 5 + [1e-4] * 2)


def test_bad_arguments(packed):
    with pytest.raises(ValueError, match="method"):
        run(packed, "fixmatch")
    with pytest.raises(ValueError, match="labelled"):
        run(packed, labelled_subjects=["nobody"])
    for method in ("dtc", "mean_teacher"):
        with pytest.raises(ValueError, match="unlabelled"):
            run(packed, method, labelled_subjects=None, unlabelled_batch_size=2)
    with pytest.raises(ValueError, match="patch_size"):
        run(packed, patch_size=(16, 16, 8))


def test_consistency_ramp():
    assert consistency_weight(0, 100, 1.0) == pytest.approx(math.exp(-5))
    assert consistency_weight(50, 100, 2.0) == pytest.approx(2 * math.exp(-1.25))
    assert consistency_weight(100, 100, 1.0) == 1.0
    assert consistency_weight(150, 100, 1.0) == 1.0
    assert consistency_weight(50, 100, 1.0, rampup=0.5) == 1.0


def test_dtc_terms_by_hand():
    seg = torch.tensor([[[[0.0, 2.0]]], [[[-1.0, 1.0]]]])  # (2, 1, 1, 2)
    tanh_out = torch.tensor([[[[0.001, -0.002]]], [[[0.0, 0.5]]]])
    target = torch.tensor([[[[0.1, -0.2]]], [[[9.0, 9.0]]]])  # second row has no target
    sdf_mse, consistency = dtc_losses(seg, tanh_out, target, torch.tensor([True, False]), 1500)

    def sigmoid(x):
        return 0.5 * (1 + math.tanh(x / 2))  # no overflow at x = -750

    assert sdf_mse.item() == pytest.approx(((0.001 - 0.1) ** 2 + (-0.002 + 0.2) ** 2) / 2)
    pairs = [(0.0, 0.001), (2.0, -0.002), (-1.0, 0.0), (1.0, 0.5)]
    expected = sum((sigmoid(-1500 * t) - sigmoid(s)) ** 2 for s, t in pairs) / 4
    assert consistency.item() == pytest.approx(expected, rel=1e-5)


def test_dtc_total_is_dice_plus_sdf_plus_ramped_consistency_by_hand():
    # Every labelled row is one slice and every unlabelled row another, so each batch is known
    # whatever rows are drawn; lr 0 keeps the network, so each step scores the same batch with
    # the same weights and only the ramp changes.
    rng = np.random.default_rng(3)
    label = np.zeros((2, 16, 16), np.uint8)
    label[0, 3:9, 4:12] = 1
    image = (np.where(label[:, None] == 1, 0.5, -0.5) + rng.normal(0, 0.1, (2, 1, 16, 16))).astype(np.float32)
    sdf = rng.uniform(-1, 1, (2, 1, 16, 16)).astype(np.float32)
    data = {"image": image[[0, 0, 1, 1]], "label": label[[0, 0, 1, 1]], "sdf": sdf[[0, 0, 1, 1]],
            "subject": np.array(["s0", "s0", "s1", "s1"])}
    iterations = 4
    result = run(data, "dtc", labelled_subjects=["s0"], loss="dice", lr=0.0, iterations=iterations)
    model = build_segmenter(**result.architecture)
    model.load_state_dict(result.state["segmenter"])
    with torch.no_grad():
        seg, tanh_out = (t.double().numpy() for t in model(torch.as_tensor(image[[0, 0, 1, 1]])))
    sigmoid = lambda x: 0.5 * (1 + np.tanh(x / 2))  # noqa: E731
    p, g = sigmoid(seg[:2]), label[[0, 0]][:, None].astype(float)  # the two labelled rows
    dice = 1 - (2 * (p * g).sum() + 1e-5) / (p.sum() + g.sum() + 1e-5)  # MONAI DiceLoss, batch Dice
    sdf_mse = np.mean((tanh_out[:2] - sdf[[0, 0]]) ** 2)
    consistency = np.mean((sigmoid(-1500 * tanh_out) - sigmoid(seg)) ** 2)  # all four rows
    history = result.history
    for i in range(iterations):
        ramp = math.exp(-5 * (1 - i / iterations) ** 2)
        row = history.iloc[i]
        assert row["consistency_weight"] == pytest.approx(ramp)
        assert row["supervised"] == pytest.approx(dice, rel=1e-5)
        assert row["sdf"] == pytest.approx(sdf_mse, rel=1e-5)
        assert row["consistency"] == pytest.approx(consistency, rel=1e-5)
        assert row["loss"] == pytest.approx(dice + 0.3 * sdf_mse + ramp * consistency, rel=1e-5)


def test_one_hot_foreground():
    label = torch.tensor([[0, 1, 2]])
    assert one_hot_foreground(label, 2).tolist() == [[[0, 1, 0], [0, 0, 1]]]


def test_checkpoint_round_trip(packed, tmp_path):
    result = run(packed)
    path = tmp_path / "segmenter.pt"
    save_checkpoint(path, result.state, {"architecture": result.architecture})
    model = load_segmenter(path)
    assert not model.training
    state = model.state_dict()
    assert all(torch.equal(state[key], value) for key, value in result.state["segmenter"].items())
    seg, sdf = model(torch.as_tensor(packed["image"][:2]))
    assert seg.shape == sdf.shape == (2, 1, 32, 32)


@pytest.fixture
def volumes():
    """6 volumes of 3 subjects, 24x20x12, a bright box inside a padded region (mask)."""
    rng = np.random.default_rng(0)
    shape = (6, 24, 20, 12)
    label = np.zeros(shape, np.uint8)
    mask = np.zeros(shape, np.uint8)
    for i in range(6):
        mask[i, 2:22, 1:19, 1:11] = 1
        r, c = rng.integers(4, 12, size=2)
        label[i, r : r + 8, c : c + 6, 3:9] = 1
    image = np.where(label[:, None] == 1, 0.5, -0.5).astype(np.float32) + rng.normal(0, 0.1, (6, 1, *shape[1:])).astype(np.float32)
    sdf = np.where(label[:, None] == 1, -0.5, 0.5).astype(np.float32)
    return {"image": image, "label": label, "sdf": sdf, "mask": mask, "subject": np.array(["s0", "s1", "s2"] * 2)}


@pytest.mark.parametrize("method", ["supervised", "dtc", "mean_teacher"])
def test_trains_3d_on_random_patches(volumes, method):
    result = run(volumes, method, patch_size=(16, 16, 8), rotate_flip=True, network=dict(NETWORK), iterations=2)
    assert result.architecture["spatial_dims"] == 3
    assert np.isfinite(result.history["loss"]).all()
    clean = result.state["segmenter"]
    dirty = run(poisoned(volumes), method, patch_size=(16, 16, 8), rotate_flip=True, iterations=2).state["segmenter"]
    assert all(torch.equal(clean[key], dirty[key]) for key in clean)


def test_vnet_run_drops_the_unet_sizes_a_scale_preset_sets(volumes):
    network = {"backbone": "vnet", "channels": [8, 16, 32], "strides": [2, 2], "res_units": 2, "dropout": 0.0}
    result = run(volumes, "dtc", network=network, patch_size=(16, 16, 16), iterations=1)
    assert result.architecture["backbone"] == "vnet" and result.architecture["dropout"] == 0.0
    assert not {"channels", "strides", "res_units"} & set(result.architecture)


def test_multiclass_end_to_end_with_per_class_and_mean_metrics(packed):
    from radsynth.segmentation.evaluate import evaluate_segmentation

    data = {key: value.copy() for key, value in packed.items()}
    data["label"][:, :4, :] = np.where(data["label"][:, :4, :] == 0, 2, data["label"][:, :4, :])  # a second class
    data["sdf"] = np.concatenate([data["sdf"], np.where(data["label"][:, None] == 2, -0.5, 0.5)], axis=1)
    result = run(data, "dtc", iterations=3)
    assert result.architecture["classes"] == 2
    model = load_segmenter_from(result)
    volume = np.moveaxis(data["image"][:4, 0], 0, -1)[None]  # (1, H, W, Z): four slices as a volume
    label = np.moveaxis(data["label"][:4], 0, -1)
    subject = {"name": "v", "image": volume, "label": label, "spacing": np.ones(3)}
    frame, _ = evaluate_segmentation(model, [subject], "dtc", "none-50-s0", classes=(1, 2), device="cpu")
    values = frame.set_index("metric")["value"]
    assert {"dice_c1", "dice_c2", "dice"} <= set(values.index)
    assert values["dice"] == pytest.approx(np.nanmean([values["dice_c1"], values["dice_c2"]]))


def load_segmenter_from(result):
    from radsynth.segmentation.networks import build_segmenter

    model = build_segmenter(**result.architecture)
    model.load_state_dict(result.state["segmenter"])
    return model.eval()
