import json

import matplotlib.image
import numpy as np
import pytest
import SimpleITK as sitk

from radsynth.data.base import RawSubject, image_from_array
from radsynth.io import write_nifti
from radsynth.report.data import data_figure, data_table, describe_subject, preprocess_record


def _raw(direction=(-1, 0, 0, 0, -1, 0, 0, 0, 1), oriented=True):
    t1 = np.arange(4 * 5 * 3, dtype=np.float32).reshape(4, 5, 3)  # 0..59
    images = {"t1": image_from_array(t1, spacing=(1.0, 1.5, 2.25)), "t2": image_from_array(-t1)}
    label = np.zeros((4, 5, 3), np.int32)
    label[0, :2, 0] = 1
    label[1, 0, 1] = 4
    label_image = image_from_array(label)
    for image in (*images.values(), label_image):
        image.SetDirection(direction)
    images["t2"].SetSpacing((1.0, 1.5, 2.25))
    label_image.SetSpacing((1.0, 1.5, 2.25))
    paths = {"t1": "/d/s1/t1.nii.gz", "t2": "/d/s1/t2.nii.gz", "label": "/d/s1/seg.nii.gz"}
    return RawSubject("s1", images, sitk.Cast(label_image, sitk.sitkInt32), paths, oriented=oriented)


def test_describe_subject():
    row = describe_subject(_raw(), "Subject 1")
    assert json.loads(json.dumps(row)) == row  # plain JSON types
    assert row["subject"] == "s1" and row["name"] == "Subject 1"
    assert row["shape"] == "4x5x3" and row["spacing"] == "1x1.5x2.25"
    assert row["orientation"] == "RAS"
    assert row["t1_min"] == 0.0 and row["t1_max"] == 59.0
    assert row["t1_p01"] == pytest.approx(np.percentile(np.arange(60), 1))
    assert row["t1_p99"] == pytest.approx(np.percentile(np.arange(60), 99))
    assert row["t2_min"] == -59.0 and row["t2_max"] == 0.0
    assert (row["label_0"], row["label_1"], row["label_4"]) == (57, 2, 1)
    assert "label_2" not in row
    assert row["files"] == "/d/s1/t1.nii.gz;/d/s1/t2.nii.gz;/d/s1/seg.nii.gz"


def test_orientation_codes():
    assert describe_subject(_raw(direction=(1, 0, 0, 0, 1, 0, 0, 0, 1)), "x")["orientation"] == "LPS"
    assert describe_subject(_raw(oriented=False), "x")["orientation"] == "none"


def test_data_table_fills_missing_labels():
    rows = [
        {"subject": "b", "name": "B", "label_0": 10, "label_2": 3, "files": "b.nii.gz"},
        {"subject": "a", "name": "A", "label_0": 12, "label_1": 1, "files": "a.nii.gz"},
    ]
    table = data_table(rows)
    assert list(table["subject"]) == ["a", "b"]
    assert list(table.columns) == ["subject", "name", "label_0", "label_1", "label_2", "files"]
    assert table["label_1"].tolist() == [1, 0] and table["label_2"].tolist() == [0, 3]
    assert table["label_2"].dtype == np.int64


