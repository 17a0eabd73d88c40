"""Faults users met first on public datasets, through the workflow, each on generated files in
the layout that showed it: label-free data, sequences replaced by another, split subfolders,
too few subjects."""

import numpy as np
import pandas as pd
import pytest
import yaml

from radsynth.io import write_nifti
from tests.workflow.tinydag import snakemake

SHAPE = (20, 18, 6)
SPLITS = ("train", "val", "test")


def _subject(root, name, seed, roles=("t1", "t2", "seg"), copy_t1=False):
    rng = np.random.default_rng(seed)
    head = np.zeros(SHAPE, np.float32)
    head[3:17, 3:15, :] = 100 + 10 * rng.standard_normal((14, 12, SHAPE[2]))
    t2 = np.zeros(SHAPE, np.float32)
    t2[3:17, 3:15, :] = 50 + 10 * rng.standard_normal((14, 12, SHAPE[2]))
    seg = np.zeros(SHAPE, np.uint8)
    seg[8:12, 7:11, 2:4] = 1
    arrays = {"t1": head, "t2": head.copy() if copy_t1 else t2, "seg": seg}
    for role in roles:
        write_nifti(root / name / f"{name}_{role}.nii.gz", arrays[role], np.eye(4))


def _config(work, root, **sections):
    config = {
        "dataset": {"name": "faults", "kind": "nifti", "root": str(root), "channels": ["t1", "t2"],
                    "patterns": {"t1": "*_t1.nii.gz", "t2": "*_t2.nii.gz", "label": "*_seg.nii.gz"}},
        "preprocess": {"size": [16, 16]},
        "translation": {"source": "t1", "target": "t2", "methods": ["pix2pix"], "modes": [], "unpaired": []},
        "misalign": {"levels": [0]},
        "segmentation": {"channels": ["t1"]},
    }  # fmt: skip
    for key, value in sections.items():
        config.setdefault(key, {}).update(value)
    path = work / "faults.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _run(work, config, *targets, scale="tiny"):
    return snakemake(work, "--cores", "2", "--configfile", str(config), "--config", f"scale={scale}", "--", *targets,
                     timeout=1200)


@pytest.mark.integration
def test_a_dataset_without_labels_runs_translation(tmp_path):
    for i in range(6):
        _subject(tmp_path / "data", f"case{i}", i, roles=("t1", "t2"))  # AURORA-like: no label files
    config = _config(tmp_path, tmp_path / "data", dataset={"labels": False, "patterns": {"t1": "*_t1.nii.gz",
                                                                                      "t2": "*_t2.nii.gz"}})
    done = _run(tmp_path, config)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "dataset.labels is false" in done.stderr
    results = tmp_path / "results" / "faults"
    table = pd.read_csv(results / "tables" / "translation.csv")
    assert set(table["method"]) == {"pix2pix"} and np.isfinite(table["mean"]).all()
    assert not (results / "tables" / "segmentation.csv").exists() and not (results / "sdf").exists()
    assert not list((results / "preprocessed").glob("*/label.nii.gz"))  # no label is made up
    report = pd.read_csv(results / "data" / "subjects.tsv", sep="\t")
    assert (report["status"] == "ok").all() and not report["labelled"].astype(bool).any()


@pytest.mark.integration
def test_a_replaced_sequence_leaves_only_the_tasks_that_read_it(tmp_path):
    # LGG: a missing sequence replaced by another. case3's T2 is a copy of its T1 (the original).
    for i in range(8):
        _subject(tmp_path / "data", f"case{i}", i, copy_t1=i == 3)
    config = _config(tmp_path, tmp_path / "data", dataset={"duplicate_channels": {"originals": ["t1"]}})
    results = tmp_path / "results" / "faults"
    packs = [f"results/faults/packed/{level}{split}.npz" for level in ("level0/", "") for split in SPLITS]
    done = _run(tmp_path, config, *packs, "results/faults/data/subjects.tsv")
    assert done.returncode == 0, done.stderr[-4000:]
    splits = pd.read_csv(results / "splits.tsv", sep="\t", keep_default_na=False).set_index("subject")
    assert splits.loc["case3", "excluded"] == "translation" and (splits.drop("case3")["excluded"] == "").all()
    pairs, slices = set(), set()
    for split in SPLITS:
        with np.load(results / "packed" / "level0" / f"{split}.npz") as packed:
            pairs |= set(packed["subject"])
        with np.load(results / "packed" / f"{split}.npz") as packed:
            slices |= set(packed["subject"])
    assert pairs == {f"case{i}" for i in range(8)} - {"case3"}  # translation T1 -> T2 leaves it
    assert "case3" in slices  # segmentation reads T1 only: kept
    report = pd.read_csv(results / "data" / "subjects.tsv", sep="\t", keep_default_na=False).set_index("subject")
    assert report.loc["case3", "duplicate_channels"] == "t1=t2" and "same picture" in report.loc["case3", "warning"]


@pytest.mark.integration
def test_the_split_can_come_from_split_subfolders(tmp_path):
    # deepmedic's BraTS sample: train/ validation/ test/ folders of subject folders.
    for i, folder in enumerate(["train"] * 4 + ["validation", "test", "test"]):
        _subject(tmp_path / "data" / folder, f"pat{i}", i)
    config = _config(tmp_path, tmp_path / "data", dataset={"groups": True},
                     split={"groups": {"train": ["train"], "val": ["validation"], "test": ["test"]}})
    done = _run(tmp_path, config, "prepare")
    assert done.returncode == 0, done.stderr[-4000:]
    splits = pd.read_csv(tmp_path / "results" / "faults" / "splits.tsv", sep="\t")
    assert dict(zip(splits["subject"], splits["split"])) == {
        "train_pat0": "train", "train_pat1": "train", "train_pat2": "train", "train_pat3": "train",
        "validation_pat4": "val", "test_pat5": "test", "test_pat6": "test"}  # fmt: skip


@pytest.mark.integration
def test_two_subjects_prepare_and_the_comparison_says_what_to_set(tmp_path):
    for i in range(2):
        _subject(tmp_path / "data", f"case{i}", i)
    config = _config(tmp_path, tmp_path / "data", split={"fractions": {"train": 0.5, "val": 0.0, "test": 0.5}},
                     augmentation={"folds": 3})  # the schema's (paper) default; quick runs 2
    done = _run(tmp_path, config, "prepare", scale="quick")
    assert done.returncode == 0, done.stderr[-4000:]  # the data stages do not depend on the 3 folds
    done = _run(tmp_path, config, "results/faults/cv_folds.tsv", scale="quick")
    assert done.returncode != 0
    log = (tmp_path / "results" / "faults" / "logs" / "comparison_folds.log").read_text()
    assert "augmentation.folds = 3: 2 subjects cannot fill 3 cross-validation folds" in log
    assert "set augmentation.folds to at most 2" in log and "augmentation.methods: []" in log
