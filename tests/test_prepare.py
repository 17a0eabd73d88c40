"""Preparing one subject: checked, described and preprocessed from one read, files all at once."""

import nibabel as nib
import numpy as np
import pytest

from radsynth.data import discover
from radsynth.io import InputError, write_nifti
from radsynth.prepare import prepare_subject

SHAPE = (20, 18, 6)


def _dataset(root):
    return {"name": "t", "kind": "nifti", "root": str(root), "channels": ["t1", "t2"], "classes": [1],
            "naming": "custom", "label_map": {},
            "patterns": {"t1": "*_t1.nii.gz", "t2": "*_t2.nii.gz", "label": "*_seg.nii.gz"}}


def _subject(root, name, t1=None):
    head = np.zeros(SHAPE, np.float32)
    head[3:17, 3:15, :] = 100 + np.arange(14 * 12 * 6).reshape(14, 12, 6) % 7
    seg = np.zeros(SHAPE, np.uint8)
    seg[8:12, 7:11, 2:4] = 1
    t2 = head / 2
    t2[3:17, 3:15, :] += np.arange(14 * 12 * 6).reshape(14, 12, 6) % 5  # another contrast, not a copy
    for role, array in {"t1": head if t1 is None else t1, "t2": t2, "seg": seg}.items():
        write_nifti(root / name / f"{name}_{role}.nii.gz", array, np.eye(4))


def test_a_good_subject_gets_its_files_and_its_data_report_row(tmp_path):
    _subject(tmp_path / "data", "good")
    dataset = _dataset(tmp_path / "data")
    [source] = discover(dataset)
    folder = tmp_path / "preprocessed" / "good"
    row = prepare_subject(source, dataset, {"size": [16, 16]}, folder)
    assert sorted(p.name for p in folder.iterdir()) == ["label.nii.gz", "mask.nii.gz", "t1.nii.gz", "t2.nii.gz"]
    assert row["shape"] == "20x18x6" and row["preprocessed_shape"] == "16x16x6"
    assert row["label_kept"] == 1.0 and row["warning"] == "" and row["duplicate_channels"] == ""
    label = np.asarray(nib.load(folder / "label.nii.gz").dataobj)
    assert label.sum() == 4 * 4 * 2 and row["label_1"] == 4 * 4 * 2  # the lesion kept whole
    t1 = np.asarray(nib.load(folder / "t1.nii.gz").dataobj)
    assert t1.min() == -1.0 and t1.max() <= 1.0


def test_a_copied_channel_is_flagged_in_the_row(tmp_path):
    _subject(tmp_path / "data", "copy")
    write_nifti(tmp_path / "data" / "copy" / "copy_t2.nii.gz",
                nib.load(tmp_path / "data" / "copy" / "copy_t1.nii.gz").get_fdata().astype(np.float32), np.eye(4))
    dataset = _dataset(tmp_path / "data")
    row = prepare_subject(discover(dataset)[0], dataset, {"size": [16, 16]}, tmp_path / "out" / "copy")
    assert row["duplicate_channels"].startswith("t1=t2") and "same picture" in row["warning"]


def test_a_bad_subject_raises_naming_the_file_and_leaves_nothing(tmp_path):
    _subject(tmp_path / "data", "bad")
    dataset = _dataset(tmp_path / "data")
    [source] = discover(dataset)
    folder = tmp_path / "preprocessed" / "bad"
    prepare_subject(source, dataset, {"size": [16, 16]}, folder)  # an earlier, good run
    nan = np.ones(SHAPE, np.float32)
    nan[1, 1, 1] = np.nan
    write_nifti(tmp_path / "data" / "bad" / "bad_t1.nii.gz", nan, np.eye(4))
    with pytest.raises(InputError, match=r"bad_t1\.nii\.gz.*NaN"):
        prepare_subject(source, dataset, {"size": [16, 16]}, folder)
    assert not folder.exists()  # the earlier run's files do not stand in for this one
