"""The ``multichannel_slices`` adapter: 2D slices with modalities as colour planes (Kaggle LGG)."""

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import SimpleITK as sitk
import tifffile

from radsynth.data import slices
from radsynth.data.base import array_of, check_subject
from radsynth.io import InputError

REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "lgg_kaggle3m"
CHANNELS = ["t1", "flair", "t1c"]
ROWS, COLS = 6, 5


def rgb_slice(number: int, rows=ROWS, cols=COLS) -> np.ndarray:
    """Planes (t1, flair, t1c) = 10n+1, 10n+2, 10n+3, and a marker 200 at row 1, column 3."""
    out = np.empty((rows, cols, 3), np.uint8)
    out[:] = [10 * number + 1, 10 * number + 2, 10 * number + 3]
    out[1, 3] = 200
    return out


def mask(rows=ROWS, cols=COLS) -> np.ndarray:
    out = np.zeros((rows, cols), np.uint8)
    out[4, 2] = 255
    return out


def write_tif(path: Path, array) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, array, photometric="rgb" if np.shape(array)[-1] == 3 else "minisblack")
    return path


def patient(root: Path, name: str, numbers=range(1, 12)) -> Path:
    """An LGG-style patient folder: ``<name>/<name>_<n>.tif`` and ``<name>_<n>_mask.tif``."""
    for n in numbers:
        write_tif(root / name / f"{name}_{n}.tif", rgb_slice(n))
        write_tif(root / name / f"{name}_{n}_mask.tif", mask())
    return root / name


def dataset(root: Path, **extra) -> dict:
    return {"root": str(root), "channels": CHANNELS, "classes": [1], "label_map": {255: 1}, **extra}


def load(root: Path, subject: str, **extra):
    data = dataset(root, **extra)
    source = next(s for s in slices.discover(data) if s.subject == subject)
    return slices.load(source, data)


def test_discover_groups_sorts_and_ignores(tmp_path):
    patient(tmp_path, "P2", [1, 2])
    patient(tmp_path, "P1")
    patient(tmp_path / "nested", "pat (3)", [5])
    write_tif(tmp_path / "P1" / "readme.tif", mask())  # no slice number: ignored
    write_tif(tmp_path / "P1" / ".P1_99.tif", mask())  # hidden: ignored
    (tmp_path / "P1" / "P1_12.txt").write_text("not a picture")
    sources = slices.discover(dataset(tmp_path))
    assert [(s.subject, s.name) for s in sources] == [("P1", "P1"), ("P2", "P2"), ("pat_3", "pat (3)")]
    names = [Path(f).name for f in sources[0].files]
    assert len(names) == 22 and names[:4] == ["P1_1.tif", "P1_1_mask.tif", "P1_2.tif", "P1_2_mask.tif"]
    assert names[-2:] == ["P1_11.tif", "P1_11_mask.tif"]  # numeric, not lexical
    assert sources[2].files == (str(tmp_path / "nested" / "pat (3)" / "pat (3)_5.tif"),
                                str(tmp_path / "nested" / "pat (3)" / "pat (3)_5_mask.tif"))


def test_load_stacks_in_numeric_order(tmp_path):
    patient(tmp_path, "P1")
    raw = load(tmp_path, "P1", spacing=[0.9, 0.8, 3.0])
    assert raw.info["slices"] == list(range(1, 12))
    for index, name in enumerate(CHANNELS):
        image = raw.images[name]
        assert image.GetSize() == (COLS, ROWS, 11) and image.GetPixelID() == sitk.sitkFloat32
        assert image.GetSpacing() == (0.9, 0.8, 3.0)
        values = array_of(image)
        # Plane i of slice n holds 10n + i + 1: z follows 1, 2, ..., 9, 10, 11.
        np.testing.assert_array_equal(values[0, 0], [10 * n + index + 1 for n in range(1, 12)])
        assert (values[3, 1] == 200).all()  # row 1, column 3 -> index (3, 1, z)
    label = array_of(raw.label)
    assert raw.label.GetPixelID() == sitk.sitkInt32 and (label[2, 4] == 1).all() and label.sum() == 11
    assert raw.oriented is False
    assert raw.paths == {**{c: str(tmp_path / "P1") for c in CHANNELS}, "label": str(tmp_path / "P1")}
    check_subject(raw, [1])


def test_custom_pattern_grey_slices(tmp_path):
    for n in (3, 20, 100):
        iio.imwrite(tmp_path / f"case01-slice{n:03d}.png", np.full((4, 4), n, np.uint8) + np.eye(4, dtype=np.uint8))
        iio.imwrite(tmp_path / f"case01-slice{n:03d}-seg.png", np.zeros((4, 4), np.uint8))
    iio.imwrite(tmp_path / "overview.png", np.zeros((4, 4), np.uint8))
    raw = load(tmp_path, "case01", channels=["ct"],
               subject_pattern=r"(?P<subject>case\d+)-slice(?P<slice>\d+)", mask_suffix="-seg")
    assert raw.info["slices"] == [3, 20, 100]
    np.testing.assert_array_equal(array_of(raw.images["ct"])[0, 1], [3, 20, 100])
    check_subject(raw, [1])  # all-zero masks are valid


def test_rgb_to_grey_with_one_channel(tmp_path):
    patient(tmp_path, "P1", [1])
    raw = load(tmp_path, "P1", channels=["mri"])
    expected = 0.2125 * 11 + 0.7154 * 12 + 0.0721 * 13
    assert array_of(raw.images["mri"])[0, 0, 0] == pytest.approx(expected, rel=1e-5)


