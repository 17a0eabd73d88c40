"""The readers shared by the adapters: ``read_image`` and ``label_image``."""

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from radsynth.data.base import array_of, image_from_array, label_image, read_image
from radsynth.io import InputError


def test_read_image_keeps_nifti_nan_and_header_geometry(tmp_path):
    array = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    array[1, 2, 3] = np.nan  # SimpleITK 2.5 alone would read 0
    path = str(tmp_path / "a.nii.gz")
    nib.save(nib.Nifti1Image(array, np.diag([2.0, 3.0, 4.0, 1.0])), path)
    image = read_image(path)
    assert image.GetPixelID() == sitk.sitkFloat32
    assert image.GetSpacing() == (2.0, 3.0, 4.0)
    assert np.isnan(array_of(image)[1, 2, 3])
    np.testing.assert_array_equal(array_of(image)[0], array[0])


def test_read_image_other_formats_dtype_and_dimensions(tmp_path):
    path = str(tmp_path / "a.mha")
    sitk.WriteImage(image_from_array(np.ones((4, 5), np.int16), (0.5, 2.0)), path)
    with pytest.raises(InputError, match=r"is a 2D image of size \(4, 5\); expected 3D") as err:
        read_image(path)
    assert err.value.path == path
    image = read_image(path, np.float64, dimensions=(2, 3))
    assert image.GetPixelID() == sitk.sitkFloat64 and image.GetSpacing() == (0.5, 2.0)
    with pytest.raises(ValueError, match="float32 or float64"):
        read_image(path, np.int32)
    with pytest.raises(InputError, match="unreadable"):
        read_image(str(tmp_path / "missing.nrrd"))


def test_label_image_from_an_image_keeps_its_geometry():
    image = image_from_array(np.array([[[0.0], [255.0]], [[2.0], [1.0]]]), (0.5, 0.7, 3.0))
    image.SetOrigin((1.0, 2.0, 3.0))
    label = label_image(image, "l.nii.gz", {255: 1})
    assert label.GetPixelID() == sitk.sitkInt32
    assert label.GetSpacing() == image.GetSpacing() and label.GetOrigin() == image.GetOrigin()
    np.testing.assert_array_equal(array_of(label)[..., 0], [[0, 1], [2, 1]])
    with pytest.raises(ValueError, match="spacing is for arrays"):
        label_image(image, "l.nii.gz", None, spacing=(1.0, 1.0, 1.0))


def test_label_image_from_an_array_and_non_integer_values():
    label = label_image(np.array([[[0], [255]]], np.uint8), "m.png", {"255": 1}, spacing=(0.5, 0.5, 1.0))
    assert label.GetSize() == (1, 2, 1) and label.GetSpacing() == (0.5, 0.5, 1.0)
    np.testing.assert_array_equal(array_of(label).ravel(), [0, 1])
    with pytest.raises(InputError, match=r"non-integer values \(e.g. 0.5\)") as err:
        label_image(np.array([[[0.0, 0.5]]]), "l.h5", None)
    assert err.value.path == "l.h5"
