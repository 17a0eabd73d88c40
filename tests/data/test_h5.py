"""The h5 adapter (DTC / UA-MT layout): discovery, arrays without geometry, errors."""

from pathlib import Path

import h5py
import numpy as np
import pytest
import SimpleITK as sitk

from radsynth.data import h5
from radsynth.data.base import array_of, check_subject
from radsynth.io import InputError

SHAPE = (12, 10, 8)
SPOT = (3, 4, 5)
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def image(seed=0):
    array = np.random.default_rng(seed).standard_normal(SHAPE).astype(np.float32)
    array[SPOT] = 100.0
    return array


def label(value=1):
    array = np.zeros(SHAPE, np.uint8)
    array[4:7, 3:6, 2:5] = value
    return array


def make_case(root, case, file="mri_norm2.h5", **arrays):
    (root / case).mkdir(parents=True, exist_ok=True)
    path = root / case / file
    with h5py.File(path, "w") as handle:
        for key, array in ({"image": image(), "label": label()} | arrays).items():
            if array is not None:
                handle.create_dataset(key, data=array)
    return str(path)


def test_folder_scan(tmp_path):
    for case in ("CASE_B", "CASE_A"):
        make_case(tmp_path, case)
    (tmp_path / "no_file").mkdir()  # skipped: no mri_norm2.h5
    (tmp_path / ".hidden").mkdir()
    make_case(tmp_path, ".hidden")
    dataset = {"root": str(tmp_path), "channels": ["mri"], "classes": [1]}
    sources = h5.discover(dataset)
    assert [(s.subject, s.name) for s in sources] == [("CASE_A", "CASE_A"), ("CASE_B", "CASE_B")]
    assert sources[0].files == (str(tmp_path / "CASE_A" / "mri_norm2.h5"),)


def test_case_list_and_load(tmp_path):
    for case in ("c3", "c1", "c2"):
        make_case(tmp_path, case)
    (tmp_path / "train.list").write_text("c3\n\n  c1  \n")
    dataset = {"root": str(tmp_path), "channels": ["mri"], "classes": [1], "case_list": "train.list"}
    dataset["spacing"] = [0.6, 0.6, 1.2]
    sources = h5.discover(dataset)
    assert [s.subject for s in sources] == ["c1", "c3"]
    raw = h5.load(sources[0], dataset)
    assert not raw.oriented and list(raw.images) == ["mri"]
    path = str(tmp_path / "c1" / "mri_norm2.h5")
    assert raw.paths == {"mri": path, "label": path}
    assert raw.images["mri"].GetPixelID() == sitk.sitkFloat32 and raw.label.GetPixelID() == sitk.sitkInt32
    np.testing.assert_array_equal(array_of(raw.images["mri"]), image())
    assert array_of(raw.images["mri"])[SPOT] == 100.0
    np.testing.assert_allclose(raw.images["mri"].GetSpacing(), (0.6, 0.6, 1.2))
    np.testing.assert_allclose(raw.label.GetSpacing(), (0.6, 0.6, 1.2))
    np.testing.assert_array_equal(array_of(raw.label), label())
    check_subject(raw, dataset["classes"])
    # An absolute case_list works too.
    assert len(h5.discover({**dataset, "case_list": str(tmp_path / "train.list")})) == 2


def test_custom_file_keys_label_map_and_default_spacing(tmp_path):
    make_case(tmp_path, "p1", file="data.h5", image=None, label=None, vol=image(), seg=label(255))
    dataset = {"root": str(tmp_path), "channels": ["ct"], "classes": [1], "file": "data.h5"}
    dataset |= {"image_key": "vol", "label_key": "seg"}
    raw = h5.load(h5.discover(dataset)[0], {**dataset, "label_map": {"255": 1}})
    assert raw.images["ct"].GetSpacing() == (1.0, 1.0, 1.0)
    np.testing.assert_array_equal(array_of(raw.label), label(1))
    check_subject(raw, [1])
    raw = h5.load(h5.discover(dataset)[0], dataset)
    with pytest.raises(InputError, match=r"label values \[255\]") as err:
        check_subject(raw, [1])
    assert err.value.path == str(tmp_path / "p1" / "data.h5")


