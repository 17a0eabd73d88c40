"""A saved segmenter scored on test subjects' files, as the training jobs do after training."""

import nibabel as nib
import numpy as np
import pytest
import torch

from radsynth.io import save_checkpoint, write_nifti
from radsynth.segmentation.networks import build_segmenter
from radsynth.segmentation.scoring import read_test_subjects, score_segmenter

torch.set_num_threads(1)
AFFINE = np.diag([0.5, 0.7, 2.0, 1.0])
ARCHITECTURE = {"spatial_dims": 2, "in_channels": 2, "classes": 1, "channels": [4, 8], "strides": [2], "features": 4}


def subject(folder, seed):
    """Two channels and a label on a 16 x 16 x 3 grid with a non-identity affine."""
    rng = np.random.default_rng(seed)
    label = np.zeros((16, 16, 3), np.uint8)
    label[4 : 9 + seed, 5:11, :] = 1
    write_nifti(folder / "t1.nii.gz", rng.normal(size=label.shape).astype(np.float32), AFFINE)
    write_nifti(folder / "t2.nii.gz", (label * 2.0 - 1.0).astype(np.float32), AFFINE)
    write_nifti(folder / "label.nii.gz", label, AFFINE)
    return folder


def saved_segmenter(path, foreground):
    """A real segmenter whose segmentation head says ``foreground`` everywhere (or nowhere)."""
    torch.manual_seed(0)
    model = build_segmenter(**ARCHITECTURE)
    with torch.no_grad():
        model.seg_head.weight.zero_()
        model.seg_head.bias.fill_(10.0 if foreground else -10.0)
    save_checkpoint(path, {"segmenter": model.state_dict()}, {"architecture": ARCHITECTURE})
    return path


def test_test_subjects_stack_the_channels_in_the_order_asked(tmp_path):
    folder = subject(tmp_path / "case_a", 0)
    subjects, affines = read_test_subjects([folder], ["t2", "t1"])
    t2 = nib.load(folder / "t2.nii.gz").get_fdata()
    assert subjects[0]["name"] == "case_a" and subjects[0]["image"].shape == (2, 16, 16, 3)
    np.testing.assert_allclose(subjects[0]["image"][0], t2)
    np.testing.assert_allclose(subjects[0]["spacing"], [0.5, 0.7, 2.0])
    np.testing.assert_allclose(affines["case_a"], AFFINE)


def test_a_saved_segmenter_is_scored_on_each_subject_and_its_labels_written(tmp_path):
    folders = [subject(tmp_path / name, seed) for seed, name in enumerate(["case_a", "case_b"])]
    model = saved_segmenter(tmp_path / "model.pt", foreground=True)
    metrics = score_segmenter(model, tmp_path / "predictions", folders, "supervised", "cv0", channels=["t1", "t2"])

    dice = metrics[metrics["metric"] == "dice"].set_index("case")["value"]
    assert set(metrics["method"]) == {"supervised"} and set(metrics["setting"]) == {"cv0"}
    for folder in folders:
        written = nib.load(tmp_path / "predictions" / f"{folder.name}.nii.gz")
        np.testing.assert_allclose(written.affine, AFFINE)  # on the subject's own grid
        prediction = np.asarray(written.dataobj)
        label = np.asarray(nib.load(folder / "label.nii.gz").dataobj)
        assert prediction.all()  # the head says foreground everywhere
        # Dice of an all-foreground prediction: 2|L| / (N + |L|)
        assert dice[folder.name] == pytest.approx(2 * label.sum() / (label.size + label.sum()))


def test_a_segmenter_that_finds_nothing_scores_zero(tmp_path):
    folder = subject(tmp_path / "case_a", 0)
    model = saved_segmenter(tmp_path / "model.pt", foreground=False)
    metrics = score_segmenter(model, tmp_path / "predictions", [folder], "dtc", "none-25-s0", channels=["t1", "t2"])
    assert metrics.loc[metrics["metric"] == "dice", "value"].tolist() == [0.0]
    assert not np.asarray(nib.load(tmp_path / "predictions" / "case_a.nii.gz").dataobj).any()
