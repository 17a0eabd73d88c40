import struct

import numpy as np
import pandas as pd
import pytest
import torch

from radsynth.io import load_checkpoint, save_checkpoint
from radsynth.split import subjects_in
from radsynth.synthesis import load_generator
from radsynth.synthesis.curve import (
    COLUMNS,
    Snapshots,
    ceiling_score,
    choose_holdout,
    curve_scores,
    generator_slices,
    snapshot_generator,
    snapshot_steps,
    without_heldout,
)
from radsynth.synthesis.diffusion_trainer import train_ddpm
from radsynth.synthesis.figures import structure_curve_figure
from tests.synthesis.test_controlnet_trainer import base, controlnet  # noqa: F401 (fixture)
from tests.synthesis.test_diffusion_trainer import TINY, disks
from tests.report.drawn import has_colour, panels, saved_figure
from tests.synthesis.test_mask_gan_trainer import train as train_gan


def fold_pack(subjects, labelled, slices=3, size=8):
    """A packed training set: ``slices`` slices per subject, a square mask on the middle slice
    of the ``labelled`` subjects."""
    rows = [(s, k) for s in subjects for k in range(slices)]
    label = np.zeros((len(rows), size, size), np.uint8)
    for i, (s, k) in enumerate(rows):
        if s in labelled and k == slices // 2:
            label[i, 2:5, 2:5] = 1
    return {
        "image": np.zeros((len(rows), 2, size, size), np.float32), "label": label,
        "mask": (label > 0).astype(np.uint8), "sdf": np.zeros((len(rows), 1, size, size), np.float32),
        "subject": np.array([s for s, _ in rows]), "slice": np.array([k for _, k in rows]),
        "channels": np.array(["t1", "t2"]), "spacing": np.ones(3),
    }  # fmt: skip


def test_held_out_masks_are_training_subjects_of_the_fold_and_not_trained_on():
    table = pd.DataFrame({"subject": [f"s{i}" for i in range(9)], "split": "train", "cv_fold": [0, 1, 2] * 3})
    training, testing = subjects_in(table, "cv1_train"), subjects_in(table, "cv1_test")
    pack = fold_pack(training, labelled=set(training) - {"s0"})  # s0 has no mask
    for seed in range(5):
        holdout = choose_holdout(pack["subject"], pack["label"], count=1, masks=1, seed=seed)
        assert holdout.by == "subject" and len(holdout.subjects) == 1
        assert set(holdout.subjects) <= set(training) - {"s0"} and not set(holdout.subjects) & set(testing)
        # every slice of the held-out subject is excluded; the scored ones are its masks
        assert set(holdout.excluded) == set(np.flatnonzero(pack["subject"] == holdout.subjects[0]))
        assert set(holdout.scored) <= set(holdout.excluded) and pack["label"][holdout.scored].any(axis=(1, 2)).all()
        kept = without_heldout(pack, {"subjects": 1, "masks": 1}, seed)
        assert set(kept["subject"]) == set(training) - set(holdout.subjects)
        assert all(len(kept[key]) == len(pack["label"]) - 3 for key in ("image", "label", "mask", "sdf", "slice"))
        assert list(kept["channels"]) == ["t1", "t2"] and len(kept["spacing"]) == 3
    # the same pack gives the same choice (the trainers and the curve agree)
    first, again = (choose_holdout(pack["subject"], pack["label"], count=1, masks=8, seed=3) for _ in range(2))
    assert first.subjects == again.subjects and (first.scored == again.scored).all()
    assert len(first.subjects) == 2  # 8 masks wanted, 1 a subject: at most half of the 5 labelled


def test_one_slice_subjects_are_held_out_until_the_masks_are_enough():
    pack = fold_pack([f"p{i}" for i in range(10)], labelled={f"p{i}" for i in range(10)}, slices=1)
    holdout = choose_holdout(pack["subject"], pack["label"], count=1, masks=3, seed=0)
    assert holdout.by == "subject" and len(holdout.subjects) == 3 and len(holdout.scored) == 3
    # never more than half of the labelled subjects
    assert len(choose_holdout(pack["subject"], pack["label"], count=1, masks=9, seed=0).subjects) == 5