def test_label_outside_classes_without_label_map(tmp_path):
    patient(tmp_path, "P1", [1, 2])
    raw = load(tmp_path, "P1", label_map=None)
    with pytest.raises(InputError, match=r"\[255\] are outside the declared classes"):
        check_subject(raw, [1])


def test_discover_survives_a_broken_subject(tmp_path):
    patient(tmp_path, "P1", [1])
    patient(tmp_path, "P2", [1, 2])
    (tmp_path / "P2" / "P2_2.tif").write_bytes(b"II*\x00 truncated")
    (tmp_path / "P2" / "P2_1_mask.tif").unlink()
    assert [s.subject for s in slices.discover(dataset(tmp_path))] == ["P1", "P2"]
    check_subject(load(tmp_path, "P1"), [1])
    with pytest.raises(InputError, match=r"mask not found: expected .*P2_1_mask\.tif") as err:
        load(tmp_path, "P2")
    assert err.value.path == str(tmp_path / "P2" / "P2_1.tif")
    write_tif(tmp_path / "P2" / "P2_1_mask.tif", mask())
    with pytest.raises(InputError, match="unreadable or truncated") as err:
        load(tmp_path, "P2")
    assert err.value.path == str(tmp_path / "P2" / "P2_2.tif")


def test_mask_without_slice_and_duplicate_slice(tmp_path):
    patient(tmp_path, "P1", [1])
    write_tif(tmp_path / "P1" / "P1_2_mask.tif", mask())
    with pytest.raises(InputError, match="mask without its slice 2") as err:
        load(tmp_path, "P1")
    assert err.value.path == str(tmp_path / "P1" / "P1_2_mask.tif")
    patient(tmp_path, "P2", [1])
    write_tif(tmp_path / "copy" / "P2_1.tif", rgb_slice(1))
    with pytest.raises(InputError, match="slice 1 of P2 is also"):
        load(tmp_path, "P2")


def test_slice_size_mismatch_names_the_odd_file(tmp_path):
    patient(tmp_path, "P1", [1, 2, 3])
    write_tif(tmp_path / "P1" / "P1_2.tif", rgb_slice(2, rows=7))
    with pytest.raises(InputError, match=r"shape \(7, 5\) differs from \(6, 5\)") as err:
        load(tmp_path, "P1")
    assert err.value.path == str(tmp_path / "P1" / "P1_2.tif")
    write_tif(tmp_path / "P1" / "P1_2.tif", rgb_slice(2))
    write_tif(tmp_path / "P1" / "P1_3_mask.tif", mask(cols=4))
    with pytest.raises(InputError, match="differs") as err:
        load(tmp_path, "P1")
    assert err.value.path == str(tmp_path / "P1" / "P1_3_mask.tif")


def test_picture_errors(tmp_path):
    patient(tmp_path, "P1", [1])
    with pytest.raises(InputError, match=r"3 colour plane\(s\) \(RGB\) but 2 channel"):
        load(tmp_path, "P1", channels=["t1", "flair"])
    write_tif(tmp_path / "P1" / "P1_1.tif", np.stack([mask(), mask()]))  # two pages
    with pytest.raises(InputError, match="where a 2D picture is expected"):
        load(tmp_path, "P1")


@pytest.mark.parametrize("case, match", [
    ("no root", "not found"), ("nothing matches", "no picture whose name matches"),
    ("no groups", "needs named groups"), ("bad regex", "not a regular expression"),
    ("same id", "both map to"),
])
def test_discover_dataset_errors(tmp_path, case, match):
    write_tif(tmp_path / "a" / "scan.tif", mask())
    extra, root = {}, tmp_path
    if case == "no root":
        root = tmp_path / "absent"
    elif case == "no groups":
        extra = {"subject_pattern": r"(.+)_(\d+)"}
    elif case == "bad regex":
        extra = {"subject_pattern": r"(?P<subject>.+"}
    elif case == "same id":
        patient(tmp_path, "a b", [1])
        patient(tmp_path, "a_b", [1])
    with pytest.raises(InputError, match=match):
        slices.discover(dataset(root, **extra))


@pytest.mark.realdata
@pytest.mark.skipif(not REAL.is_dir(), reason="shared LGG data absent")
def test_real_lgg():
    data = {"root": str(REAL), "channels": CHANNELS, "label_map": {255: 1}, "classes": [1]}
    sources = slices.discover(data)
    assert len(sources) == 6 and all(s.subject.startswith("TCGA_") for s in sources)
    raw = slices.load(sources[0], data)
    n_slices = len(sources[0].files) // 2
    assert raw.info["slices"] == sorted(raw.info["slices"]) and len(raw.info["slices"]) == n_slices
    for name in CHANNELS:
        assert raw.images[name].GetSize() == (256, 256, n_slices)
    check_subject(raw, data["classes"])
    assert array_of(raw.label).max() == 1  # this patient has tumour


def test_groups_and_slices_without_masks(tmp_path):
    patient(tmp_path / "train", "P1", [1, 2])
    patient(tmp_path / "test", "P2", [1])
    data = dataset(tmp_path, groups=True)
    sources = slices.discover(data)
    assert [(s.subject, s.name, s.group) for s in sources] == [("test_P2", "test/P2", "test"),
                                                               ("train_P1", "train/P1", "train")]
    assert slices.load(sources[1], data).info["slices"] == [1, 2]
    for path in tmp_path.rglob("*_mask.tif"):
        path.unlink()
    data = dataset(tmp_path, labels=False)
    (source,) = [s for s in slices.discover(data) if s.subject == "P1"]
    assert [Path(f).name for f in source.files] == ["P1_1.tif", "P1_2.tif"]
    raw = slices.load(source, data)
    assert raw.label is None and "label" not in raw.paths and raw.images["t1"].GetSize() == (COLS, ROWS, 2)
    check_subject(raw, [1])
