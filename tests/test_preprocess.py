from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from radsynth.data.base import RawSubject, array_of, image_from_array, label_image, read_image
from radsynth.io import InputError, read_nifti, write_nifti
from radsynth.preprocess import (
    affine_of,
    crop_or_pad,
    foreground_mask,
    foreground_slices,
    normalise_intensity,
    preprocess_subject,
    window_around_foreground,
)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_normalise_maps_percentiles_to_unit_range_and_background_to_minus_one():
    image = np.zeros((10, 10), np.float32)
    image[2:8, 2:8] = np.linspace(100, 200, 36).reshape(6, 6)
    mask = image > 0
    out = normalise_intensity(image, mask, percentiles=(0, 100))
    assert out[~mask].tolist() == [-1.0] * int((~mask).sum())
    assert out[mask].min() == pytest.approx(-1.0)
    assert out[mask].max() == pytest.approx(1.0)
    assert out.dtype == np.float32


def test_normalise_clips_outliers():
    image = np.ones((20, 20), np.float32)
    image[0, 0] = 1e6
    out = normalise_intensity(image + np.arange(400).reshape(20, 20), np.ones((20, 20)), (1, 99))
    assert out.max() <= 1.0 and out.min() >= -1.0


def test_crop_or_pad_crops_and_pads_with_fill():
    array = np.arange(16).reshape(4, 4)
    out = crop_or_pad(array, start=(-1, 2), size=(3, 3), fill=-7)
    assert out.tolist() == [[-7, -7, -7], [2, 3, -7], [6, 7, -7]]


def test_crop_or_pad_keeps_trailing_axes():
    out = crop_or_pad(np.ones((5, 5, 3)), start=(0, 0), size=(8, 2), fill=0)
    assert out.shape == (8, 2, 3)
    assert out[5:].sum() == 0


def test_window_is_centred_on_foreground():
    mask = np.zeros((20, 20), np.uint8)
    mask[10:14, 2:6] = 1
    assert window_around_foreground(mask, (8, 8)) == [8, 0]


def test_foreground_mask_finds_the_object():
    image = np.zeros((30, 30), np.float32)
    image[5:20, 5:20] = 10
    image[10:12, 10:12] = 0  # a hole is filled
    mask = foreground_mask([image])
    assert mask[5:20, 5:20].all() and mask.sum() == 15 * 15


def test_foreground_slices():
    mask = np.zeros((4, 4, 3))
    mask[:, :, 1] = 1
    mask[0, 0, 2] = 1
    assert foreground_slices(mask, 0.5).tolist() == [1]
    assert foreground_slices(mask, 0.01).tolist() == [1, 2]


# --- preprocess_subject ---------------------------------------------------------------------

RAS = np.diag([-1.0, -1.0, 1.0])  # SimpleITK (LPS) direction of an image whose axes point R, A, S


def _sitk(array, spacing=(1.0, 1.0, 1.0), direction=RAS, origin=(0.0, 0.0, 0.0), pixel=sitk.sitkFloat32):
    image = sitk.Cast(image_from_array(array, spacing), pixel)
    image.SetDirection(np.asarray(direction, dtype=float).ravel().tolist())
    image.SetOrigin(origin)
    return image


def _raw(images, label, mask=None, oriented=True, **geometry):
    paths = {name: f"/data/{name}.nii.gz" for name in [*images, "label", "mask"]}
    return RawSubject(
        "s1",
        {name: _sitk(array, **geometry) for name, array in images.items()},
        _sitk(label, pixel=sitk.sitkInt32, **geometry),
        paths,
        mask=None if mask is None else _sitk(mask, pixel=sitk.sitkUInt8, **geometry),
        oriented=oriented,
    )


def _head(shape=(40, 30, 6), seed=0):
    """An ellipse of texture (the head), a blob inside (the label), zero background."""
    x, y = np.meshgrid(np.linspace(-1, 1, shape[0]), np.linspace(-1, 1, shape[1]), indexing="ij")
    inside = ((x - 0.2) / 0.6) ** 2 + ((y + 0.1) / 0.7) ** 2 < 1
    mask = np.repeat(inside[..., None], shape[2], axis=2).astype(np.uint8)
    image = np.random.default_rng(seed).uniform(10, 20, shape).astype(np.float32) * mask
    label = (((x - 0.3) ** 2 + y**2 < 0.05)[..., None] & (mask > 0)).astype(np.uint8)
    return image, label, mask


