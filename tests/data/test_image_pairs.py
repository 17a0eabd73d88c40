"""The ``image_pairs`` adapter: one 2D picture and one mask per subject (BUSI layout)."""

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import SimpleITK as sitk
import tifffile

from radsynth.data import image_pairs
from radsynth.data.base import array_of, check_subject
from radsynth.io import InputError

REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "busi"


def write(path: Path, array) -> str:
    """Write a picture, TIFs with tifffile, the rest with imageio."""
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.asarray(array)
    if path.suffix.lower() in (".tif", ".tiff"):
        tifffile.imwrite(path, array, photometric="rgb" if array.ndim == 3 and array.shape[-1] >= 3 else None)
    else:
        iio.imwrite(path, array)
    return str(path)


def picture(rows=5, cols=7, planes=None, seed=0) -> np.ndarray:
    shape = (rows, cols) if planes is None else (rows, cols, planes)
    return np.random.default_rng(seed).integers(1, 250, shape, dtype=np.uint8)


def mask(rows=5, cols=7) -> np.ndarray:
    out = np.zeros((rows, cols), np.uint8)
    out[1:3, 2:5] = 255
    return out


def dataset(root: Path, **extra) -> dict:
    return {"root": str(root), "channels": ["us"], "classes": [1], "label_map": {255: 1}, **extra}


def load_one(root: Path, **extra):
    data = dataset(root, **extra)
    (source,) = image_pairs.discover(data)
    return image_pairs.load(source, data), data


def test_discover_sorted_safe_ids_and_files(tmp_path):
    write(tmp_path / "images" / "benign (10).png", picture())
    write(tmp_path / "images" / "benign (2).png", picture(6, 4, 3))
    write(tmp_path / "images" / "malignant (1).JPG", picture(8, 8))
    write(tmp_path / "images" / ".hidden.png", picture())
    (tmp_path / "images" / "notes.txt").write_text("not a picture")
    write(tmp_path / "masks" / "benign (10).png", mask())
    write(tmp_path / "masks" / "benign (2).tif", mask(6, 4))
    # "malignant (1)" has no mask: listed anyway, load reports it.
    sources = image_pairs.discover(dataset(tmp_path))
    assert [s.subject for s in sources] == ["benign_10", "benign_2", "malignant_1"]
    assert [s.name for s in sources] == ["benign (10)", "benign (2)", "malignant (1)"]
    assert sources[0].files == (str(tmp_path / "images" / "benign (10).png"),
                                str(tmp_path / "masks" / "benign (10).png"))
    assert sources[1].files[1] == str(tmp_path / "masks" / "benign (2).tif")
    assert sources[2].files == (str(tmp_path / "images" / "malignant (1).JPG"),)


def test_discover_mask_suffix_in_the_images_folder(tmp_path):
    folder = tmp_path / "all"
    write(folder / "a.png", picture())
    write(folder / "a_mask.png", mask())
    write(folder / "b.tif", picture())
    write(folder / "b_mask.bmp", mask())
    sources = image_pairs.discover(dataset(tmp_path, images="all", masks="all", mask_suffix="_mask"))
    assert [(s.subject, [Path(f).name for f in s.files]) for s in sources] == [
        ("a", ["a.png", "a_mask.png"]), ("b", ["b.tif", "b_mask.bmp"])]
    raw = image_pairs.load(sources[1], dataset(tmp_path, images="all", masks="all", mask_suffix="_mask"))
    assert raw.paths["label"] == str(folder / "b_mask.bmp")
    with pytest.raises(InputError, match="mask_suffix"):
        image_pairs.discover(dataset(tmp_path, images="all", masks="all"))


@pytest.mark.parametrize("case, match", [
    ("no root", "not found"), ("no images", "not found"), ("no pictures", "no pictures"),
    ("same id", "both map to"), ("same stem", "share the name"),
])
def test_discover_dataset_errors(tmp_path, case, match):
    (tmp_path / "masks").mkdir()
    (tmp_path / "images").mkdir()
    root = tmp_path
    if case == "no root":
        root = tmp_path / "absent"
    elif case == "no images":
        (tmp_path / "images").rmdir()
    elif case == "same id":
        write(tmp_path / "images" / "a b.png", picture())
        write(tmp_path / "images" / "a_b.png", picture())
    elif case == "same stem":
        write(tmp_path / "images" / "a.png", picture())
        write(tmp_path / "images" / "a.tif", picture())
    with pytest.raises(InputError, match=match):
        image_pairs.discover(dataset(root))


