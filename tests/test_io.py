import json
import os

import numpy as np
import pytest
import torch

from radsynth.io import (
    InputError,
    atomic_path,
    load_arrays,
    load_checkpoint,
    read_nifti,
    save_arrays,
    save_checkpoint,
    spacing_of,
    write_nifti,
)


def current_umask() -> int:
    """The process umask (reading it means setting it: put it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_atomic_path_leaves_nothing_when_the_write_fails(tmp_path):
    target = tmp_path / "out" / "x.nii.gz"
    with pytest.raises(RuntimeError, match="crash"):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_nifti_round_trip_keeps_affine(tmp_path):
    affine = np.array([[-2.0, 0, 0, 10], [0, 2.0, 0, -5], [0, 0, 3.0, 1], [0, 0, 0, 1]])
    write_nifti(tmp_path / "a.nii.gz", np.arange(24, dtype=np.float32).reshape(2, 3, 4), affine)
    array, read_affine = read_nifti(tmp_path / "a.nii.gz")
    np.testing.assert_allclose(read_affine, affine)
    np.testing.assert_allclose(spacing_of(affine), [2, 2, 3])
    assert array.shape == (2, 3, 4) and array[1, 2, 3] == 23
    # Shared like a plain open(): mkstemp's owner-only 0o600 is widened to what the umask allows.
    assert (tmp_path / "a.nii.gz").stat().st_mode & 0o777 == 0o666 & ~current_umask()


def test_unreadable_nifti_names_the_file(tmp_path):
    bad = tmp_path / "truncated.nii.gz"
    bad.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(InputError, match="truncated.nii.gz: cannot read NIfTI"):
        read_nifti(bad)


def test_arrays_and_checkpoint_round_trip(tmp_path):
    save_arrays(tmp_path / "p.npz", image=np.ones((2, 3)), subject=np.array(["a", "b"]))
    loaded = load_arrays(tmp_path / "p.npz")
    assert loaded["subject"].tolist() == ["a", "b"]
    net = torch.nn.Linear(3, 2)
    save_checkpoint(tmp_path / "m.pt", {"net": net.state_dict()}, {"architecture": {"in": 3}})
    state, sidecar = load_checkpoint(tmp_path / "m.pt")
    assert torch.equal(state["net"]["weight"], net.weight)
    assert sidecar["architecture"] == {"in": 3} and "torch" in sidecar["versions"]
    assert json.loads((tmp_path / "m.json").read_text())["architecture"] == {"in": 3}