def _world(affine, index):
    return (np.asarray(affine) @ [*index, 1.0])[:3]


@pytest.mark.parametrize("given_mask", [True, False], ids=["mask", "otsu"])
def test_phantom_numbers_are_those_of_the_old_steps(tmp_path, given_mask):
    from radsynth.data.phantom import make_subject

    phantom = make_subject(0, seed=3, shape=(36, 40, 6), contrasts=("t1", "t2"))
    paths = {name: str(tmp_path / f"{name}.nii.gz") for name in ("t1", "t2", "label", "mask")}
    for name in ("t1", "t2"):
        write_nifti(paths[name], phantom.images[name], phantom.affine)
    write_nifti(paths["label"], phantom.lesion, phantom.affine)
    write_nifti(paths["mask"], phantom.mask, phantom.affine)
    raw = RawSubject(
        "phantom_000",
        {name: read_image(paths[name]) for name in ("t1", "t2")},
        label_image(read_image(paths["label"], np.float64), paths["label"], None),
        paths,
        mask=read_image(paths["mask"]) if given_mask else None,
    )
    size = (32, 48)

    subject = preprocess_subject(raw, size=size)

    # the old preprocess_subject, step by step, on the files as nibabel reads them
    images = {name: read_nifti(paths[name])[0] for name in ("t1", "t2")}
    affine = read_nifti(paths["t1"])[1]
    mask = read_nifti(paths["mask"], np.uint8)[0] if given_mask else foreground_mask(list(images.values()))
    start = window_around_foreground(mask, size)
    for name, image in images.items():
        expected = crop_or_pad(normalise_intensity(image, mask), start, size, -1.0)
        np.testing.assert_array_equal(subject.images[name], expected)
        assert subject.images[name].dtype == np.float32
    np.testing.assert_array_equal(subject.label, crop_or_pad(read_nifti(paths["label"], np.uint8)[0], start, size, 0))
    np.testing.assert_array_equal(subject.mask, crop_or_pad(mask, start, size, 0))
    assert subject.label.dtype == subject.mask.dtype == np.uint8
    shift = np.eye(4)
    shift[:2, 3] = start
    np.testing.assert_allclose(subject.affine, affine @ shift, atol=1e-5)


@pytest.mark.parametrize(
    "direction",
    [np.eye(3), RAS, np.array([[0.0, 1, 0], [0, 0, -1], [-1, 0, 0]])],
    ids=["LPS", "RAS", "permuted-flipped"],
)
def test_reorientation_to_ras_keeps_world_content(direction):
    image = np.zeros((8, 7, 6), np.float32)
    image[1, 5, 4] = 100.0  # the bright voxel
    image[2:6, 2:6, 1:5] += 1.0
    raw = _raw({"t1": image}, np.zeros_like(image), np.ones(image.shape), direction=direction, origin=(5.0, -3.0, 2.0))

    subject = preprocess_subject(raw, normalise="none")

    assert nib.aff2axcodes(subject.affine) == ("R", "A", "S")
    assert sorted(subject.images["t1"].shape) == sorted(image.shape)  # all foreground: no crop
    found = np.argwhere(subject.images["t1"] == 100.0)
    assert len(found) == 1
    before = _world(affine_of(raw.images["t1"]), (1, 5, 4))
    np.testing.assert_allclose(_world(subject.affine, found[0]), before, atol=1e-9)


def test_unoriented_pictures_are_not_reoriented():
    image, label, mask = _head((30, 20, 1))
    raw = _raw({"us": image}, label, mask, oriented=False, direction=np.eye(3))
    subject = preprocess_subject(raw, normalise="none")
    low, high = np.argwhere(mask).min(axis=0), np.argwhere(mask).max(axis=0) + 1
    np.testing.assert_array_equal(subject.mask, mask[low[0] : high[0], low[1] : high[1]])  # the ellipse's box
    assert nib.aff2axcodes(subject.affine) == ("L", "P", "S")


