"""Cost per training step of DTC's SDF target: cropped from whole-case maps vs each patch's own.

Usage: python benchmarks/patch_sdf_cost.py [--h5 ../shared/data/la2018_h5] [--steps 5]

Per step of a batch of labelled patches (3D: 2 of 112x112x80, DTC's LA; 2D: 8 of 256x256
slices), in ms on this machine's CPU:

- ``case``: cropping the precomputed whole-case map (``sdf_target: case``);
- ``patch, DTC formula``: DTC's ``compute_sdf`` on each patch written out (two full-patch
  EDTs and ``find_boundaries``), one after the other, as the official loop does;
- ``patch, radsynth``: :class:`radsynth.segmentation.sdf.PatchSDF` (inside EDT and boundary on
  the object's box) with 1 and 2 threads, submit to result, and its torch engine (the one
  used for labels on a GPU: exact brute-force EDT; slow on a CPU).

Labels are LA atria from ``--h5`` (DTC's ``mri_norm2.h5`` cases) when present, else
ellipsoids. On a CPU the patch maps run on threads while the network runs; labels on a GPU
take the torch engine on the device (not measured here: no GPU was lent).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import distance_transform_edt
from skimage.segmentation import find_boundaries

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from radsynth.segmentation.sdf import PatchSDF, signed_distance  # noqa: E402


def dtc_formula(mask):
    inside = mask.astype(bool)
    out, ins = distance_transform_edt(~inside), distance_transform_edt(inside)
    sdf = out / out.max() - ins / ins.max()
    sdf[find_boundaries(inside, mode="inner")] = 0
    return sdf


def cases(h5: Path, count: int) -> list[np.ndarray]:
    if h5.exists():
        import h5py

        return [h5py.File(path)["label"][:].astype(np.uint8) for path in sorted(h5.glob("*/mri_norm2.h5"))[:count]]
    grid = np.ogrid[:180, :140, :88]
    return [(((grid[0] - 90) / 40.0) ** 2 + ((grid[1] - 70) / 35.0) ** 2 + ((grid[2] - 44) / 30.0) ** 2 < 1).astype(np.uint8)]


def patches(labels, patch, batch, rng):
    """Random patches that contain part of the object (DTC's crops mostly do)."""
    out = []
    while len(out) < batch:
        label = labels[rng.integers(len(labels))]
        corner = [rng.integers(0, max(s - p, 0) + 1) for s, p in zip(label.shape, patch)]
        crop = label[tuple(slice(c, c + p) for c, p in zip(corner, patch))]
        if crop.shape == tuple(patch) and crop.any():
            out.append(crop)
    return np.stack(out)


def timed(fn, steps):
    fn()
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return 1000 * (time.perf_counter() - start) / steps


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--h5", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/la2018_h5")
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    labels = cases(args.h5, 12)
    rng = np.random.default_rng(0)
    settings = {"3D, 2 x 112x112x80": ((112, 112, 80), 2), "2D, 8 x 256x256": ((256, 256, 1), 8)}
    for name, (patch, batch) in settings.items():
        if patch[-1] == 1:  # 2D: axial slices of the cases, padded to 256 x 256
            big = [np.pad(lab, ((38, 38), (58, 58), (0, 0)))[:256, :256] for lab in labels]
            batch_labels = patches(big, patch, batch, rng)[..., 0]
        else:
            batch_labels = patches(labels, patch, batch, rng)
        case_maps = torch.from_numpy(np.stack([signed_distance(lab) for lab in batch_labels]))[:, None]
        label = torch.as_tensor(batch_labels)
        rows = torch.arange(batch)
        print(f"{name}:")
        print(f"  case (crop of the whole-case map): {timed(lambda: case_maps[rows].clone(), args.steps):.1f} ms/step")
        print(f"  patch, DTC formula, sequential:    {timed(lambda: [dtc_formula(m) for m in batch_labels], args.steps):.1f} ms/step")
        for threads in (1, 2):
            maker = PatchSDF(1, threads)
            print(f"  patch, radsynth, {threads} thread(s):       {timed(lambda: maker.submit(label)(), args.steps):.1f} ms/step")
            maker.close()
        maker = PatchSDF(1, engine="torch")  # the GPU engine, here on the CPU
        print(f"  patch, torch brute-force EDT (CPU): {timed(lambda: maker.submit(label)(), args.steps):.1f} ms/step")
        maker.close()


if __name__ == "__main__":
    main()