def test_few_subjects_hold_out_slices_and_nothing_without_a_curve():
    pack = fold_pack(["a", "b"], labelled={"a", "b"}, slices=5)
    pack["label"][[0, 6], 1, 1] = 1  # two labelled slices per subject
    holdout = choose_holdout(pack["subject"], pack["label"], count=1, masks=3, seed=0)
    assert holdout.by == "slice" and len(holdout.scored) == 3 and (holdout.excluded == holdout.scored).all()
    kept = without_heldout(pack, {"subjects": 1, "masks": 3}, 0)
    assert kept["label"].any(axis=(1, 2)).sum() == 1  # one mask left to train on
    off = choose_holdout(pack["subject"], pack["label"], count=0, masks=3, seed=0)
    assert off.by == "none" and not len(off.excluded)
    assert without_heldout(pack, {"subjects": 0, "masks": 3}, 0) is pack


def test_generators_learn_the_labelled_slices_of_their_fold_less_the_held_out_ones():
    training = [f"s{i}" for i in range(6)]
    pack = fold_pack(training, labelled=set(training) - {"s0"})  # one mask per labelled subject
    holdout = choose_holdout(pack["subject"], pack["label"], count=1, masks=1, seed=2)
    learnt = generator_slices(pack, {"subjects": 1, "masks": 1}, 2)
    # the middle slice of each labelled subject but the held-out one; s0 has none
    assert sorted(learnt["subject"]) == sorted(set(training) - {"s0", *holdout.subjects})
    assert (learnt["slice"] == 1).all() and learnt["label"].any(axis=(1, 2)).all()
    assert all(len(learnt[key]) == 4 for key in ("image", "label", "mask", "sdf", "subject"))
    assert list(learnt["channels"]) == ["t1", "t2"]
    without_curve = generator_slices(pack, {"subjects": 0, "masks": 0}, 2)
    assert sorted(without_curve["subject"]) == training[1:]
    # synthesis.train_slices: all (EMIT-Diff's official fine-tuning): every slice but the held-out ones
    every = generator_slices(pack, {"subjects": 1, "masks": 1}, 2, labelled=False)
    assert len(every["label"]) == len(pack["label"]) - 3 and not set(every["subject"]) & set(holdout.subjects)
    with pytest.raises(ValueError, match="cv0_train.npz: no training slice has a labelled structure"):
        generator_slices(fold_pack(training, labelled=set()), {"subjects": 0, "masks": 0}, 0, "cv0_train.npz")


def test_snapshots_are_saved_every_n_steps_and_at_the_end(tmp_path):
    result = train_gan(iterations=7, snapshot=Snapshots(tmp_path / "gan", every=3, last=7))
    steps = snapshot_steps(tmp_path / "gan")
    assert list(steps) == [0, 3, 6, 7]
    last, sidecar = load_checkpoint(steps[7])  # weights_only
    assert sidecar["step"] == 7 and set(last) == {"generator"}  # only what samples
    assert all(torch.equal(last["generator"][k], v) for k, v in result.state["generator"].items())
    assert not any(torch.equal(load_checkpoint(steps[0])[0]["generator"][k], v) for k, v in last["generator"].items()
                   if v.is_floating_point() and v.numel() > 1)  # fmt: skip

    images, _ = disks(4)
    options = dict(unet=TINY, iterations=4, batch_size=4, seed=0, device="cpu", ema_decay=0.9)
    ddpm = train_ddpm(images, snapshot=Snapshots(tmp_path / "ddpm", every=2, last=4), **options)
    steps = snapshot_steps(tmp_path / "ddpm")
    assert list(steps) == [0, 2, 4]
    final = load_checkpoint(steps[4])[0]
    assert all(torch.equal(final["unet"][k], v) for k, v in ddpm.state["unet"].items())  # the EMA's
    train_ddpm(images, snapshot=Snapshots(tmp_path / "none", every=0, last=4), **options)
    assert snapshot_steps(tmp_path / "none") == {}


def test_controlnet_snapshots_hold_the_controlnet_only(tmp_path, base):  # noqa: F811
    result = controlnet(base, iterations=4, snapshot=Snapshots(tmp_path, every=4, last=4))
    steps = snapshot_steps(tmp_path)
    assert list(steps) == [0, 4] and set(load_checkpoint(steps[4])[0]) == {"controlnet"}
    assert all(torch.equal(load_checkpoint(steps[4])[0]["controlnet"][k], v) for k, v in result.state["controlnet"].items())


def test_a_snapshot_replaces_the_trained_weights_of_the_final_generator(tmp_path):
    snapshots = Snapshots(tmp_path / "snapshots", every=2, last=4)
    result = train_gan(iterations=4, snapshot=snapshots)
    save_checkpoint(tmp_path / "gan.pt", result.state, {"generator": "gan", "architecture": result.architecture})
    early = snapshot_generator(tmp_path / "gan.pt", snapshot_steps(snapshots.folder)[0], load_generator, "cpu")
    saved = load_checkpoint(snapshot_steps(snapshots.folder)[0])[0]["generator"]
    assert all(torch.equal(early.network.state_dict()[k], v) for k, v in saved.items())