def test_registration_aligns_the_other_channels_to_the_reference():
    from scipy import ndimage

    shape = (40, 36, 24)
    noise = ndimage.gaussian_filter(np.random.default_rng(1).normal(size=shape), 2)
    t1 = (noise - noise.min()).astype(np.float32)
    raw = _raw({"t1": t1, "t2": -t1}, np.zeros(shape), np.ones(shape), spacing=(2.0, 2.0, 2.5))
    motion = sitk.Euler3DTransform(raw.images["t1"].TransformContinuousIndexToPhysicalPoint([20, 18, 12]))
    motion.SetRotation(0.03, 0.0, 0.12)
    motion.SetTranslation((5.0, -4.0, 2.5))
    raw.images["t2"] = sitk.Resample(raw.images["t2"], motion, sitk.sitkLinear, float(-t1.max()))

    subject = preprocess_subject(raw, register_to="t1", normalise="none")

    def correlation(a, b):  # inner part: outside the moved volume nothing can be recovered
        return -float(np.corrcoef(a[6:-6, 6:-6, 4:-4].ravel(), b[6:-6, 6:-6, 4:-4].ravel())[0, 1])

    assert correlation(array_of(raw.images["t2"]), t1) < 0.6
    np.testing.assert_array_equal(subject.images["t1"], t1)  # the reference is not resampled
    assert correlation(subject.images["t2"], t1) > 0.95


def test_resampling_to_in_plane_spacing_keeps_slice_spacing_and_label_values():
    image, label, mask = _head((40, 30, 6))
    label = label * 2  # class 2 must stay 2 (nearest neighbour)
    raw = _raw({"t1": image}, label, spacing=(1.0, 1.0, 3.0), origin=(10.0, 20.0, 30.0))

    for interpolation in ("linear", "bspline"):
        subject = preprocess_subject(
            raw, spacing=(0.5, 2.0), interpolation=interpolation, normalise="none", size=(80, 16)
        )
        assert subject.images["t1"].shape == (80, 16, 6)
        np.testing.assert_allclose(nib.affines.voxel_sizes(subject.affine), [0.5, 2.0, 3.0])
        assert set(np.unique(subject.label)) == {0, 2}
        assert image.min() <= subject.images["t1"].min() and subject.images["t1"].max() <= image.max()
    assert subject.label.sum() > 0
    # the crop is centred on the foreground; the label blob stays at its world position
    before = affine_of(raw.images["t1"]) @ [*np.argwhere(label).mean(axis=0), 1.0]
    after = subject.affine @ [*np.argwhere(subject.label).mean(axis=0), 1.0]
    np.testing.assert_allclose(after, before, atol=1.0)


def test_crop_without_size_is_the_foreground_bounding_box():
    image, label, mask = _head((40, 30, 6))
    mask[:, :, :2] = 0
    raw = _raw({"t1": image}, label, mask, spacing=(1.0, 1.5, 3.0))
    subject = preprocess_subject(raw)
    found = np.argwhere(mask)
    low, high = found.min(axis=0), found.max(axis=0) + 1
    assert subject.mask.shape == tuple(high - low)
    for axis in range(3):  # the foreground touches every face of the box
        ends = np.moveaxis(subject.mask, axis, 0)
        assert ends[0].any() and ends[-1].any()
    np.testing.assert_allclose(_world(subject.affine, (0, 0, 0)), _world(affine_of(raw.images["t1"]), low))


def test_resize_fits_a_picture_of_any_size_onto_the_grid():
    image, label, mask = _head((50, 30, 1))
    image[20:24, 10:14] = 0  # a hole in the picture: filled by the 2D foreground mask
    raw = _raw({"us": image}, label, oriented=False, direction=np.eye(3), spacing=(0.2, 0.3, 1.0))

    subject = preprocess_subject(raw, size=(25, 60), fit="resize")

    assert subject.images["us"].shape == subject.label.shape == subject.mask.shape == (25, 60, 1)
    np.testing.assert_allclose(nib.affines.voxel_sizes(subject.affine), [0.4, 0.15, 1.0])
    # the outer corners of the field of view stay where they were
    old, new = affine_of(raw.images["us"]), subject.affine
    np.testing.assert_allclose(_world(new, (-0.5, -0.5, 0)), _world(old, (-0.5, -0.5, 0)))
    np.testing.assert_allclose(_world(new, (24.5, 59.5, 0)), _world(old, (49.5, 29.5, 0)))
    assert subject.mask[10:14, 27:33].all()  # the hole, filled
    assert set(np.unique(subject.label)) == {0, 1}
    assert subject.images["us"][subject.mask == 0].max() == -1.0


