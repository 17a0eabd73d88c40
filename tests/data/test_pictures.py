"""The picture readers shared by ``image_pairs`` and ``multichannel_slices``."""

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from radsynth.data.pictures import channel_planes, is_picture, mask_plane, picture_spacing, read_picture
from radsynth.io import InputError


def test_is_picture():
    assert is_picture("benign (1).PNG") and is_picture("a.tiff")
    assert not is_picture("._a.png") and not is_picture("a.nii.gz")


def test_read_picture_planes_and_stacks(tmp_path):
    rgba = np.random.default_rng(0).integers(0, 255, (5, 7, 4), dtype=np.uint8)
    iio.imwrite(tmp_path / "a.png", rgba)
    np.testing.assert_array_equal(read_picture(str(tmp_path / "a.png")), rgba)
    tifffile.imwrite(tmp_path / "stack.tif", np.zeros((3, 5, 7), np.uint8), photometric="minisblack")
    with pytest.raises(InputError, match=r"3D picture \(3 pages"):
        read_picture(str(tmp_path / "stack.tif"))
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match="unreadable or truncated picture"):
        read_picture(str(tmp_path / "bad.png"))


def test_channel_planes():
    rgba = np.random.default_rng(0).integers(0, 255, (5, 7, 4), dtype=np.uint8)
    planes = channel_planes("a.png", rgba, ["r", "g", "b"])  # alpha dropped
    assert len(planes) == 3 and all(p.dtype == np.float32 for p in planes)
    np.testing.assert_array_equal(planes[1], rgba[..., 1])
    (grey,) = channel_planes("a.png", rgba, ["grey"])
    assert grey.shape == (5, 7) and grey.max() > 1  # the scale is kept
    with pytest.raises(InputError, match=r"3 colour plane\(s\) \(RGB, alpha dropped\) but 2 channel"):
        channel_planes("a.png", rgba, ["t1", "t2"])


def test_mask_plane():
    grey = np.array([[0, 255], [255, 0]], np.uint8)
    mask = mask_plane("m.png", np.stack([grey] * 3, axis=-1))
    assert mask.dtype == np.int32
    np.testing.assert_array_equal(mask, grey)
    with pytest.raises(InputError, match="colour planes that differ"):
        mask_plane("m.png", np.stack([grey, grey, 255 - grey], axis=-1))
    with pytest.raises(InputError, match="not whole numbers"):
        mask_plane("m.tif", np.array([[0.0, 0.5]]))


def test_picture_spacing():
    assert picture_spacing({}) == [1.0, 1.0, 1.0]
    assert picture_spacing({"spacing": [0.5, 0.6]}) == [0.5, 0.6, 1.0]
