"""The Medical Segmentation Decathlon / nnU-Net v2 adapter: both layouts and their errors."""

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from radsynth.data import msd
from radsynth.data.base import array_of, check_subject
from radsynth.io import InputError

SHAPE = (12, 10, 8)
SPOT = (3, 4, 5)
AFFINE = np.array([[-0.8, 0, 0, 40.0], [0, 0.9, 0, -12.0], [0, 0, 3.0, 7.5], [0, 0, 0, 1]])


def save(path, array, affine=AFFINE):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(array, affine), path)
    return str(path)


def channel(index):
    array = np.random.default_rng(index).random(SHAPE, dtype=np.float32)
    array[SPOT] = 100.0 + index
    return array


def label(value=1):
    array = np.zeros(SHAPE, np.uint8)
    array[4:7, 3:6, 2:5] = value
    return array


def make_dataset(root, cases, v1=(), meta=None):
    """A dataset with channels T2, ADC; cases in ``v1`` get one 4D file instead of two 3D."""
    meta = meta or {
        "channel_names": {"0": "T2", "1": "ADC"},
        "labels": {"background": 0, "lesion": 1},
        "file_ending": ".nii.gz",
    }
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset.json").write_text(json.dumps(meta))
    for case in cases:
        if case in v1:
            save(root / "imagesTr" / f"{case}.nii.gz", np.stack([channel(0), channel(1)], axis=-1))
        else:
            for i in range(2):
                save(root / "imagesTr" / f"{case}_{i:04d}.nii.gz", channel(i))
        save(root / "labelsTr" / f"{case}.nii.gz", label())
    return {"root": str(root), "channels": ["adc", "t2"], "classes": [1]}


def test_v2_discover_and_load(tmp_path):
    dataset = make_dataset(tmp_path, ["prostate_10", "prostate_02"])
    (tmp_path / "labelsTr" / "._prostate_02.nii.gz").write_bytes(b"macOS metadata")  # skipped
    sources = msd.discover(dataset)
    assert [s.subject for s in sources] == ["prostate_02", "prostate_10"]
    assert sources[0].files == (
        str(tmp_path / "imagesTr" / "prostate_02_0001.nii.gz"),
        str(tmp_path / "imagesTr" / "prostate_02_0000.nii.gz"),
        str(tmp_path / "labelsTr" / "prostate_02.nii.gz"),
    )
    raw = msd.load(sources[0], dataset)
    assert list(raw.images) == ["adc", "t2"] and raw.oriented
    assert raw.paths["adc"].endswith("prostate_02_0001.nii.gz") and raw.paths["t2"].endswith("prostate_02_0000.nii.gz")
    assert array_of(raw.images["adc"])[SPOT] == 101.0 and array_of(raw.images["t2"])[SPOT] == 100.0
    # NIfTI RAS affine -> ITK LPS geometry
    np.testing.assert_allclose(raw.images["adc"].GetSpacing(), (0.8, 0.9, 3.0))
    np.testing.assert_allclose(raw.images["adc"].GetOrigin(), (-40.0, 12.0, 7.5))
    np.testing.assert_array_equal(array_of(raw.label), label())
    check_subject(raw, dataset["classes"])


def test_v1_4d_file(tmp_path):
    meta = {
        "modality": {"0": "FLAIR", "1": "T1w"},
        "training": [{"image": "./imagesTr/brain_001.nii.gz", "label": "./labelsTr/brain_001.nii.gz"}],
    }
    dataset = make_dataset(tmp_path, ["brain_001"], v1=["brain_001"], meta=meta)
    dataset["channels"] = ["t1w"]
    (source,) = msd.discover(dataset)
    four_d = str(tmp_path / "imagesTr" / "brain_001.nii.gz")
    assert source.files == (four_d, str(tmp_path / "labelsTr" / "brain_001.nii.gz"))
    raw = msd.load(source, {**dataset, "label_map": {1: 2}})
    assert raw.images["t1w"].GetDimension() == 3 and raw.images["t1w"].GetSize() == SHAPE
    np.testing.assert_allclose(array_of(raw.images["t1w"]), channel(1))
    np.testing.assert_allclose(raw.images["t1w"].GetSpacing(), (0.8, 0.9, 3.0))
    np.testing.assert_allclose(raw.images["t1w"].GetOrigin(), (-40.0, 12.0, 7.5))
    assert raw.paths == {"t1w": four_d, "label": str(tmp_path / "labelsTr" / "brain_001.nii.gz")}
    np.testing.assert_array_equal(array_of(raw.label), label(2))
    check_subject(raw, [2])
    with pytest.raises(InputError, match=r"label values \[2\]"):
        check_subject(raw, [1])


def test_v1_single_channel_3d_file(tmp_path):
    meta = {"modality": {"0": "MRI"}}
    (tmp_path / "dataset.json").write_text(json.dumps(meta))
    save(tmp_path / "imagesTr" / "la_003.nii.gz", channel(0))
    save(tmp_path / "labelsTr" / "la_003.nii.gz", label())
    dataset = {"root": str(tmp_path), "channels": ["mri"], "classes": [1]}
    raw = msd.load(msd.discover(dataset)[0], dataset)
    assert array_of(raw.images["mri"])[SPOT] == 100.0
    check_subject(raw, [1])