def test_zscore_and_none_normalisation():
    image, label, mask = _head((40, 30, 4))
    image = (image + 5.0 * mask - 3.0).astype(np.float32)  # background -3: the minimum pads "none"
    raw = _raw({"t1": image}, label, mask)
    for mode, fill in (("zscore", 0.0), ("none", -3.0)):
        subject = preprocess_subject(raw, normalise=mode, size=(48, 24))
        values, inside = subject.images["t1"], subject.mask > 0
        assert values.dtype == np.float32
        assert (values[:4] == fill).all()  # padding: the window is wider than the grid
        if mode == "zscore":
            assert abs(values[inside].mean()) < 1e-5 and values[inside].std() == pytest.approx(1.0, abs=1e-5)
            assert (values[~inside] == 0).all()
        else:
            np.testing.assert_array_equal(np.sort(values[inside]), np.sort(image[mask > 0]))


def test_slice_axis_goes_last_with_world_positions_unchanged():
    image, label, mask = _head((40, 30, 6))
    image[8, 12, 2] = 1000.0
    raw = _raw({"t1": image}, label, mask, spacing=(1.0, 1.5, 3.0), origin=(3.0, 4.0, 5.0))

    subject = preprocess_subject(raw, slice_axis=0, size=(20, 8), normalise="none")

    assert subject.images["t1"].shape == (20, 8, 40)  # (Y, Z) cropped in-plane, X whole and last
    found = np.argwhere(subject.images["t1"] == 1000.0)[0]
    np.testing.assert_allclose(_world(subject.affine, found), _world(affine_of(raw.images["t1"]), (8, 12, 2)))


@pytest.mark.parametrize(
    "options, message",
    [
        ({"interpolation": "cubic"}, "interpolation"),
        ({"fit": "stretch"}, "fit"),
        ({"normalise": "minmax"}, "normalise"),
        ({"orientation": "RAX"}, "orientation"),
        ({"register_to": "t2"}, "register_to"),
        ({"size": (32,)}, "size"),
        ({"size": (32, 0)}, "size"),
        ({"fit": "resize"}, "resize"),
        ({"spacing": (1.0, -1.0)}, "spacing"),
        ({"percentiles": (99, 1)}, "percentiles"),
        ({"slice_axis": 3}, "slice_axis"),
    ],
)
def test_bad_options_are_config_errors(options, message):
    image, label, mask = _head((10, 10, 2))
    with pytest.raises(ValueError, match=message) as error:
        preprocess_subject(_raw({"t1": image}, label, mask), **options)
    assert not isinstance(error.value, InputError)


def test_no_foreground_is_an_input_error_naming_the_file():
    empty = np.zeros((10, 10, 2), np.float32)
    with pytest.raises(InputError, match="t1.nii.gz") as error:
        preprocess_subject(_raw({"t1": empty, "t2": empty}, empty))
    assert "foreground" in error.value.reason
    with pytest.raises(InputError, match="mask.nii.gz"):
        preprocess_subject(_raw({"t1": empty + 1}, empty, mask=empty))


def test_foreground_choices_when_the_dataset_gives_no_mask():
    from radsynth.data.base import RawSubject, image_from_array

    values = np.zeros((24, 20, 3), np.float32)
    values[4:20, 5:15] = np.linspace(1, 50, 16 * 10 * 3).reshape(16, 10, 3)
    values[10:12, 8:10] = 0  # a dark spot inside: "nonzero" leaves it out, otsu fills it
    label = np.zeros(values.shape, np.int32)
    raw = RawSubject("s", {"a": image_from_array(values)}, image_from_array(label), {"a": "a.nii", "label": "l.nii"})
    everything = preprocess_subject(raw, foreground="all", orientation=None)
    assert everything.mask.all() and everything.mask.shape == (24, 20, 3)
    nonzero = preprocess_subject(raw, foreground="nonzero", orientation=None)
    assert nonzero.mask.shape == (16, 10, 3)  # cropped to the non-zero box
    assert nonzero.mask.sum() == 16 * 10 * 3 - 2 * 2 * 3
    with pytest.raises(ValueError, match="unknown foreground"):
        preprocess_subject(raw, foreground="magic")


# --- letterboxed pictures, label-centred crops, subjects without label -----------------------


def _picture_pair(tmp_path, rows=70, cols=90):
    """A grey picture with a disc of radius 20 (its lesion) and the disc's 0/255 mask."""
    import imageio.v3 as iio

    r, c = np.mgrid[:rows, :cols]
    disc = (r - 35) ** 2 + (c - 50) ** 2 <= 20**2
    picture = np.random.default_rng(0).integers(60, 200, (rows, cols)).astype(np.uint8)
    picture[disc] = 30
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    iio.imwrite(tmp_path / "images" / "p.png", picture)
    iio.imwrite(tmp_path / "masks" / "p.png", (disc * 255).astype(np.uint8))
    return {"kind": "image_pairs", "root": str(tmp_path), "channels": ["us"], "classes": [1], "label_map": {"255": 1}}