def test_listed_case_without_file(tmp_path):
    make_case(tmp_path, "c1")
    (tmp_path / "cases.list").write_text("c1\nc2\n")
    dataset = {"root": str(tmp_path), "channels": ["mri"], "case_list": "cases.list"}
    sources = h5.discover(dataset)
    assert [s.files for s in sources] == [(str(tmp_path / "c1" / "mri_norm2.h5"),), ()]
    with pytest.raises(InputError, match="file not found") as err:
        h5.load(sources[1], dataset)
    assert err.value.path == str(tmp_path / "c2" / "mri_norm2.h5")


def test_dataset_errors(tmp_path):
    dataset = {"root": str(tmp_path), "channels": ["mri"]}
    with pytest.raises(InputError, match="no cases found"):
        h5.discover(dataset)
    with pytest.raises(InputError, match="cannot read case list") as err:
        h5.discover({**dataset, "case_list": "missing.list"})
    assert err.value.path == str(tmp_path / "missing.list")
    with pytest.raises(InputError, match="not found"):
        h5.discover({**dataset, "root": str(tmp_path / "absent")})
    with pytest.raises(ValueError, match="one channel"):
        h5.discover({**dataset, "channels": ["a", "b"]})


def test_missing_key(tmp_path):
    path = make_case(tmp_path, "c1", label=None, mask=label())
    dataset = {"root": str(tmp_path), "channels": ["mri"]}
    with pytest.raises(InputError, match=r"no dataset 'label' \(present: \['image', 'mask'\]\)") as err:
        h5.load(h5.discover(dataset)[0], dataset)
    assert err.value.path == path


def test_truncated_and_foreign_files(tmp_path):
    path = Path(make_case(tmp_path, "c1"))
    dataset = {"root": str(tmp_path), "channels": ["mri"]}
    source = h5.discover(dataset)[0]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="unreadable or truncated h5") as err:
        h5.load(source, dataset)
    assert err.value.path == str(path)
    path.write_bytes(b"not hdf5")
    with pytest.raises(InputError, match="unreadable"):
        h5.load(source, dataset)


def test_2d_array(tmp_path):
    path = make_case(tmp_path, "c1", image=image()[:, :, 0])
    dataset = {"root": str(tmp_path), "channels": ["mri"]}
    with pytest.raises(InputError, match=r"'image' has shape \(12, 10\); expected a 3D") as err:
        h5.load(h5.discover(dataset)[0], dataset)
    assert err.value.path == path


def test_shape_mismatch_found_by_check_subject(tmp_path):
    path = make_case(tmp_path, "c1", label=label()[:, :, :6])
    dataset = {"root": str(tmp_path), "channels": ["mri"]}
    raw = h5.load(h5.discover(dataset)[0], dataset)
    with pytest.raises(InputError, match="label: shape") as err:
        check_subject(raw, [1])
    assert err.value.path == path


def test_bool_and_float_labels(tmp_path):
    make_case(tmp_path, "c1", label=label().astype(bool))
    make_case(tmp_path, "c2", label=label().astype(np.float32) * 0.5)
    dataset = {"root": str(tmp_path), "channels": ["mri"]}
    c1, c2 = h5.discover(dataset)
    np.testing.assert_array_equal(array_of(h5.load(c1, dataset).label), label())
    with pytest.raises(InputError, match="non-integer"):
        h5.load(c2, dataset)


@pytest.mark.realdata
def test_real_la2018():
    root = SHARED / "la2018_h5"
    if not root.is_dir():
        pytest.skip(f"{root} not present")
    dataset = {"root": str(root), "channels": ["mri"], "classes": [1], "case_list": "cases.list"}
    sources = h5.discover(dataset)
    assert len(sources) == 12
    raw = h5.load(sources[0], dataset)
    assert raw.images["mri"].GetDimension() == 3
    check_subject(raw, dataset["classes"])


def test_case_without_label_dataset(tmp_path):
    make_case(tmp_path, "c1", label=None)
    dataset = {"root": str(tmp_path), "channels": ["mri"], "classes": [1]}
    (source,) = h5.discover(dataset)
    with pytest.raises(InputError, match="no dataset 'label'"):
        h5.load(source, dataset)
    raw = h5.load(source, {**dataset, "labels": False})
    assert raw.label is None and list(raw.paths) == ["mri"]
    assert array_of(raw.images["mri"])[SPOT] == 100.0
    check_subject(raw, [1])


def test_groups_are_refused_for_kinds_without_group_folders(tmp_path):
    from radsynth.data import discover

    make_case(tmp_path / "train", "c1")
    with pytest.raises(ValueError, match="kind h5 has no group folders"):
        discover({"kind": "h5", "root": str(tmp_path), "channels": ["mri"], "classes": [1], "groups": True})