def test_v1_wrong_channel_count(tmp_path):
    dataset = make_dataset(tmp_path, ["c1"], meta={"modality": {"0": "A", "1": "B", "2": "C"}})
    dataset["channels"] = ["a"]
    for path in (tmp_path / "imagesTr").iterdir():
        path.unlink()
    four_d = save(tmp_path / "imagesTr" / "c1.nii.gz", np.stack([channel(0), channel(1)], axis=-1))
    with pytest.raises(InputError, match="holds 2 channels on axis 4 but dataset.json lists 3") as err:
        msd.load(msd.discover(dataset)[0], dataset)
    assert err.value.path == four_d


def test_unknown_channel_name(tmp_path):
    dataset = make_dataset(tmp_path, ["c1"])
    with pytest.raises(ValueError, match=r"\['DWI'\].*available: \['ADC', 'T2'\]"):
        msd.discover({**dataset, "channels": ["t2", "DWI"]})


def test_channels_default_to_dataset_json(tmp_path):
    dataset = make_dataset(tmp_path, ["c1"])
    del dataset["channels"]
    raw = msd.load(msd.discover(dataset)[0], dataset)
    assert list(raw.images) == ["T2", "ADC"]


def test_dataset_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        msd.discover({"root": str(tmp_path / "absent"), "channels": ["t2"]})
    dataset = make_dataset(tmp_path, [])
    with pytest.raises(InputError, match="labelsTr") as err:
        msd.discover(dataset)
    (tmp_path / "labelsTr").mkdir()
    with pytest.raises(InputError, match="no label file") as err:
        msd.discover(dataset)
    (tmp_path / "dataset.json").write_text("{broken")
    with pytest.raises(InputError, match="cannot read dataset.json") as err:
        msd.discover(dataset)
    assert err.value.path == str(tmp_path / "dataset.json")
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": {}}))
    with pytest.raises(InputError, match="no channel_names"):
        msd.discover(dataset)


def test_missing_channel_file(tmp_path):
    dataset = make_dataset(tmp_path, ["c1", "c2"])
    missing = tmp_path / "imagesTr" / "c2_0001.nii.gz"
    missing.unlink()
    sources = msd.discover(dataset)  # still listed
    assert len(sources[1].files) == 2
    with pytest.raises(InputError, match="no c2_0001.nii.gz for channel adc") as err:
        msd.load(sources[1], dataset)
    assert err.value.path == str(missing)


def test_no_image_at_all(tmp_path):
    dataset = make_dataset(tmp_path, ["c1"])
    for path in (tmp_path / "imagesTr").iterdir():
        path.unlink()
    with pytest.raises(InputError, match="missing") as err:
        msd.load(msd.discover(dataset)[0], dataset)
    assert "c1_0001.nii.gz" in str(err.value) and "c1.nii.gz" in str(err.value)


def test_truncated_and_4d_channel_files(tmp_path):
    dataset = make_dataset(tmp_path, ["c1"])
    path = tmp_path / "imagesTr" / "c1_0000.nii.gz"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated") as err:
        msd.load(msd.discover(dataset)[0], dataset)
    assert err.value.path == str(path)
    save(path, np.stack([channel(0), channel(1)], axis=-1))  # 4D only valid as a v1 file
    with pytest.raises(InputError, match="4D image.*expected 3D") as err:
        msd.load(msd.discover(dataset)[0], dataset)
    assert err.value.path == str(path)


def test_other_file_ending(tmp_path):
    meta = {"channel_names": {"0": "CT"}, "file_ending": ".nii"}
    (tmp_path / "dataset.json").write_text(json.dumps(meta))
    save(tmp_path / "imagesTr" / "ct_1_0000.nii", channel(0))
    save(tmp_path / "labelsTr" / "ct_1.nii", label())
    dataset = {"root": str(tmp_path), "channels": ["CT"], "classes": [1]}
    (source,) = msd.discover(dataset)
    assert source.subject == "ct_1"
    check_subject(msd.load(source, dataset), [1])


def test_cases_without_labels(tmp_path):
    data = make_dataset(tmp_path, ["la_003", "la_004"], v1=["la_004"])
    for path in (tmp_path / "labelsTr").iterdir():
        path.unlink()
    with pytest.raises(InputError, match="no label file"):
        msd.discover(data)
    data["labels"] = False
    sources = msd.discover(data)
    assert [s.subject for s in sources] == ["la_003", "la_004"]
    assert [Path(f).name for f in sources[0].files] == ["la_003_0001.nii.gz", "la_003_0000.nii.gz"]
    for source in sources:
        raw = msd.load(source, data)
        assert raw.label is None and "label" not in raw.paths
        assert array_of(raw.images["adc"])[SPOT] == 101.0
        check_subject(raw, [1])
