"""The NIfTI folder adapter: naming presets, patterns, geometry and per-file errors."""

import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from radsynth.data import nifti
from radsynth.data.base import array_of, check_subject, image_from_array
from radsynth.io import InputError

SHAPE = (12, 10, 8)
SPACING = (0.9, 1.1, 2.5)
ORIGIN = (-10.0, 20.0, 5.5)
DIRECTION = (0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0)  # 90 degrees about z
SPOT = (3, 4, 5)  # index (x, y, z) of a known voxel value
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def write(path, array, spacing=SPACING, origin=ORIGIN, direction=DIRECTION):
    """Write ``array`` (x, y, z order) with the given geometry; return the path as str."""
    image = image_from_array(array, spacing)
    image.SetOrigin(origin)
    image.SetDirection(direction)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path))
    return str(path)


def volume(seed, value=100.0):
    array = np.random.default_rng(seed).random(SHAPE, dtype=np.float32)
    array[SPOT] = value
    return array


def segmentation(values=(1,)):
    label = np.zeros(SHAPE, np.uint8)
    for i, value in enumerate(values):
        label[2 + i, 2:5, 2:5] = value
    return label


def make_subject(folder, name, suffixes, label=None, ext=".nii.gz"):
    """One subject folder: ``<name><suffix><ext>`` per channel suffix and ``<name><seg>``."""
    *channels, seg = suffixes
    for i, suffix in enumerate(channels):
        write(folder / name / f"{name}{suffix}{ext}", volume(i, value=100.0 + i))
    write(folder / name / f"{name}{seg}{ext}", segmentation() if label is None else label)
    return folder / name


BRATS21 = ("_t1", "_t1ce", "_t2", "_flair", "_seg")


def brats21(tmp_path, names=("BraTS2021_00002", "BraTS2021_00000"), channels=("t1", "t1ce", "t2", "flair")):
    for name in names:
        make_subject(tmp_path, name, BRATS21)
    return {"root": str(tmp_path), "naming": "brats2021", "channels": list(channels), "classes": [1]}


def test_brats2021_discover(tmp_path):
    dataset = brats21(tmp_path)
    (tmp_path / ".cache").mkdir()  # hidden: skipped
    (tmp_path / ".cache" / "x_t1.nii.gz").write_bytes(b"")
    (tmp_path / "empty").mkdir()  # no files: skipped
    (tmp_path / "notes.txt").write_text("not a subject")
    sources = nifti.discover(dataset)
    assert [s.subject for s in sources] == ["BraTS2021_00000", "BraTS2021_00002"]
    assert [s.name for s in sources] == ["BraTS2021_00000", "BraTS2021_00002"]
    folder = tmp_path / "BraTS2021_00000"
    assert sources[0].files == tuple(str(folder / f"BraTS2021_00000{s}.nii.gz") for s in BRATS21)
    # Only the files load reads: channels not asked for are no inputs.
    dataset["channels"] = ["flair", "t1"]
    assert nifti.discover(dataset)[0].files == tuple(
        str(folder / f"BraTS2021_00000{s}.nii.gz") for s in ("_flair", "_t1", "_seg")
    )


def test_brats2021_load_values_and_geometry(tmp_path):
    dataset = brats21(tmp_path)
    raw = nifti.load(nifti.discover(dataset)[0], dataset)
    assert list(raw.images) == ["t1", "t1ce", "t2", "flair"]
    assert raw.oriented and raw.mask is None
    folder = tmp_path / "BraTS2021_00000"
    assert raw.paths == {
        **{c: str(folder / f"BraTS2021_00000_{c}.nii.gz") for c in ("t1", "t1ce", "t2", "flair")},
        "label": str(folder / "BraTS2021_00000_seg.nii.gz"),
    }
    for i, name in enumerate(raw.images):
        image = raw.images[name]
        assert image.GetPixelID() == sitk.sitkFloat32
        np.testing.assert_allclose(array_of(image), volume(i, value=100.0 + i))
        np.testing.assert_allclose(image.GetSpacing(), SPACING, rtol=1e-6)
        np.testing.assert_allclose(image.GetOrigin(), ORIGIN, atol=1e-5)
        np.testing.assert_allclose(image.GetDirection(), DIRECTION, atol=1e-6)
    assert raw.label.GetPixelID() == sitk.sitkInt32
    np.testing.assert_array_equal(array_of(raw.label), segmentation())
    check_subject(raw, dataset["classes"])