def _extent(array, axis):
    """Voxels between the first and last non-zero index along ``axis`` (inclusive)."""
    found = np.flatnonzero(np.moveaxis(np.asarray(array) > 0, axis, 0).reshape(array.shape[axis], -1).any(axis=1))
    return int(found[-1] - found[0] + 1)


def test_pictures_are_letterboxed_with_square_pixels(tmp_path):
    from radsynth.data import discover, load_subject

    dataset = _picture_pair(tmp_path)
    raw = load_subject(discover(dataset)[0], dataset)
    assert raw.images["us"].GetSize() == (90, 70, 1)  # x along the 90 columns

    subject = preprocess_subject(raw, size=(64, 64), foreground="all")  # fit "auto": letterbox

    assert subject.images["us"].shape == subject.label.shape == subject.mask.shape == (64, 64, 1)
    dx, dy, _ = nib.affines.voxel_sizes(subject.affine)
    assert dx == pytest.approx(dy) == pytest.approx(90 / 64)  # square: the long side fills 64
    # The picture covers 64 x 70 * 64 / 90 = 49.8 pixels, centred, the rest is padding.
    assert (_extent(subject.mask, 0), _extent(subject.mask, 1)) == (64, 50)
    assert subject.mask[:, :7].sum() == 0 and subject.mask[:, -7:].sum() == 0
    assert (subject.images["us"][subject.mask == 0] == -1).all()
    # The round lesion stays round: 41 pixels across in both directions, times 64 / 90.
    across = [_extent(subject.label, axis) for axis in (0, 1)]
    # Nearest-neighbour sampling: within a pixel or so of 41 * 64 / 90 = 29.2 both ways.
    assert across == pytest.approx([41 * 64 / 90] * 2, abs=1.5) and abs(across[0] - across[1]) <= 1
    assert subject.label_kept == 1.0 and subject.warning == ""
    # Outer corners of the picture keep their world position along x, the long side.
    old = affine_of(raw.images["us"])
    np.testing.assert_allclose(_world(subject.affine, (-0.5, 0, 0))[0], _world(old, (-0.5, 0, 0))[0], atol=1e-6)

    # fit "resize" stays available: the picture fills the square, pixels stretched per axis.
    stretched = preprocess_subject(raw, size=(64, 64), foreground="all", fit="resize")
    np.testing.assert_allclose(nib.affines.voxel_sizes(stretched.affine)[:2], [90 / 64, 70 / 64])
    assert stretched.mask.all()
    assert _extent(stretched.label, 1) - _extent(stretched.label, 0) >= 5  # the disc, squashed (29 x 35)
    # And a picture with its own (anisotropic) pixel size gets square pixels in mm.
    raw.images["us"].SetSpacing((0.5, 1.0, 1.0))
    raw.label.SetSpacing((0.5, 1.0, 1.0))
    wide = preprocess_subject(raw, size=(64, 64), foreground="all", fit="letterbox")
    dx, dy, _ = nib.affines.voxel_sizes(wide.affine)
    assert dx == pytest.approx(dy) == pytest.approx(70 / 64)  # 70 mm tall, 45 mm wide
    assert _extent(wide.mask, 1) == 64 and _extent(wide.mask, 0) == pytest.approx(45 * 64 / 70, abs=1)


def _off_centre(shape=(60, 50, 12)):
    """A volume larger than the crop, all foreground, with a label block near one corner."""
    image = np.random.default_rng(2).uniform(1, 2, shape).astype(np.float32)
    label = np.zeros(shape, np.uint8)
    label[40:56, 4:20, 3:9] = 1  # 16 x 16 x 6, off the image centre (30, 25)
    return image, label