def _subject(root, name, shape, label_value):
    folder = root / name
    rng = np.random.default_rng(len(name))
    affine = np.diag([-1.0, -1.2, 2.0, 1.0])
    write_nifti(folder / "t1.nii.gz", rng.uniform(-1, 1, shape).astype(np.float32), affine)
    label = np.zeros(shape, np.uint8)
    if label_value:
        label[4:10, 5:9, shape[2] // 3] = label_value
        label[6:8, 6:8, shape[2] // 3] = 2
    write_nifti(folder / "label.nii.gz", label, affine)
    return folder


def test_data_figure(tmp_path):
    dirs = [
        _subject(tmp_path, "flat", (16, 16, 1), 1),  # 2D data stored as one-slice volumes
        _subject(tmp_path, "volume", (16, 16, 6), 1),
        _subject(tmp_path, "empty", (16, 16, 6), 0),
    ]
    data_figure(dirs, "t1", tmp_path / "data.png")
    picture = matplotlib.image.imread(tmp_path / "data.png")
    assert picture.ndim == 3 and picture.shape[0] > 100
    data_figure(dirs, "t1", tmp_path / "first.png", max_subjects=2)
    assert matplotlib.image.imread(tmp_path / "first.png").shape[1] < picture.shape[1]
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["data.png", "first.png"]


def test_describe_a_subject_read_without_label(tmp_path):
    from radsynth.data import discover, load_subject

    t1 = np.random.default_rng(0).uniform(1, 9, (6, 5, 4)).astype(np.float32)
    for channel, values in (("t1", t1), ("t2", 10 - t1 * t1)):
        write_nifti(tmp_path / "c1" / f"c1_{channel}.nii.gz", values, np.eye(4))
    dataset = {"kind": "nifti", "root": str(tmp_path), "channels": ["t1", "t2"], "classes": [1], "labels": False,
               "patterns": {"t1": "*_t1.nii.gz", "t2": "*_t2.nii.gz"}}
    row = describe_subject(load_subject(discover(dataset)[0], dataset), "c1")
    assert json.loads(json.dumps(row)) == row
    assert row["labelled"] is False and not [key for key in row if key.startswith("label_")]
    assert row["t2_max"] == pytest.approx(float((10 - t1 * t1).max()))
    assert row["duplicate_channels"] == "" and row["warning"] == ""
    assert row["files"] == f"{tmp_path}/c1/c1_t1.nii.gz;{tmp_path}/c1/c1_t2.nii.gz"
    labelled = describe_subject(_raw(), "Subject 1")
    assert labelled["labelled"] is True
    # Without label, no count: the table leaves the cells empty instead of writing 0.
    table = data_table([row, labelled]).set_index("subject")
    assert table.loc["s1", "label_0"] == 57 and table.loc["s1", "label_4"] == 1
    assert table["label_0"].isna().to_dict() == {"c1": True, "s1": False}


def test_data_table_shows_what_preprocessing_kept():
    from radsynth.preprocess import Subject

    rows = [
        {"subject": "a", "name": "A", "label_0": 10, "label_1": 4, "warning": "", "files": "a"},
        {"subject": "b", "name": "B", "label_0": 12, "label_1": 2, "warning": "channels t1 and flair are the same",
         "files": "b"},
        {"subject": "c", "name": "C", "label_0": 14, "warning": "", "files": "c"},
    ]
    cut = "preprocessing keeps 72.5 % of the label voxels"
    records = [
        preprocess_record("a", Subject({}, np.zeros((4, 3, 2), np.uint8), np.zeros((4, 3, 2), np.uint8), np.eye(4),
                                       0.725, cut)),
        preprocess_record("b", Subject({}, None, np.zeros((4, 3, 2), np.uint8), np.eye(4), None, "")),
    ]
    assert records[0] == {"subject": "a", "preprocessed_shape": "4x3x2", "label_kept": 0.725, "warning": cut}
    table = data_table(rows, records).set_index("subject")
    assert table.loc["a", "label_kept"] == 0.725 and table.loc["a", "warning"] == cut
    assert table.loc["b", "warning"] == "channels t1 and flair are the same" and np.isnan(table.loc["b", "label_kept"])
    assert table.loc["c", "warning"] == "" and table.loc["a", "preprocessed_shape"] == "4x3x2"
    assert list(table.columns[-2:]) == ["warning", "files"]


def test_data_figure_of_subjects_without_label(tmp_path):
    folder = _subject(tmp_path, "unlabelled", (16, 16, 4), 0)
    (folder / "label.nii.gz").unlink()
    dirs = [folder, _subject(tmp_path, "volume", (16, 16, 6), 1)]
    data_figure(dirs, "t1", tmp_path / "data.png")
    assert matplotlib.image.imread(tmp_path / "data.png").shape[0] > 100