def test_nifti_voxels_and_geometry_match_simpleitk(tmp_path):
    # Voxels come from nibabel, the grid from SimpleITK's header read: an oblique qform/sform
    # and scaled int16 voxels must give what SimpleITK itself reads.
    angle = np.deg2rad(20)
    cos, sin = np.cos(angle), np.sin(angle)
    affine = np.array([[0.8 * cos, -sin, 0, -30], [0.8 * sin, cos, 0, 12], [0, 0, 2.5, 4], [0, 0, 0, 1]])
    data = np.random.default_rng(3).integers(0, 1000, SHAPE).astype(np.int16)
    image = nib.Nifti1Image(data, affine)
    image.header.set_slope_inter(0.5, 10.0)
    (tmp_path / "case").mkdir()
    nib.save(image, tmp_path / "case" / "t1.nii.gz")
    write(tmp_path / "case" / "seg.nii.gz", segmentation())
    dataset = {"root": str(tmp_path), "channels": ["t1"], "patterns": {"t1": "t1.nii.gz", "label": "seg.nii.gz"}}
    raw = nifti.load(nifti.discover(dataset)[0], dataset)
    expected = sitk.ReadImage(str(tmp_path / "case" / "t1.nii.gz"), sitk.sitkFloat32)
    np.testing.assert_allclose(array_of(raw.images["t1"]), data * 0.5 + 10.0)
    np.testing.assert_allclose(array_of(raw.images["t1"]), array_of(expected))
    for getter in ("GetSize", "GetSpacing", "GetOrigin", "GetDirection"):
        np.testing.assert_allclose(getattr(raw.images["t1"], getter)(), getattr(expected, getter)(), atol=1e-6)


def test_brats2023_naming(tmp_path):
    name = "BraTS-GLI-00005-000"
    make_subject(tmp_path, name, ("-t1n", "-t1c", "-t2w", "-t2f", "-seg"), label=segmentation((1, 2, 3)))
    dataset = {"root": str(tmp_path), "naming": "brats2023", "channels": ["t2f", "t1n"], "classes": [1, 2, 3]}
    (source,) = nifti.discover(dataset)
    assert source.subject == name and len(source.files) == 3
    raw = nifti.load(source, dataset)
    assert list(raw.images) == ["t2f", "t1n"]
    assert array_of(raw.images["t2f"])[SPOT] == 103.0 and array_of(raw.images["t1n"])[SPOT] == 100.0
    assert raw.paths["label"].endswith(f"{name}-seg.nii.gz")
    check_subject(raw, dataset["classes"])


def test_naming_presets_exported():
    assert set(nifti.NAMING) == {"brats2021", "brats2023", "custom"}
    assert nifti.NAMING["brats2021"]["t1ce"] == "*_t1ce.nii*"
    assert nifti.NAMING["brats2023"]["label"] == "*-seg.nii*"


def test_custom_patterns_with_subject_and_other_formats(tmp_path):
    # Folder names with glob characters and spaces; nrrd / mha files; a mask role.
    for name in ("sub[1]", "sub 2"):
        write(tmp_path / name / f"{name}_T1w.nrrd", volume(0))
        write(tmp_path / name / "other_T1w.nrrd", volume(9))  # not this subject's: never matched
        write(tmp_path / name / "anat" / "dseg.mha", segmentation())
        write(tmp_path / name / "brain.nii", (volume(3) > 0.2).astype(np.uint8))
    dataset = {
        "root": str(tmp_path),
        "channels": ["t1"],
        "classes": [1],
        "patterns": {"t1": "{subject}_T1w.nrrd", "label": "anat/dseg.mha", "mask": "brain.nii"},
    }
    sources = nifti.discover(dataset)
    assert [(s.subject, s.name) for s in sources] == [("sub_1", "sub[1]"), ("sub_2", "sub 2")]
    expected = ("sub[1]_T1w.nrrd", "anat/dseg.mha", "brain.nii")
    assert sources[0].files == tuple(str(tmp_path / "sub[1]" / f) for f in expected)
    raw = nifti.load(sources[0], dataset)
    assert raw.paths["t1"] == str(tmp_path / "sub[1]" / "sub[1]_T1w.nrrd")
    assert array_of(raw.images["t1"])[SPOT] == 100.0
    np.testing.assert_array_equal(array_of(raw.mask), volume(3) > 0.2)
    np.testing.assert_allclose(raw.mask.GetOrigin(), ORIGIN, atol=1e-5)
    check_subject(raw, dataset["classes"])


