"""Reading and writing the files that pass between stages.

Every writer here is atomic: it writes to a temporary name in the destination folder and
renames on success, so a crash never leaves a half-written output for the next rule to read.
Just before that rename the hooks in :data:`BEFORE_RENAME` run: that is where a result's
provenance sidecar is written (:func:`radsynth.provenance.provenance_sidecars`), so a result
never exists without it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np


class InputError(ValueError):
    """Bad input data: the message names the file and the reason."""

    def __init__(self, path: str | os.PathLike, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


_UMASK = os.umask(0)
os.umask(_UMASK)

# Called as ``hook(path, tmp)`` once a file is complete at ``tmp``, just before it is renamed
# onto ``path``; an exception from a hook leaves ``path`` untouched.
BEFORE_RENAME: list[Callable[[Path, Path], None]] = []


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` if the block succeeds.

    Args:
        path: the final destination. Parent folders are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Keep the real suffix (e.g. ".nii.gz") so libraries that dispatch on it still work.
    suffix = "".join(path.suffixes)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes owner-only files; outputs are shared
    try:
        yield tmp
        for hook in list(BEFORE_RENAME):
            hook(path, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_nifti(path: str | os.PathLike, array: np.ndarray, affine: np.ndarray) -> None:
    """Write ``array`` as NIfTI with ``affine`` (voxel -> RAS mm) set as both qform and sform."""
    image = nib.Nifti1Image(np.asarray(array), np.asarray(affine, dtype=np.float64))
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    with atomic_path(path) as tmp:
        nib.save(image, tmp)


def read_nifti(path: str | os.PathLike, dtype: Any = np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Read a NIfTI file as ``(array, affine)``; raise :class:`InputError` if it is unreadable."""
    try:
        image = nib.load(str(path))
        array = np.asarray(image.dataobj, dtype=dtype)
    except Exception as err:  # nibabel raises many types for truncated or foreign files
        raise InputError(path, f"cannot read NIfTI ({type(err).__name__}: {err})") from err
    return array, image.affine


def spacing_of(affine: np.ndarray) -> np.ndarray:
    """Voxel spacing (mm) along each array axis of a voxel->world ``affine``."""
    return np.sqrt((np.asarray(affine)[:3, :3] ** 2).sum(axis=0))


# Every member of an .npz gets this timestamp, so the same arrays give the same bytes.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def save_arrays(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """Save named arrays to an uncompressed ``.npz`` (fast to load into memory for training).

    The file is what ``np.savez`` writes, with every member dated 1980-01-01 explicitly
    (``np.savez`` leaves the date to Python's zipfile), so equal arrays give equal bytes.
    """
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            for key, value in arrays.items():
                member = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_EPOCH)
                member.compress_type = zipfile.ZIP_STORED
                # force_zip64 as np.savez: members over 2 GiB need it (numpy gh-10776).
                with archive.open(member, "w", force_zip64=True) as handle:
                    np.lib.format.write_array(handle, np.asanyarray(value), allow_pickle=False)


def load_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load every array of an ``.npz`` written by :func:`save_arrays` (no pickles)."""
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_csv(path: str | os.PathLike, frame, **kwargs) -> None:
    """Write a pandas DataFrame as CSV atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, **kwargs)


def file_hash(*paths: str | os.PathLike) -> str:
    """SHA-256 over the bytes of ``paths`` (in order): the data hash in model sidecars.

    A file contributes its bytes, streamed in chunks (any size, little memory). A folder
    contributes its :func:`folder_manifest`, so it is hashed by the names and contents of
    the files under it, never by timestamps or listing order.
    """
    digest = hashlib.sha256()
    for path in paths:
        if os.path.isdir(path):
            digest.update(folder_manifest(path))
        else:
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(_CHUNK), b""):
                    digest.update(block)
    return digest.hexdigest()


_CHUNK = 1 << 22  # 4 MiB reads: sha256 runs at disk speed without holding a file in memory
# Written by Snakemake into directory() outputs; its content says nothing about the data.
_SKIP = frozenset({".snakemake_timestamp"})


def folder_manifest(folder: str | os.PathLike) -> bytes:
    """One line ``<sha256>  <relative path>`` per file under ``folder``, sorted by path.

    Paths are relative with ``/`` separators, so the manifest (and the folder's hash) is the
    same wherever the folder lies; symbolic links to files count as their targets.
    """
    files = []
    for root, _, names in os.walk(folder):
        files += [os.path.join(root, name) for name in names if name not in _SKIP]
    relative = {Path(os.path.relpath(full, folder)).as_posix(): full for full in files}
    return "".join(f"{file_hash(relative[name])}  {name}\n" for name in sorted(relative)).encode()


PACKAGES = (
    "radsynth", "torch", "monai", "numpy", "scipy", "scikit-image", "SimpleITK", "nibabel",
    "pandas", "snakemake",
)  # fmt: skip


def package_versions() -> dict[str, str | None]:
    """Python and :data:`PACKAGES` versions from the installed metadata (None: not installed)."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def versions() -> dict[str, str]:
    """Versions of the installed packages whose behaviour shapes the results."""
    return {name: found for name, found in package_versions().items() if found is not None}


def save_checkpoint(path: str | os.PathLike, state: dict, sidecar: dict) -> None:
    """Save a dict of ``state_dict``s with ``torch.save`` and a JSON sidecar beside it.

    Args:
        path: the ``.pt`` file; the sidecar is the same path with ``.json``.
        state: ``{"generator": module.state_dict(), ...}``: tensors only, so it loads with
            ``weights_only=True``.
        sidecar: config, data hash and anything a reader needs to rebuild the networks;
            package versions are added here.
    """
    import torch

    path = Path(path)
    write_json(path.with_suffix(".json"), {**sidecar, "versions": versions()})
    with atomic_path(path) as tmp:
        # Through a file object: given a path, torch.save names the archive's root folder
        # after the file, here the random temporary name, so equal weights gave other bytes.
        with open(tmp, "wb") as handle:
            torch.save(state, handle)


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> tuple[dict, dict]:
    """Load ``(state, sidecar)`` written by :func:`save_checkpoint`, with ``weights_only=True``."""
    import torch

    path = Path(path)
    state = torch.load(path, map_location=map_location, weights_only=True)
    sidecar = json.loads(path.with_suffix(".json").read_text())
    return state, sidecar
