"""Bad input through the workflow: each broken subject is recorded by its batch job with the
file and the reason, leaves no output and is left out of the split; the good subjects finish,
and the data report lists the failures."""

import gzip
import shutil

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import yaml

from radsynth.io import write_nifti
from tests.workflow.tinydag import snakemake

CHANNELS = ("t1", "t2")
SHAPE = (20, 18, 6)


def _subject(root, name, t1=None, t2=None, label=None, affine=None, skip=()):
    rng = np.random.default_rng(len(name))
    head = np.zeros(SHAPE, np.float32)
    head[3:17, 3:15, :] = 100 + 10 * rng.standard_normal((14, 12, SHAPE[2]))
    seg = np.zeros(SHAPE, np.uint8)
    seg[8:12, 7:11, 2:4] = 1
    other = np.zeros(SHAPE, np.float32)  # another contrast, not a copy of t1 (that is flagged)
    other[3:17, 3:15, :] = 50 + 10 * rng.standard_normal((14, 12, SHAPE[2]))
    files = {"t1": head if t1 is None else t1, "t2": other if t2 is None else t2,
             "seg": seg if label is None else label}
    for role, array in files.items():
        if role not in skip:
            write_nifti(root / name / f"{name}_{role}.nii.gz", array, np.eye(4) if affine is None or role != "t2" else affine)


def _truncate(path):
    data = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(data[: len(data) // 2]))


# subject -> words the error message must contain (besides the offending file's name)
BAD = {
    "bad_truncated": ("bad_truncated_t1.nii.gz", "truncated"),
    "bad_shape": ("bad_shape_t2.nii.gz", "shape"),
    "bad_affine": ("bad_affine_t2.nii.gz", "origin"),
    "bad_nan": ("bad_nan_t1.nii.gz", "NaN"),
    "bad_label": ("bad_label_seg.nii.gz", "outside the declared classes"),
    "bad_empty": ("bad_empty_t1.nii.gz", "empty"),
    "bad_missing": ("bad_missing", "no file matches"),
    "bad_2d": ("bad_2d_t1.nii.gz", "2D"),
}


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("bad")
    root = work / "data"
    for name in ("good_a", "good_b", "good_c"):
        _subject(root, name)
    _subject(root, "good_emptylabel", label=np.zeros(SHAPE, np.uint8))
    _subject(root, "bad_truncated")
    _truncate(root / "bad_truncated" / "bad_truncated_t1.nii.gz")
    _subject(root, "bad_shape", t2=np.ones((20, 18, 5), np.float32))
    shifted = np.eye(4)
    shifted[0, 3] = 5.0
    _subject(root, "bad_affine", affine=shifted)
    nan = np.ones(SHAPE, np.float32)
    nan[1, 1, 1] = np.nan
    _subject(root, "bad_nan", t1=nan)
    label = np.zeros(SHAPE, np.uint8)
    label[2, 2, 2] = 7
    _subject(root, "bad_label", label=label)
    _subject(root, "bad_empty", t1=np.zeros(SHAPE, np.float32))
    _subject(root, "bad_missing", skip=("t2",))
    _subject(root, "bad_2d", t1=np.ones(SHAPE[:2], np.float32))
    config = {
        "dataset": {"name": "bad", "kind": "nifti", "root": str(root), "channels": list(CHANNELS),
                    "patterns": {"t1": "*_t1.nii.gz", "t2": "*_t2.nii.gz", "label": "*_seg.nii.gz"}},
        "preprocess": {"size": [16, 16]},
        "translation": {"source": "t1", "target": "t2"},
        "segmentation": {"channels": list(CHANNELS)},
    }
    (work / "bad.yaml").write_text(yaml.safe_dump(config))
    done = snakemake(work, "--cores", "2", "--configfile", str(work / "bad.yaml"), "--config", "scale=tiny",
                     "batch_size=4", "--", "results/bad/data/subjects.tsv", "results/bad/packed/train.npz",
                     timeout=600)
    return work / "results" / "bad", done


GOOD = ("good_a", "good_b", "good_c", "good_emptylabel")


@pytest.mark.integration
def test_good_subjects_finish_and_bad_ones_leave_nothing(bad_run):
    results, done = bad_run
    assert done.returncode == 0, done.stderr[-3000:]
    for name in GOOD:
        for file in ("t1", "t2", "label", "mask"):
            assert (results / "preprocessed" / name / f"{file}.nii.gz").exists(), (name, file)
    for name in BAD:
        assert not (results / "preprocessed" / name).exists(), name
    splits = pd.read_csv(results / "splits.tsv", sep="\t")
    assert set(splits.loc[splits["split"] == "failed", "subject"]) == set(BAD)
    assert set(splits.loc[splits["split"] != "failed", "subject"]) == set(GOOD)
    assert len(list((results / "records" / "preprocess").glob("*.json"))) > 1  # several batches ran


@pytest.mark.integration
def test_each_error_names_the_file_and_the_reason(bad_run):
    results, _ = bad_run
    report = pd.read_csv(results / "data" / "subjects.tsv", sep="\t").set_index("subject")
    for name, words in BAD.items():
        assert report.loc[name, "status"] == "failed", name
        error = f"{report.loc[name, 'file']}: {report.loc[name, 'reason']}"
        for word in words:
            assert word in error, (name, word, error)
    assert (report.loc[list(GOOD), "status"] == "ok").all()


@pytest.mark.integration
def test_an_empty_label_is_valid_and_its_sdf_is_outside_everywhere(bad_run):
    results, _ = bad_run
    sdf = nib.load(results / "sdf" / "good_emptylabel.nii.gz").get_fdata()
    assert sdf.shape[:2] == (16, 16) and (sdf == 1).all()


@pytest.mark.integration
def test_removing_the_bad_files_moves_no_good_subject(bad_run, tmp_path):
    results, _ = bad_run
    work = results.parents[1]
    for name in GOOD:
        shutil.copytree(work / "data" / name, tmp_path / "data" / name)
    config = yaml.safe_load((work / "bad.yaml").read_text())
    config["dataset"]["root"] = str(tmp_path / "data")
    (tmp_path / "good.yaml").write_text(yaml.safe_dump(config))
    done = snakemake(tmp_path, "--cores", "2", "--configfile", str(tmp_path / "good.yaml"), "--config", "scale=tiny",
                     "batch_size=4", "--", "results/bad/splits.tsv", timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    before = pd.read_csv(results / "splits.tsv", sep="\t").set_index("subject")["split"]
    after = pd.read_csv(tmp_path / "results" / "bad" / "splits.tsv", sep="\t").set_index("subject")["split"]
    assert after.to_dict() == before[list(GOOD)].to_dict()


@pytest.mark.integration
def test_another_scale_does_not_prepare_a_real_dataset_again(bad_run):
    results, _ = bad_run
    work = results.parents[1]
    done = snakemake(work, "-n", "--configfile", str(work / "bad.yaml"), "--config", "scale=quick", "batch_size=4",
                     "--", "results/bad/data/subjects.tsv", "results/bad/splits.tsv")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Nothing to be done" in done.stdout + done.stderr
