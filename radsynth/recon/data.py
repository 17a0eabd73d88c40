"""Slices for reconstruction: fully sampled complex images with their subject and slice.

Two sources, one contract (:class:`ReconSlices`):

- :func:`packed_slices`: magnitude MR slices of a packed split (any dataset radsynth reads),
  given a smooth random phase (:func:`radsynth.recon.kspace.simulate_complex`), as fastMRI's
  emulated single-coil data are made from images; no raw k-space is needed.
- :func:`fastmri_slices`: fastMRI single-coil ``.h5`` files (``kspace``,
  ``reconstruction_esc``), built as MC-DDPM does: the raw k-space's image cropped to the
  reconstruction's size, its magnitude replaced by ``reconstruction_esc``, its phase kept.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from monai.apps.reconstruction.fastmri_reader import FastMRIReader

from radsynth.io import InputError, load_arrays
from radsynth.recon.kspace import ifft2, simulate_complex


@dataclass
class ReconSlices:
    """Fully sampled complex slices: ``image`` float32 (N, 2, H, W) (real, imaginary), with
    ``subject`` (N,) and ``slice`` (N,) naming each."""

    image: np.ndarray
    subject: np.ndarray
    slice: np.ndarray

    def __len__(self) -> int:
        return len(self.image)

    @property
    def target(self) -> np.ndarray:
        """The magnitudes the methods are scored against, (N, H, W)."""
        return np.hypot(self.image[:, 0], self.image[:, 1])

    def cases(self) -> list[str]:
        """``subject:slice`` of every slice (the metric tables' case column)."""
        return [f"{s}:{int(i)}" for s, i in zip(self.subject, self.slice)]

    def take(self, rows) -> "ReconSlices":
        return ReconSlices(self.image[rows], self.subject[rows], self.slice[rows])


def slice_seed(subject: str, index: int) -> int:
    """A seed fixed by the slice's name (its phase, its test masks), whatever else is run."""
    return zlib.crc32(f"{subject}:{int(index)}".encode()) % 2**31


def foreground_rows(magnitudes: np.ndarray, min_foreground: float) -> np.ndarray:
    """Rows whose tissue (magnitude above 5 % of the slice's maximum) covers at least
    ``min_foreground`` of the slice: edge slices of a volume hold little to reconstruct."""
    peak = magnitudes.reshape(len(magnitudes), -1).max(axis=1)
    tissue = (magnitudes > 0.05 * peak[:, None, None]).mean(axis=(1, 2))
    return np.flatnonzero((peak > 0) & (tissue >= min_foreground))


def evenly(rows: np.ndarray, limit: int | None) -> np.ndarray:
    """At most ``limit`` of ``rows``, evenly spaced (None: all)."""
    if limit is None or len(rows) <= limit:
        return rows
    return rows[np.round(np.linspace(0, len(rows) - 1, limit)).astype(int)]


def packed_slices(arrays: dict, channel: str, *, min_foreground: float = 0.1, limit: int | None = None,
                  source: str = "packed split") -> ReconSlices:
    """Complex slices simulated from one channel of a packed split.

    Args:
        arrays: a packed split (``image`` (N, C, H, W) in [-1, 1], ``channels``, ``subject``, ``slice``).
        channel: the channel to reconstruct.
        min_foreground: see :func:`foreground_rows`.
        limit: keep at most this many slices, evenly spaced (None: all).
        source: the file's name, for errors.
    """
    channels = [str(c) for c in arrays["channels"]]
    if channel not in channels:
        raise InputError(source, f"has channels {channels}, not recon.channel {channel!r}")
    magnitudes = np.clip((arrays["image"][:, channels.index(channel)] + 1) / 2, 0, None)
    rows = evenly(foreground_rows(magnitudes, min_foreground), limit)
    if not len(rows):
        raise InputError(source, f"has no slice with {min_foreground:.0%} tissue to reconstruct")
    subjects, indices = arrays["subject"][rows], arrays["slice"][rows]
    seeds = np.array([slice_seed(s, i) + 1 for s, i in zip(subjects, indices)])  # +1: not the mask's seed
    return ReconSlices(simulate_complex(magnitudes[rows], seeds), subjects.astype(str), indices.astype(np.int64))


def _centre_crop(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    h, w = x.shape[-2:]
    top, left = (h - shape[0]) // 2, (w - shape[1]) // 2
    return x[..., top:top + shape[0], left:left + shape[1]]


def fastmri_slices(paths: Iterable[str | Path], *, drop_edge: int = 5, limit: int | None = None) -> ReconSlices:
    """Complex slices of fastMRI single-coil volumes (one subject per file).

    Args:
        paths: ``.h5`` files with ``kspace`` (S, H, W) complex and ``reconstruction_esc`` (S, h, w).
        drop_edge: slices dropped at each end of a volume (MC-DDPM drops 5: little anatomy).
        limit: keep at most this many slices in all, evenly spaced (None: all).
    """
    images, subjects, indices = [], [], []
    reader = FastMRIReader()
    for path in sorted(map(Path, paths)):
        try:
            data = reader.read(path)
        except OSError as error:
            raise InputError(path, f"is not a readable HDF5 file ({error})") from None
        missing = [k for k in ("kspace", "reconstruction_esc") if k not in data]
        if missing:
            raise InputError(path, f"lacks {missing}: radsynth reads fastMRI single-coil files (kspace, reconstruction_esc)")
        kspace, target = np.asarray(data["kspace"]), np.asarray(data["reconstruction_esc"], np.float32)
        if kspace.ndim != 3 or not np.iscomplexobj(kspace) or target.shape[0] != kspace.shape[0]:
            raise InputError(path, f"kspace {kspace.shape} must be complex (slices, H, W) with one reconstruction per slice")
        raw = torch.view_as_complex(ifft2(torch.as_tensor(np.stack([kspace.real, kspace.imag], 1), dtype=torch.float32))
                                    .movedim(1, -1).contiguous()).numpy()
        phase = np.angle(_centre_crop(raw, target.shape[-2:]))
        keep = np.arange(drop_edge, len(target) - drop_edge)
        images.append(np.stack([target * np.cos(phase), target * np.sin(phase)], 1)[keep])
        subjects += [path.stem] * len(keep)
        indices.append(keep)
    if not images:
        raise ValueError("fastmri_slices: no files given")
    slices = ReconSlices(np.concatenate(images).astype(np.float32), np.array(subjects), np.concatenate(indices))
    return slices.take(evenly(np.arange(len(slices)), limit))


def split_slices(source, *, channel: str | None, fastmri: bool, min_foreground: float = 0.1,
                 limit: int | None = None) -> ReconSlices:
    """A split's slices for a rule script: a packed split (``source`` its path, k-space
    simulated from ``channel``) or fastMRI files (``source`` their paths)."""
    if fastmri:
        return fastmri_slices([source] if isinstance(source, str) else list(source), limit=limit)
    return packed_slices(load_arrays(source), channel, min_foreground=min_foreground, limit=limit, source=str(source))