def test_orientation_spacing_and_types(tmp_path):
    image = np.full((5, 7), 10, np.uint8)
    image[1, 4] = 200  # row 1, column 4
    label = np.zeros((5, 7), np.uint8)
    label[3, 6] = 255
    write(tmp_path / "images" / "case (1).png", image)
    write(tmp_path / "masks" / "case (1).png", label)
    raw, data = load_one(tmp_path, spacing=[0.5, 0.7])
    us = raw.images["us"]
    assert us.GetSize() == (7, 5, 1) and us.GetPixelID() == sitk.sitkFloat32
    assert us.GetSpacing() == (0.5, 0.7, 1.0) and raw.label.GetSpacing() == (0.5, 0.7, 1.0)
    assert array_of(us)[4, 1, 0] == 200 and array_of(raw.label)[6, 3, 0] == 1
    assert raw.label.GetPixelID() == sitk.sitkInt32
    assert raw.oriented is False and raw.subject == "case_1"
    assert raw.paths == {"us": str(tmp_path / "images" / "case (1).png"),
                         "label": str(tmp_path / "masks" / "case (1).png")}
    check_subject(raw, data["classes"])


def test_rgb_to_grey_or_planes_to_channels(tmp_path):
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[0, 0] = 255  # white
    rgb[1, 2, 0] = 255  # pure red
    rgb[2, 3] = (10, 20, 30)
    write(tmp_path / "images" / "a.png", rgb)
    write(tmp_path / "masks" / "a.png", mask(4, 6))
    raw, _ = load_one(tmp_path)
    grey = array_of(raw.images["us"])[..., 0]
    # Same scale as a grey file: white stays 255, red is weighted by 0.2125.
    assert grey[0, 0] == pytest.approx(255) and grey[2, 1] == pytest.approx(0.2125 * 255, rel=1e-4)
    raw, _ = load_one(tmp_path, channels=["r", "g", "b"])
    assert [array_of(raw.images[c])[3, 2, 0] for c in "rgb"] == [10, 20, 30]
    assert set(raw.paths) == {"r", "g", "b", "label"}