def test_patterns_override_preset(tmp_path):
    dataset = brats21(tmp_path, names=("case",), channels=["t1"])
    write(tmp_path / "case" / "case_seg_fixed.nii.gz", segmentation((1, 1)))
    dataset["patterns"] = {"label": "*_seg_fixed.nii.gz"}
    raw = nifti.load(nifti.discover(dataset)[0], dataset)
    assert raw.paths["label"].endswith("case_seg_fixed.nii.gz")
    np.testing.assert_array_equal(array_of(raw.label), segmentation((1, 1)))


def test_missing_pattern_is_a_config_error(tmp_path):
    dataset = brats21(tmp_path, channels=["t1", "pd"])
    with pytest.raises(ValueError, match=r"'pd'.*flair.*t1ce"):
        nifti.discover(dataset)
    with pytest.raises(ValueError, match="label"):
        nifti.discover({"root": str(tmp_path), "channels": ["t1"], "patterns": {"t1": "*_t1.nii.gz"}})
    with pytest.raises(ValueError, match="brats2019"):
        nifti.discover({**dataset, "naming": "brats2019"})


def test_discover_dataset_errors(tmp_path):
    (tmp_path / "data").mkdir()
    dataset = brats21(tmp_path / "data", names=())
    with pytest.raises(InputError, match="no subject folders") as err:
        nifti.discover(dataset)
    assert err.value.path == str(tmp_path / "data")
    with pytest.raises(InputError, match="not found"):
        nifti.discover({**dataset, "root": str(tmp_path / "absent")})
    for name in ("a b", "a_b"):
        make_subject(tmp_path / "data", name, BRATS21)
    with pytest.raises(InputError, match="both map to 'a_b'"):
        nifti.discover(dataset)


def test_discover_lists_broken_subjects(tmp_path):
    dataset = brats21(tmp_path, names=("ok", "broken"))
    (tmp_path / "broken" / "broken_t2.nii.gz").unlink()
    (tmp_path / "broken" / "broken_seg.nii.gz").write_bytes(b"garbage")
    sources = nifti.discover(dataset)
    assert [s.subject for s in sources] == ["broken", "ok"]
    assert len(sources[0].files) == 4 and len(sources[1].files) == 5
    with pytest.raises(InputError, match=r"broken: no file matches '\*_t2\.nii\*' for t2"):
        nifti.load(sources[0], dataset)


def test_discover_is_fast_for_many_subjects(tmp_path):
    for i in range(1000):
        folder = tmp_path / f"BraTS2021_{i:05d}"
        folder.mkdir()
        for suffix in ("_t1", "_t2", "_seg"):
            (folder / f"BraTS2021_{i:05d}{suffix}.nii.gz").touch()  # discover reads no image
    start = time.perf_counter()
    sources = nifti.discover({"root": str(tmp_path), "naming": "brats2021", "channels": ["t1", "t2"]})
    assert time.perf_counter() - start < 5
    assert len(sources) == 1000 and all(len(s.files) == 3 for s in sources)


def test_missing_channel_names_folder_and_pattern(tmp_path):
    dataset = brats21(tmp_path, names=("case",))
    (tmp_path / "case" / "case_t2.nii.gz").unlink()
    with pytest.raises(InputError, match=r"no file matches '\*_t2\.nii\*' for t2") as err:
        nifti.load(nifti.discover(dataset)[0], dataset)
    assert err.value.path == str(tmp_path / "case")
    assert str(tmp_path / "case") in str(err.value)


def test_ambiguous_pattern(tmp_path):
    dataset = brats21(tmp_path, names=("case",))
    write(tmp_path / "case" / "case_old_t1.nii.gz", volume(5))
    with pytest.raises(InputError, match="2 files match") as err:
        nifti.load(nifti.discover(dataset)[0], dataset)
    assert "case_old_t1.nii.gz" in str(err.value) and "case_t1.nii.gz" in str(err.value)
    assert err.value.path == str(tmp_path / "case")