def test_crop_centred_on_the_label_keeps_all_of_it():
    image, label = _off_centre()
    raw = _raw({"t1": image}, label, np.ones(image.shape), direction=np.eye(3), oriented=False)

    centred = preprocess_subject(raw, size=(32, 32), normalise="none")
    assert centred.label.sum() < label.sum()
    assert centred.label_kept == pytest.approx(centred.label.sum() / label.sum()) and centred.label_kept < 1
    assert "keeps" in centred.warning and "crop_centre: label" in centred.warning

    around = preprocess_subject(raw, size=(32, 32), normalise="none", crop_centre="label")
    assert around.label.shape == (32, 32, 12) and around.label.sum() == label.sum()
    assert around.label_kept == 1.0 and around.warning == ""
    # The window stays inside the image (x 28..60, y 0..32): no padding, real voxels only.
    np.testing.assert_allclose(_world(around.affine, (0, 0, 0)), _world(affine_of(raw.images["t1"]), (28, 0, 0)))
    np.testing.assert_array_equal(around.images["t1"], image[28:60, 0:32])
    # Three values crop every axis; a label larger than the window is cut and says so.
    small = preprocess_subject(raw, size=(12, 12, 12), normalise="none", crop_centre="label")
    assert small.label_kept == pytest.approx(12 * 12 * 6 / (16 * 16 * 6))
    assert "a larger preprocess.size" in small.warning
    # An empty label falls back to the foreground.
    empty = preprocess_subject(_raw({"t1": image}, 0 * label, np.ones(image.shape)), size=(32, 32),
                               crop_centre="label", normalise="none")
    assert empty.label_kept == 1.0 and empty.images["t1"].shape == (32, 32, 12)


@pytest.mark.realdata
@pytest.mark.skipif(not (SHARED / "la2018_h5").is_dir(), reason="shared LA data absent")
def test_shared_la_cases_keep_every_label_voxel_with_the_la_presets():
    import yaml

    from radsynth.data import discover, load_subject

    presets = Path(__file__).resolve().parents[1] / "config" / "experiments"
    dataset = {"kind": "h5", "root": str(SHARED / "la2018_h5"), "case_list": "cases.list", "channels": ["mri"],
               "classes": [1], "spacing": [0.625, 0.625, 0.625]}
    raws = [load_subject(source, dataset) for source in discover(dataset)]
    assert len(raws) == 12
    for preset in ("la2018_h5", "dtc_la_cpu", "dtc_la"):
        options = yaml.safe_load((presets / f"{preset}.yaml").read_text())["preprocess"]
        options.pop("min_foreground")
        assert options["crop_centre"] == "label"
        kept = {raw.subject: preprocess_subject(raw, **options).label_kept for raw in raws}
        assert set(kept.values()) == {1.0}, (preset, kept)
    # The old centred 112 x 112 crop cut every one of them.
    old = {"orientation": None, "foreground": "all", "size": (112, 112), "normalise": "none"}
    assert max(preprocess_subject(raw, **old).label_kept for raw in raws) < 1


def test_subjects_without_label_files_are_preprocessed_without_label(tmp_path):
    from radsynth.data import discover, load_subject

    for name in ("c1", "c2"):
        for i, channel in enumerate(("t1", "t2")):
            image, _, _ = _head((40, 30, 6), seed=i)
            write_nifti(tmp_path / name / f"{name}_{channel}.nii.gz", image + 10 * i, np.eye(4))
    dataset = {"kind": "nifti", "root": str(tmp_path), "channels": ["t1", "t2"], "classes": [1], "labels": False,
               "patterns": {"t1": "*_t1.nii.gz", "t2": "*_t2.nii.gz"}}
    raw = load_subject(discover(dataset)[0], dataset)
    assert raw.label is None
    for fit, options in (("crop", {"size": (32, 32)}), ("crop", {}), ("resize", {"size": (20, 20)})):
        subject = preprocess_subject(raw, fit=fit, **options)
        assert subject.label is None and subject.label_kept is None and subject.warning == ""
        assert subject.mask.any() and subject.images["t2"].shape == subject.mask.shape
    # The foreground comes from the images: the ellipse of _head, cropped to its box.
    _, _, head = _head((40, 30, 6))
    np.testing.assert_array_equal(preprocess_subject(raw).mask, head[np.ix_(*[np.flatnonzero(head.any(
        axis=tuple(a for a in range(3) if a != k))) for k in range(3)])])
    moved = preprocess_subject(raw, slice_axis=0, size=(16, 4))
    assert moved.label is None and moved.images["t1"].shape == (16, 4, 40)


def test_a_label_outside_the_foreground_box_is_reported():
    image, label = _off_centre()
    inside = np.zeros(image.shape, np.uint8)
    inside[10:50, 10:40] = 1  # the given foreground cuts the label block (x 40..56, y 4..20)
    subject = preprocess_subject(_raw({"t1": image}, label, inside), normalise="none")
    assert subject.label.shape == (40, 30, 12)
    assert subject.label_kept == pytest.approx(10 * 10 / (16 * 16))
    assert "crop the foreground's box" in subject.warning and "another preprocess.foreground" in subject.warning
