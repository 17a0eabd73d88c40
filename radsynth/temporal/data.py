"""The cines of the temporal stage, split by subject and packed: every frame of every cine
stacked along one axis (``frames``, ``labels``) with ``offsets`` marking where each cine starts,
so cines of different lengths (ACDC) share one file; 2D+t cines of a 3D+t source are its slices."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from radsynth.temporal.acdc import read_acdc
from radsynth.temporal.phantom import UNLABELLED, CineSubject, cine_subject


def phantom_cines(seed: int, subjects: int, *, size: int, frames: int, depth: int | None, noise: float) -> list[CineSubject]:
    """The phantom's subjects ``cine000`` ...: the same (seed, index) gives the same cine."""
    return [cine_subject(seed, i, size=size, frames=frames, depth=depth, noise=noise) for i in range(subjects)]


def acdc_cines(root: str | Path, size: int) -> list[CineSubject]:
    """Every ``patient*`` folder under ``root`` (ACDC's training/ or testing/ layout)."""
    folders = sorted(p for p in Path(root).glob("**/patient*") if p.is_dir())
    if not folders:
        raise ValueError(f"temporal.source.root {root} holds no patientXXX folder (the ACDC layout)")
    return [read_acdc(folder, size) for folder in folders]


def split_subjects(names: Sequence[str], test_fraction: float, seed: int) -> dict[str, list[str]]:
    """``{"train": [...], "test": [...]}`` by subject, seeded (at least one of each)."""
    if len(names) < 2:
        raise ValueError(f"the temporal stage needs at least 2 subjects (one to train, one to test), not {len(names)}")
    order = np.random.default_rng(seed).permutation(sorted(names))
    count = min(max(1, round(len(order) * test_fraction)), len(order) - 1)
    return {"train": sorted(order[count:].tolist()), "test": sorted(order[:count].tolist())}


def as_slices(cine: CineSubject, spatial_dims: int) -> list[CineSubject]:
    """A 3D+t cine as 2D+t cines of its slices that are labelled at ED (2D work), or itself."""
    if spatial_dims == 3 or cine.frames.ndim == 3:
        return [cine]
    keep = [z for z in range(cine.frames.shape[-1]) if (cine.labels[0, ..., z] % UNLABELLED > 0).any()]
    return [CineSubject(f"{cine.name}_z{z:02d}", cine.frames[..., z], cine.labels[..., z]) for z in keep]


def pack(cines: Sequence[CineSubject]) -> dict[str, np.ndarray]:
    """Arrays of :func:`radsynth.io.save_arrays`."""
    lengths = [len(c.frames) for c in cines]
    return {"frames": np.concatenate([c.frames for c in cines]).astype(np.float32),
            "labels": np.concatenate([c.labels for c in cines]).astype(np.uint8),
            "offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            "name": np.array([c.name for c in cines])}


def unpack(arrays: dict[str, np.ndarray]) -> list[CineSubject]:
    offsets = arrays["offsets"]
    return [CineSubject(str(name), arrays["frames"][a:b], arrays["labels"][a:b])
            for name, a, b in zip(arrays["name"], offsets[:-1], offsets[1:])]


def pairs(cines: Sequence[CineSubject]) -> tuple[np.ndarray, np.ndarray]:
    """(ED frames, ES frames) as (N, 1, ...) float32: what training sees."""
    return (np.stack([c.frames[0] for c in cines])[:, None].astype(np.float32),
            np.stack([c.frames[-1] for c in cines])[:, None].astype(np.float32))
