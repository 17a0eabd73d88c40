import h5py
import numpy as np
import pytest

from radsynth.io import InputError
from radsynth.recon.data import evenly, fastmri_slices, foreground_rows, packed_slices, slice_seed


def packed(n=6, size=16):
    image = -np.ones((n, 2, size, size), np.float32)
    image[:, 1, 4:12, 4:12] = 0.5  # tissue in channel "t2" only ...
    image[0, 1] = -1  # ... except an empty edge slice
    return {"image": image, "channels": np.array(["t1", "t2"]), "subject": np.array(["a"] * 3 + ["b"] * 3),
            "slice": np.arange(n)}


def test_packed_slices_simulate_one_channels_kspace_and_skip_empty_slices():
    slices = packed_slices(packed(), "t2", min_foreground=0.1)
    assert slices.slice.tolist() == [1, 2, 3, 4, 5]
    assert slices.image.shape == (5, 2, 16, 16)
    assert np.allclose(slices.target[:, 4:12, 4:12], 0.75, atol=1e-6)  # (0.5 + 1) / 2
    assert np.allclose(slices.target[:, :4], 0.0)
    assert slices.cases()[0] == "a:1"
    assert packed_slices(packed(), "t2", limit=2).slice.tolist() == [1, 5]


def test_packed_slices_errors_name_the_file():
    with pytest.raises(InputError, match=r"train.npz: has channels \['t1', 't2'\], not recon.channel 'flair'"):
        packed_slices(packed(), "flair", source="train.npz")
    with pytest.raises(InputError, match="train.npz: has no slice with 10% tissue"):
        packed_slices(packed(), "t1", source="train.npz")


def test_slice_seeds_depend_only_on_the_slices_name():
    assert slice_seed("a", 3) == slice_seed("a", 3) != slice_seed("a", 4)
    assert foreground_rows(np.zeros((2, 4, 4)), 0.1).tolist() == []
    assert evenly(np.arange(10), 3).tolist() == [0, 4, 9] and evenly(np.arange(3), None).tolist() == [0, 1, 2]


def write_fastmri(path, slices=12, kspace_shape=(48, 40), crop=(32, 32), seed=0):
    """A file in fastMRI's single-coil layout: raw k-space (centred) and the cropped ESC target."""
    rng = np.random.default_rng(seed)
    image = rng.random((slices, *kspace_shape)) * np.exp(1j * rng.random((slices, *kspace_shape)))
    kspace = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(image, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))
    top, left = (kspace_shape[0] - crop[0]) // 2, (kspace_shape[1] - crop[1]) // 2
    cropped = image[:, top:top + crop[0], left:left + crop[1]]
    target = np.abs(cropped) * 1.5  # fastMRI's ESC has its own scale
    with h5py.File(path, "w") as f:
        f.create_dataset("kspace", data=kspace.astype(np.complex64))
        f.create_dataset("reconstruction_esc", data=target.astype(np.float32))
        f.attrs["max"] = float(target.max())
        f.attrs["acquisition"] = "CORPD_FBK"
    return cropped, target


def test_fastmri_adapter_reads_the_single_coil_layout(tmp_path):
    cropped, target = write_fastmri(tmp_path / "file1000001.h5")
    slices = fastmri_slices([tmp_path / "file1000001.h5"], drop_edge=5)
    assert slices.slice.tolist() == [5, 6] and set(slices.subject) == {"file1000001"}
    assert np.allclose(slices.target, target[5:7], atol=1e-5)  # the ESC magnitude ...
    phase = np.arctan2(slices.image[:, 1], slices.image[:, 0])
    assert np.allclose(np.exp(1j * phase), np.exp(1j * np.angle(cropped[5:7])), atol=1e-4)  # ... with the raw phase


def test_fastmri_adapter_errors_name_the_file(tmp_path):
    bad = tmp_path / "file1000002.h5"
    with h5py.File(bad, "w") as f:
        f.create_dataset("kspace", data=np.zeros((3, 8, 8), np.complex64))
    with pytest.raises(InputError, match=r"file1000002.h5: lacks \['reconstruction_esc'\]"):
        fastmri_slices([bad])
    broken = tmp_path / "file1000003.h5"
    broken.write_bytes(b"not hdf5")
    with pytest.raises(InputError, match="file1000003.h5: is not a readable HDF5 file"):
        fastmri_slices([broken])