@pytest.mark.parametrize("ext", [".nii.gz", ".nii"])
def test_truncated_nifti(tmp_path, ext):
    dataset = {**brats21(tmp_path, names=()), "naming": "custom", "channels": ["t1"]}
    make_subject(tmp_path, "case", ("_t1", "_seg"), ext=ext)
    dataset["patterns"] = {"t1": "*_t1.nii*", "label": "*_seg.nii*"}
    path = tmp_path / "case" / f"case_t1{ext}"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])  # header intact, voxels cut
    with pytest.raises(InputError, match="truncated") as err:
        nifti.load(nifti.discover(dataset)[0], dataset)
    assert err.value.path == str(path)


def test_unreadable_file(tmp_path):
    dataset = brats21(tmp_path, names=("case",))
    path = tmp_path / "case" / "case_seg.nii.gz"
    path.write_bytes(b"not an image")
    with pytest.raises(InputError, match="unreadable") as err:
        nifti.load(nifti.discover(dataset)[0], dataset)
    assert err.value.path == str(path)


@pytest.mark.parametrize("shape", [(12, 10), (12, 10, 8, 2)])
def test_2d_or_4d_nifti_where_3d_expected(tmp_path, shape):
    dataset = brats21(tmp_path, names=("case",))
    path = tmp_path / "case" / "case_flair.nii.gz"
    nib.save(nib.Nifti1Image(np.random.default_rng(0).random(shape, dtype=np.float32), np.eye(4)), path)
    with pytest.raises(InputError, match=f"{len(shape)}D image.*expected 3D") as err:
        nifti.load(nifti.discover(dataset)[0], dataset)
    assert err.value.path == str(path)


def test_label_map_and_values_outside_classes(tmp_path):
    dataset = brats21(tmp_path, names=("case",), channels=["t1"])
    write(tmp_path / "case" / "case_seg.nii.gz", segmentation((255, 128)))
    source = nifti.discover(dataset)[0]
    raw = nifti.load(source, {**dataset, "label_map": {"255": 1, 128: 2}})
    np.testing.assert_array_equal(array_of(raw.label), segmentation((1, 2)))
    check_subject(raw, [1, 2])
    # Without the map, 255 survives as Int32 and check_subject names the label file.
    raw = nifti.load(source, {**dataset, "label_map": {}})
    assert array_of(raw.label).max() == 255
    with pytest.raises(InputError, match=r"label values \[128, 255\] are outside") as err:
        check_subject(raw, [1])
    assert err.value.path == str(tmp_path / "case" / "case_seg.nii.gz")


def test_non_integer_label(tmp_path):
    dataset = brats21(tmp_path, names=("case",), channels=["t1"])
    write(tmp_path / "case" / "case_seg.nii.gz", segmentation().astype(np.float32) * 0.5)
    with pytest.raises(InputError, match="non-integer") as err:
        nifti.load(nifti.discover(dataset)[0], dataset)
    assert err.value.path.endswith("case_seg.nii.gz")


def test_nan_voxel_found_by_check_subject(tmp_path):
    dataset = brats21(tmp_path, names=("case",), channels=["t1", "t2"])
    array = volume(0)
    array[1, 1, 1] = np.nan
    path = write(tmp_path / "case" / "case_t2.nii.gz", array)
    raw = nifti.load(nifti.discover(dataset)[0], dataset)
    with pytest.raises(InputError, match="t2 has 1 NaN") as err:
        check_subject(raw, dataset["classes"])
    assert err.value.path == path


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"array": volume(1)[:, :, :6]}, "shape"),
        ({"origin": (0.0, 0.0, 0.0)}, "origin"),
        ({"spacing": (1.0, 1.0, 1.0)}, "spacing"),
        ({"direction": (1.0, 0, 0, 0, 1, 0, 0, 0, 1)}, "direction"),
    ],
)
def test_channel_grid_mismatch_found_by_check_subject(tmp_path, change, problem):
    dataset = brats21(tmp_path, names=("case",), channels=["t1", "flair"])
    path = write(tmp_path / "case" / "case_flair.nii.gz", change.pop("array", volume(1)), **change)
    raw = nifti.load(nifti.discover(dataset)[0], dataset)
    with pytest.raises(InputError, match=f"flair: {problem}") as err:
        check_subject(raw, dataset["classes"])
    assert err.value.path == path


