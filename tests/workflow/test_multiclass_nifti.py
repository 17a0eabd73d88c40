"""A small, odd NIfTI set through the whole tiny DAG: 6 subjects of different shapes, FLAIR and
T1c z-scored float32 images, labels {0..4}, brain masks, custom file patterns and fixed case
lists (the deepmedic BraTS 2015 sample's layout), with sizes and schedules a user set too large
for ``scale=tiny``."""

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import yaml

from radsynth.io import write_nifti
from tests.workflow.tinydag import snakemake

SHAPES = [(40, 44, 14), (36, 40, 12), (44, 40, 16), (38, 46, 12), (42, 42, 14), (40, 38, 13)]


def _subject(folder, name, shape, rng):
    """A brain-like ellipsoid with four nested tumour classes (BraTS 2015: 1 necrosis, 2 edema,
    3 non-enhancing, 4 enhancing); images z-scored inside the brain mask, 0 outside."""
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij"))
    brain = ((grid / np.array([0.8, 0.85, 0.8])[:, None, None, None]) ** 2).sum(0) < 1
    centre = rng.uniform(-0.3, 0.3, 3)[:, None, None, None]
    radius = np.sqrt(((grid - centre) ** 2).sum(0))
    label = np.zeros(shape, np.uint8)
    for value, size in ((2, 0.45), (3, 0.32), (4, 0.22), (1, 0.12)):  # outermost first
        label[(radius < size) & brain] = value
    affine = np.diag([1.1, 0.9, 3.0, 1.0])
    affine[:3, 3] = rng.uniform(-20, 20, 3)
    for channel, contrast in (("flair", (0.0, 1.5, 1.0, 0.6, 0.8)), ("t1c", (0.0, -0.5, -0.2, 0.4, 2.0))):
        image = np.take(np.array(contrast), label) + 0.2 * rng.standard_normal(shape)
        image[brain] = (image[brain] - image[brain].mean()) / image[brain].std()
        image[~brain] = 0.0
        write_nifti(folder / name / f"{name}_{channel}_zscored.nii.gz", image.astype(np.float32), affine)
    write_nifti(folder / name / f"{name}_seg.nii.gz", label, affine)
    write_nifti(folder / name / f"{name}_brainmask.nii.gz", brain.astype(np.uint8), affine)


@pytest.fixture(scope="module")
def multiclass_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("multiclass")
    rng = np.random.default_rng(3)
    names = [f"brats_2013_pat{i:04d}_1" for i in range(6)]
    for name, shape in zip(names, SHAPES):
        _subject(work / "data", name, shape, rng)
    (work / "train.list").write_text("\n".join(names[:4]) + "\n")
    (work / "test.list").write_text("\n".join(names[4:]) + "\n")
    config = {
        "dataset": {
            "name": "deepmedic", "kind": "nifti", "root": str(work / "data"), "channels": ["flair", "t1c"],
            "classes": [1, 2, 3, 4], "naming": "custom",
            "patterns": {"flair": "*_flair_zscored.nii.gz", "t1c": "*_t1c_zscored.nii.gz",
                         "label": "*_seg.nii.gz", "mask": "*_brainmask.nii.gz"},
        },
        "preprocess": {"size": [96, 96], "normalise": "zscore"},
        "split": {"lists": {"train": str(work / "train.list"), "test": str(work / "test.list")}},
        "translation": {"source": "flair", "target": "t1c", "iterations": 5000},
        "segmentation": {"channels": ["flair", "t1c"], "iterations": 6000},
    }  # fmt: skip
    (work / "deepmedic.yaml").write_text(yaml.safe_dump(config))
    done = snakemake(work, "--cores", "2", "--configfile", str(work / "deepmedic.yaml"), "--config", "scale=tiny",
                     timeout=1800)
    assert done.returncode == 0, done.stderr[-5000:]
    return work / "results" / "deepmedic", done


@pytest.mark.integration
def test_the_whole_tiny_dag_runs_and_scores_every_class(multiclass_run):
    results, _ = multiclass_run
    for table in ("translation", "segmentation", "augmentation", "synthesis", "anomaly"):
        summary = pd.read_csv(results / "tables" / f"{table}.csv")
        assert np.isfinite(summary["mean"]).any(), table
    # Anomaly detection on BraTS-style classes: any class is a lesion; no val list, so no sweep.
    anomaly = pd.read_csv(results / "metrics" / "anomaly" / "test.csv")
    assert set(anomaly["method"]) == {"guided", "classifier_free", "unguided", "autoencoder"}
    assert {case.rsplit("_z", 1)[0] for case in anomaly["case"] if case != "all"} <= {
        "brats_2013_pat0004_1", "brats_2013_pat0005_1"}
    assert json.loads((results / "metrics" / "anomaly" / "chosen.json").read_text())["by"] == "no val lesion slice"
    metrics = pd.read_csv(results / "metrics" / "segmentation" / "dtc-none-25-s0.csv")
    assert {f"dice_c{k}" for k in (1, 2, 3, 4)} <= set(metrics["metric"])
    assert set(metrics["case"]) == {"brats_2013_pat0004_1", "brats_2013_pat0005_1"}  # the test list
    splits = pd.read_csv(results / "splits.tsv", sep="\t")
    assert sorted(splits.loc[splits["split"] == "train", "subject"]) == [f"brats_2013_pat{i:04d}_1" for i in range(4)]


@pytest.mark.integration
def test_tiny_bounds_the_users_sizes_and_schedules(multiclass_run):
    results, done = multiclass_run
    assert "preprocess.size: [96, 96] -> [32, 32]" in done.stderr
    for name in ("brats_2013_pat0000_1", "brats_2013_pat0003_1"):
        image = nib.load(results / "preprocessed" / name / "flair.nii.gz")
        label = np.asarray(nib.load(results / "preprocessed" / name / "label.nii.gz").dataobj)
        assert image.shape[:2] == (32, 32) and set(np.unique(label)) <= {0, 1, 2, 3, 4}
    translation = json.loads((results / "models" / "translation" / "nc_r_level5.json").read_text())
    segmentation = json.loads((results / "models" / "segmentation" / "dtc-none-25-s0.json").read_text())
    assert translation["iterations"] == 60 and segmentation["settings"]["iterations"] == 120
