"""The ACDC layout (``patientXXX/``): ``Info.cfg`` (``ED: 1``, ``ES: 12``, 1-based frames),
``patientXXX_4d.nii.gz`` (X, Y, Z, T), and ``patientXXX_frameXX.nii.gz`` with
``patientXXX_frameXX_gt.nii.gz`` at ED and ES. A subject becomes a :class:`CineSubject` of the
frames ED .. ES, labelled at ED and ES only (255 elsewhere), intensities scaled to [0, 1] by the
volume's 99.5th percentile and the slices cropped or padded to ``size`` about the centre."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from radsynth.io import InputError
from radsynth.temporal.phantom import UNLABELLED, CineSubject



def read_info(path: Path) -> dict[str, str]:
    """``Info.cfg`` as key -> value."""
    info = {}
    for line in path.read_text().splitlines():
        if ":" in line:
            key, value = line.split(":", 1)
            info[key.strip()] = value.strip()
    return info


def _centre_fit(volume: np.ndarray, size: int) -> np.ndarray:
    """Crop or zero-pad the first two axes about the centre to ``size``."""
    out = np.zeros((size, size, *volume.shape[2:]), volume.dtype)
    src, dst = [], []
    for n in volume.shape[:2]:
        if n >= size:
            start = (n - size) // 2
            src.append(slice(start, start + size)), dst.append(slice(0, size))
        else:
            start = (size - n) // 2
            src.append(slice(0, n)), dst.append(slice(start, start + n))
    out[dst[0], dst[1]] = volume[src[0], src[1]]
    return out


def read_acdc(folder: str | Path, size: int = 128) -> CineSubject:
    """One ACDC patient as frames (F, size, size, Z) from ED to ES.

    Raises:
        InputError: naming the file that is missing or inconsistent, and why.
    """
    folder = Path(folder)
    name = folder.name
    info_path = folder / "Info.cfg"
    if not info_path.exists():
        raise InputError(info_path, "is missing: ACDC gives the ED and ES frames there")
    info = read_info(info_path)
    try:
        ed, es = int(info["ED"]), int(info["ES"])
    except (KeyError, ValueError):
        raise InputError(info_path, "needs integer 'ED:' and 'ES:' lines") from None
    cine_path = folder / f"{name}_4d.nii.gz"
    if not cine_path.exists():
        raise InputError(cine_path, "is missing")
    cine = np.asarray(nib.load(cine_path).dataobj, np.float32)
    if cine.ndim != 4 or not 1 <= ed < es <= cine.shape[3]:
        raise InputError(cine_path, f"has shape {cine.shape}; Info.cfg's ED {ed} and ES {es} must be frames 1..T with ED < ES")
    frames = np.moveaxis(cine[..., ed - 1:es], 3, 0)
    labels = np.full(frames.shape, UNLABELLED, np.uint8)
    for k, frame in ((0, ed), (len(frames) - 1, es)):
        gt = folder / f"{name}_frame{frame:02d}_gt.nii.gz"
        if not gt.exists():
            raise InputError(gt, "is missing: ACDC labels ED and ES")
        label = np.asarray(nib.load(gt).dataobj)
        if label.shape != frames.shape[1:]:
            raise InputError(gt, f"has shape {label.shape}, the cine's frames {frames.shape[1:]}")
        labels[k] = label.astype(np.uint8)
    peak = np.percentile(frames, 99.5) or 1.0
    frames = np.clip(frames / peak, 0, 1)
    fit = [_centre_fit(np.moveaxis(a, 0, -1), size) for a in (frames, labels)]  # (size, size, Z, F)
    frames, labels = (np.moveaxis(a, -1, 0) for a in fit)
    labels[1:-1] = UNLABELLED  # the padding too
    return CineSubject(name, frames.astype(np.float32), labels)