def test_empty_label_is_valid(tmp_path):
    dataset = brats21(tmp_path, names=("case",))
    write(tmp_path / "case" / "case_seg.nii.gz", np.zeros(SHAPE, np.uint8))
    raw = nifti.load(nifti.discover(dataset)[0], dataset)
    assert not array_of(raw.label).any()
    check_subject(raw, dataset["classes"])


@pytest.mark.realdata
def test_real_brats_like():
    root = SHARED / "brats_like"
    if not root.is_dir():
        pytest.skip(f"{root} not present")
    dataset = {
        "root": str(root),
        "naming": "custom",
        "channels": ["t1", "t2"],
        "classes": [1, 2, 4],
        "patterns": {"t1": "*_t1_bet.nii.gz", "t2": "*_t2_bet.nii.gz", "label": "*_seg_fusion.nii.gz"},
    }
    sources = nifti.discover(dataset)
    assert [s.subject for s in sources] == ["OtherEXampleFromTCIA", "TCGA-DU-7294"]
    raw = nifti.load(sources[1], dataset)
    assert raw.images["t1"].GetSize() == (240, 240, 155) == raw.label.GetSize()
    assert set(np.unique(array_of(raw.label))) <= {0, 1, 2, 4}
    check_subject(raw, dataset["classes"])


# --- split subfolders (dataset.groups), subjects without labels ------------------------------


def test_split_subfolders_are_groups(tmp_path):
    """deepmedic's BraTS sample: train/ validation/ test/, each with subject folders."""
    for group, names in {"train": ["s1", "s2"], "validation": ["s3"], "test": ["s1"]}.items():
        for name in names:
            make_subject(tmp_path / group, name, BRATS21)
    dataset = {"root": str(tmp_path), "naming": "brats2021", "channels": ["t1", "t2"], "classes": [1]}
    with pytest.raises(InputError, match="set dataset.groups"):
        nifti.discover(dataset)  # the split folders hold no files: no subject
    dataset["groups"] = True
    sources = nifti.discover(dataset)
    assert [(s.subject, s.name, s.group) for s in sources] == [
        ("test_s1", "test/s1", "test"), ("train_s1", "train/s1", "train"), ("train_s2", "train/s2", "train"),
        ("validation_s3", "validation/s3", "validation"),
    ]
    assert sources[0].files[0] == str(tmp_path / "test" / "s1" / "s1_t1.nii.gz")
    raw = nifti.load(sources[0], dataset)  # {subject} in patterns is the folder name "s1"
    assert raw.subject == "test_s1" and raw.paths["t2"] == str(tmp_path / "test" / "s1" / "s1_t2.nii.gz")
    check_subject(raw, [1])


def test_subjects_without_label_files(tmp_path):
    """A BraTS 2023 case without -seg, or AURORA: usable with labels: false."""
    for name in ("BraTS-GLI-00001-000", "BraTS-GLI-00002-000"):
        for i, suffix in enumerate(("-t1n", "-t2w")):
            write(tmp_path / name / f"{name}{suffix}.nii.gz", volume(i, value=100.0 + i))
    dataset = {"root": str(tmp_path), "naming": "brats2023", "channels": ["t1n", "t2w"], "classes": [1]}
    with pytest.raises(InputError, match=r"no file matches '\*-seg\.nii\*' for label"):
        nifti.load(nifti.discover(dataset)[0], dataset)
    dataset["labels"] = False
    sources = nifti.discover(dataset)
    assert [len(s.files) for s in sources] == [2, 2]
    raw = nifti.load(sources[0], dataset)
    assert raw.label is None and set(raw.paths) == {"t1n", "t2w"}
    assert array_of(raw.images["t2w"])[SPOT] == 101.0
    check_subject(raw, [1])
    # A label file that is there is not read either: labels: false means none.
    write(tmp_path / sources[0].name / f"{sources[0].name}-seg.nii.gz", segmentation() * 9)
    assert nifti.load(nifti.discover(dataset)[0], dataset).label is None