class Threshold(torch.nn.Module):
    """A judge that finds class 1 wherever the first channel is bright (logit 20 x)."""

    def forward(self, x):
        return 20 * x[:, :1]


class Painter:
    """A fake generator: the mask copied into the image as a bright region (``draw``), or
    nothing at all; ``unconditional`` draws its own masks, every other one empty."""

    def __init__(self, draw=True, unconditional=False):
        self.draw, self.unconditional = draw, unconditional

    def sample(self, images, labels, per_mask, *, seed=0, device=None, **_):
        labels = np.asarray(labels).copy()
        if self.unconditional:
            labels[1::2] = 0
        image = np.where(labels[:, None] > 0, 1.0, -1.0) if self.draw else np.full((len(labels), 1, *labels.shape[1:]), -1.0)
        source = np.full(len(labels), -1) if self.unconditional else np.arange(len(labels))
        return {"image": image.astype(np.float32), "label": labels.astype(np.uint8), "source_index": source}


def test_a_generator_that_draws_the_mask_scores_100_and_one_that_draws_nothing_0():
    _, labels = disks(4, size=32)
    images = np.where(labels[:, None] > 0, 1.0, -1.0).astype(np.float32)
    judge, options = Threshold(), dict(classes=1, sampling={"steps": 2}, seed=0, device="cpu")
    scores = curve_scores([(0, Painter(draw=False)), (5, Painter())], images, labels, judge, **options)
    assert scores["step"].tolist() == [0, 5] and scores["n_masks"].tolist() == [4, 4]
    np.testing.assert_allclose(scores["structure_dice"], [0.0, 100.0])
    assert scores["nonempty_share"].isna().all()  # conditional: every mask was given
    assert ceiling_score(images, labels, judge, classes=1, device="cpu") == pytest.approx(100.0)
    # An unconditional generator: half its masks empty, Dice on the others
    drawn = curve_scores([(3, Painter(unconditional=True))], images, labels, judge, **options)
    assert drawn.loc[0, "nonempty_share"] == 0.5 and drawn.loc[0, "n_masks"] == 2
    assert drawn.loc[0, "structure_dice"] == pytest.approx(100.0)


def test_structure_curve_figure_reads_back(tmp_path):
    rows = [
        {"fold": f, "generator": g, "step": s, "structure_dice": d + 10 * f, "n_masks": 2,
         "nonempty_share": share, "heldout_subjects": "s1"}
        for f in (0, 1)
        for g, share in (("gan", np.nan), ("ddpm", 0.5))
        for s, d in ((0, 0.0), (10, 30.0), (20, 60.0))
    ] + [{"fold": f, "generator": "real", "step": np.nan, "structure_dice": 80.0, "n_masks": 2} for f in (0, 1)]  # fmt: skip
    curve = pd.DataFrame(rows).reindex(columns=COLUMNS)
    figure = saved_figure(structure_curve_figure, curve, tmp_path / "curve.png")
    width, height = struct.unpack(">II", (tmp_path / "curve.png").read_bytes()[16:24])
    assert (width, height) == (round(3.6 * 2 * 120), round(2.8 * 120))  # two panels: Dice, non-empty share
    dice, share = panels(tmp_path / "curve.png", figure)
    for colour in ("C0", "C1"):  # a line per generator
        assert has_colour(dice, colour) > 50, colour
    assert has_colour(share, "C0") < 5 < 50 < has_colour(share, "C1")  # only the DDPM draws its own masks

    def ceiling_row(panel):  # the dark share of the rows about y = 80 (y axis -2..102)
        row = round((102 - 80) / 104 * (panel.shape[0] + 4)) - 2
        return (panel[row - 2 : row + 3].max(-1) < 0.5).any(axis=0).mean()

    assert ceiling_row(dice) > 0.4  # the dashed real-slice ceiling across the panel
    figure = saved_figure(structure_curve_figure, curve[curve["generator"] != "real"], tmp_path / "bare.png")
    assert ceiling_row(panels(tmp_path / "bare.png", figure)[0]) < 0.1
    structure_curve_figure(curve[curve["generator"] == "gan"], tmp_path / "one.png")  # no DDPM: one panel
    assert struct.unpack(">II", (tmp_path / "one.png").read_bytes()[16:24])[0] == round(3.6 * 120)