def test_rgba_drops_alpha_and_identical_mask_planes_collapse(tmp_path):
    rgba = np.concatenate([picture(4, 6, 3), np.full((4, 6, 1), 128, np.uint8)], axis=-1)
    write(tmp_path / "images" / "a.png", rgba)
    write(tmp_path / "masks" / "a.png", np.repeat(mask(4, 6)[..., None], 4, axis=-1))
    raw, _ = load_one(tmp_path, channels=["r", "g", "b"])
    np.testing.assert_array_equal(array_of(raw.images["b"])[..., 0], rgba[..., 2].T)
    np.testing.assert_array_equal(array_of(raw.label)[..., 0], (mask(4, 6) // 255).T)
    raw, _ = load_one(tmp_path)  # one channel: RGBA to grey
    assert raw.images["us"].GetSize() == (6, 4, 1)


def test_planar_rgb_tif(tmp_path):
    rgb = picture(planes=3)
    path = tmp_path / "images" / "a.tif"
    path.parent.mkdir()
    tifffile.imwrite(path, np.moveaxis(rgb, -1, 0), photometric="rgb", planarconfig="separate")
    write(tmp_path / "masks" / "a.png", mask())
    raw, _ = load_one(tmp_path, channels=["r", "g", "b"])
    np.testing.assert_array_equal(array_of(raw.images["g"])[..., 0], rgb[..., 1].T)


def test_formats_and_sizes_differ_per_image(tmp_path):
    for name, shape in [("a.jpg", (9, 5)), ("b.tif", (4, 6, 3)), ("c.bmp", (7, 3)), ("d.TIFF", (5, 5))]:
        write(tmp_path / "images" / name, picture(*shape))
        write(tmp_path / "masks" / (Path(name).stem + ".png"), mask(*shape[:2]))
    data = dataset(tmp_path)
    sizes = [image_pairs.load(s, data).images["us"].GetSize() for s in image_pairs.discover(data)]
    assert sizes == [(5, 9, 1), (6, 4, 1), (3, 7, 1), (5, 5, 1)]


def test_label_map_and_check_subject(tmp_path):
    write(tmp_path / "images" / "a.png", picture())
    write(tmp_path / "masks" / "a.png", mask())
    raw, data = load_one(tmp_path, label_map={"255": 1})
    assert set(np.unique(array_of(raw.label))) == {0, 1}
    check_subject(raw, data["classes"])
    # Without label_map the 255 survives (Int32) and check_subject names the mask.
    raw, data = load_one(tmp_path, label_map=None)
    assert array_of(raw.label).max() == 255
    with pytest.raises(InputError, match=r"outside the declared classes") as err:
        check_subject(raw, data["classes"])
    assert err.value.path == str(tmp_path / "masks" / "a.png")


def test_empty_mask_is_valid_but_constant_image_is_not(tmp_path):
    write(tmp_path / "images" / "a.png", picture())
    write(tmp_path / "masks" / "a.png", np.zeros((5, 7), np.uint8))
    raw, data = load_one(tmp_path)
    check_subject(raw, data["classes"])
    write(tmp_path / "images" / "a.png", np.full((5, 7), 40, np.uint8))
    raw, data = load_one(tmp_path)
    with pytest.raises(InputError, match="is empty") as err:
        check_subject(raw, data["classes"])
    assert err.value.path == str(tmp_path / "images" / "a.png")


def test_size_mismatch_is_reported_on_the_mask(tmp_path):
    write(tmp_path / "images" / "a.png", picture(5, 7))
    write(tmp_path / "masks" / "a.png", mask(5, 8))
    raw, data = load_one(tmp_path)
    with pytest.raises(InputError, match="shape") as err:
        check_subject(raw, data["classes"])
    assert err.value.path == str(tmp_path / "masks" / "a.png")


def test_missing_mask(tmp_path):
    write(tmp_path / "images" / "benign (3).png", picture())
    (tmp_path / "masks").mkdir()
    with pytest.raises(InputError, match=r"expected .*benign \(3\)_mask\.png") as err:
        load_one(tmp_path, mask_suffix="_mask")
    assert err.value.path == str(tmp_path / "images" / "benign (3).png")


def test_unreadable_and_truncated_pictures(tmp_path):
    good = tmp_path / "good.png"
    write(good, picture(40, 40))
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(good.read_bytes()[:60])
    write(tmp_path / "masks" / "a.png", mask(40, 40))
    with pytest.raises(InputError, match="unreadable or truncated") as err:
        load_one(tmp_path)
    assert err.value.path == str(tmp_path / "images" / "a.png")
    write(tmp_path / "images" / "a.png", picture(40, 40))
    (tmp_path / "masks" / "a.png").write_bytes(b"not a picture")
    with pytest.raises(InputError, match="unreadable or truncated") as err:
        load_one(tmp_path)
    assert err.value.path == str(tmp_path / "masks" / "a.png")


def test_multi_page_tif_where_2d_expected(tmp_path):
    path = tmp_path / "images" / "a.tif"
    path.parent.mkdir()
    pages = np.stack([picture(seed=i) for i in range(3)])  # (pages, rows, cols)
    tifffile.imwrite(path, pages, photometric="minisblack")
    write(tmp_path / "masks" / "a.png", mask())
    with pytest.raises(InputError, match=r"3D .* where a 2D picture is expected") as err:
        load_one(tmp_path)
    assert err.value.path == str(path)
    # Pages written one by one are separate TIF series, of which imageio reads the first.
    tifffile.imwrite(path, picture())
    tifffile.imwrite(path, picture(), append=True)
    with pytest.raises(InputError, match="2 pages"):
        load_one(tmp_path)


@pytest.mark.parametrize("planes, channels, match", [
    (3, ["t1", "t2"], r"has 3 colour plane\(s\) \(RGB\) but 2 channel"),
    (4, ["t1", "t2"], r"has 3 colour plane\(s\) \(RGB, alpha dropped\) but 2 channel"),
    (None, ["r", "g", "b"], r"has 1 colour plane\(s\) \(grey\) but 3 channel"),
])
def test_planes_and_channels_mismatch(tmp_path, planes, channels, match):
    write(tmp_path / "images" / "a.png", picture(planes=planes))
    write(tmp_path / "masks" / "a.png", mask())
    with pytest.raises(InputError, match=match) as err:
        load_one(tmp_path, channels=channels)
    assert err.value.path == str(tmp_path / "images" / "a.png")


def test_rgb_mask_with_different_planes(tmp_path):
    write(tmp_path / "images" / "a.png", picture())
    colour = np.repeat(mask()[..., None], 3, axis=-1)
    colour[0, 0, 1] = 7
    write(tmp_path / "masks" / "a.png", colour)
    with pytest.raises(InputError, match="planes that differ") as err:
        load_one(tmp_path)
    assert err.value.path == str(tmp_path / "masks" / "a.png")


@pytest.mark.realdata
@pytest.mark.skipif(not REAL.is_dir(), reason="shared BUSI data absent")
def test_real_busi():
    data = {"root": str(REAL), "channels": ["us"], "label_map": {255: 1}, "classes": [1]}
    sources = image_pairs.discover(data)
    assert len(sources) == 80 and "benign_10" in {s.subject for s in sources}
    by_id = {s.subject: s for s in sources}
    benign = by_id["benign_10"]
    malignant = next(s for s in sources if s.subject.startswith("malignant"))
    for source in (benign, malignant):
        raw = image_pairs.load(source, data)
        check_subject(raw, data["classes"])
        size = raw.images["us"].GetSize()
        assert size[2] == 1 and raw.label.GetSize() == size
        assert set(np.unique(array_of(raw.label))) <= {0, 1}
    assert benign.name == "benign (10)" and raw.paths["label"].endswith(".png")


# --- several masks per picture, class folders, pictures without masks ------------------------


def lesion(rows, cols, box) -> np.ndarray:
    """A 0/255 mask with one rectangular lesion ``box = (r0, r1, c0, c1)``."""
    out = np.zeros((rows, cols), np.uint8)
    out[box[0] : box[1], box[2] : box[3]] = 255
    return out


FIRST, SECOND = (1, 3, 1, 3), (5, 8, 6, 9)  # two lesions of one 10x12 picture, apart


def expected_union() -> np.ndarray:
    return ((lesion(10, 12, FIRST) | lesion(10, 12, SECOND)) // 255).T[..., None]


def test_several_masks_beside_the_pictures_are_merged(tmp_path):
    """The original BUSI release: benign (4)_mask.png and benign (4)_mask_1.png."""
    folder = tmp_path / "busi"
    write(folder / "benign (4).png", picture(10, 12))
    write(folder / "benign (4)_mask.png", lesion(10, 12, FIRST))
    write(folder / "benign (4)_mask_1.png", lesion(10, 12, SECOND))
    write(folder / "benign (5).png", picture(10, 12, seed=1))
    write(folder / "benign (5)_mask.png", lesion(10, 12, FIRST))
    data = dataset(tmp_path, images="busi", masks="busi", mask_suffix="_mask")
    sources = image_pairs.discover(data)
    # The _mask_1 file is no subject of its own.
    assert [s.subject for s in sources] == ["benign_4", "benign_5"]
    assert [Path(f).name for f in sources[0].files] == ["benign (4).png", "benign (4)_mask.png",
                                                        "benign (4)_mask_1.png"]
    raw = image_pairs.load(sources[0], data)
    np.testing.assert_array_equal(array_of(raw.label), expected_union())
    assert raw.paths["label"] == str(folder / "benign (4)_mask.png")
    assert raw.info["masks"] == [str(folder / "benign (4)_mask.png"), str(folder / "benign (4)_mask_1.png")]
    check_subject(raw, data["classes"])


def test_several_masks_in_a_separate_folder_are_merged(tmp_path):
    write(tmp_path / "images" / "benign (4).png", picture(10, 12))
    write(tmp_path / "masks" / "benign (4)_mask.png", lesion(10, 12, FIRST))
    write(tmp_path / "masks" / "benign (4)_mask_1.png", lesion(10, 12, SECOND))
    raw, data = load_one(tmp_path, mask_suffix="_mask")
    np.testing.assert_array_equal(array_of(raw.label), expected_union())
    assert array_of(raw.label).sum() == 2 * 2 + 3 * 3  # both lesions, nothing else
    check_subject(raw, data["classes"])


def test_further_masks_without_suffix_and_an_exact_name_wins(tmp_path):
    write(tmp_path / "images" / "a.png", picture(10, 12))
    write(tmp_path / "images" / "a_2.png", picture(10, 12, seed=2))
    write(tmp_path / "masks" / "a.png", lesion(10, 12, FIRST))
    write(tmp_path / "masks" / "a_1.png", lesion(10, 12, SECOND))
    write(tmp_path / "masks" / "a_2.png", lesion(10, 12, SECOND))  # picture a_2's own mask
    data = dataset(tmp_path)
    first, second = image_pairs.discover(data)
    assert [Path(f).name for f in first.files[1:]] == ["a.png", "a_1.png"]
    assert [Path(f).name for f in second.files[1:]] == ["a_2.png"]
    np.testing.assert_array_equal(array_of(image_pairs.load(first, data).label), expected_union())


def test_merged_masks_map_labels_first_and_name_the_odd_mask(tmp_path):
    write(tmp_path / "images" / "a.png", picture(10, 12))
    write(tmp_path / "masks" / "a_m.png", lesion(10, 12, FIRST) // 255 * 7)  # raw value 7 -> class 2
    write(tmp_path / "masks" / "a_m_1.png", lesion(10, 12, SECOND))
    raw, _ = load_one(tmp_path, mask_suffix="_m", label_map={255: 1, 7: 2}, classes=[1, 2])
    label = array_of(raw.label)[..., 0].T
    assert (label[1:3, 1:3] == 2).all() and (label[5:8, 6:9] == 1).all() and (label > 0).sum() == 13
    with pytest.raises(InputError, match=r"label values \[7\] are outside") as err:
        load_one(tmp_path, mask_suffix="_m", label_map={255: 1})
    assert err.value.path == str(tmp_path / "masks" / "a_m.png")
    write(tmp_path / "masks" / "a_m_1.png", lesion(10, 13, SECOND))
    with pytest.raises(InputError, match=r"mask shape \(10, 13\) differs from \(10, 12\)") as err:
        load_one(tmp_path, mask_suffix="_m", label_map={255: 1, 7: 2}, classes=[1, 2])
    assert err.value.path == str(tmp_path / "masks" / "a_m_1.png")
    write(tmp_path / "masks" / "a_m_1.tif", lesion(10, 12, SECOND))
    with pytest.raises(InputError, match="two files for one mask"):
        load_one(tmp_path, mask_suffix="_m", label_map={255: 1, 7: 2}, classes=[1, 2])


def busi_class_folders(root: Path) -> None:
    """The original BUSI download: a folder per class, pictures and masks side by side."""
    for group, stems in {"benign": ["benign (1)", "benign (4)"], "malignant": ["malignant (1)"],
                         "normal": ["normal (1)"]}.items():
        for i, stem in enumerate(stems):
            write(root / group / f"{stem}.png", picture(10, 12, seed=i))
            write(root / group / f"{stem}_mask.png", lesion(10, 12, FIRST) if group != "normal" else mask(10, 12) * 0)
    write(root / "benign" / "benign (4)_mask_1.png", lesion(10, 12, SECOND))


def test_class_folders_become_groups(tmp_path):
    busi_class_folders(tmp_path)
    (tmp_path / ".trash").mkdir()  # hidden: no group
    data = dataset(tmp_path, images=".", masks=".", mask_suffix="_mask", groups=True)
    sources = image_pairs.discover(data)
    assert [(s.subject, s.name, s.group) for s in sources] == [
        ("benign_benign_1", "benign/benign (1)", "benign"),
        ("benign_benign_4", "benign/benign (4)", "benign"),
        ("malignant_malignant_1", "malignant/malignant (1)", "malignant"),
        ("normal_normal_1", "normal/normal (1)", "normal"),
    ]
    assert sources[1].local_name == "benign (4)" and len(sources[1].files) == 3
    raw = image_pairs.load(sources[1], data)
    np.testing.assert_array_equal(array_of(raw.label), expected_union())
    assert raw.subject == "benign_benign_4"
    # A list picks folders; one that is absent is named.
    listed = image_pairs.discover({**data, "groups": ["malignant", "normal"]})
    assert [s.group for s in listed] == ["malignant", "normal"]
    with pytest.raises(InputError, match="group folder not found") as err:
        image_pairs.discover({**data, "groups": ["benign", "cancer"]})
    assert err.value.path == str(tmp_path / "cancer")
    (tmp_path / "benign" / "benign (1)_mask.png").unlink()
    with pytest.raises(InputError, match=r"mask not found: expected .*benign/benign \(1\)_mask\.png"):
        image_pairs.load(image_pairs.discover(data)[0], data)


def test_pictures_without_masks_with_labels_false(tmp_path):
    write(tmp_path / "images" / "a.png", picture())
    write(tmp_path / "images" / "b.png", picture(seed=3))
    data = dataset(tmp_path, labels=False)  # no masks folder at all
    sources = image_pairs.discover(data)
    assert [s.files for s in sources] == [(str(tmp_path / "images" / "a.png"),),
                                          (str(tmp_path / "images" / "b.png"),)]
    raw = image_pairs.load(sources[0], data)
    assert raw.label is None and "label" not in raw.paths and raw.pictures
    check_subject(raw, data["classes"])
    with pytest.raises(InputError, match="dataset folder not found"):
        image_pairs.discover(dataset(tmp_path))  # labels wanted: the masks folder is needed
