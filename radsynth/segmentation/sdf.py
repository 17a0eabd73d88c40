"""DTC signed distance maps (the level-set target of the dual-task network).

The formula is that of the official DTC ``compute_sdf``: the outside distance and the inside
distance are each min-max normalised over the whole array, their difference is taken
(negative inside, in [-1, 1]) and the inner boundary is set to 0.

Masks with no boundary are where the official code is silent or divides by zero: an empty mask
gives +1 ("outside everywhere", where DTC's code leaves zeros) and a full mask -1. Zeros would
mean "on the boundary everywhere", and DTC's consistency transform ``sigmoid(-k * sdf)`` would
turn them into a probability of 0.5 instead of the mask's 0. DTC's 3D patches of the atrium are
rarely empty; 2D slices of a lesion mostly are, and with zero targets the SDF head and the
consistency term pulled the segmentation of those slices towards 0.5 (on the phantom, DTC and
the SDF-head ablation collapsed for one labelled subset in three).

By default maps are computed once per case by the ``sdf`` stage and training crops patches
from them (``segmentation.sdf_target: case``). DTC computes each training patch's own map
(``compute_sdf`` on the cropped label): each distance is normalised by its maximum within the
patch (outside max exactly 1, inside min exactly -1) and measured only to voxels of the patch.
:class:`PatchSDF` does that (``sdf_target: patch``) on CPU threads while the network runs:
SciPy's distance transform releases the GIL; for labels on a GPU an exact brute-force EDT
in torch runs on the device instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from scipy.ndimage import distance_transform_edt
from skimage.segmentation import find_boundaries

from radsynth.io import read_nifti, write_nifti


def _normalised(distance: np.ndarray) -> np.ndarray:
    low, high = distance.min(), distance.max()
    return (distance - low) / (high - low)


def signed_distance(mask: np.ndarray, spacing: Sequence[float] | None = None) -> np.ndarray:
    """DTC signed distance map of a binary mask (2D or 3D).

    Args:
        mask: binary array; nonzero = inside.
        spacing: voxel size per axis. None (the default) measures in voxels, as DTC does;
            because both distances are normalised, spacing only changes the result for
            anisotropic voxels.

    Returns:
        float32 array of ``mask.shape``: ``outside/max(outside) - inside/max(inside)``, in
        [-1, 1], negative inside, 0 on the inner boundary
        (``find_boundaries(mode="inner")``). An empty mask gives all +1 ("outside
        everywhere") and a full mask all -1 ("inside everywhere"), which keeps DTC's
        consistency transform ``sigmoid(-k * sdf)`` equal to the mask (see the module notes).
    """
    inside = np.asarray(mask).astype(bool)
    if not inside.any():
        return np.ones(inside.shape, np.float32)
    if inside.all():
        return -np.ones(inside.shape, np.float32)
    # EDT gives each nonzero voxel its distance to the nearest zero voxel.
    outside_distance = distance_transform_edt(~inside, sampling=spacing)
    # Inside distances and the inner boundary need only the object's box grown by one voxel:
    # that layer is outside the object, and clamping any farther outside voxel into the box
    # lands on the layer and shortens every coordinate difference, so nothing beyond is nearer.
    box = tuple(slice(max(int(a.min()) - 1, 0), int(a.max()) + 2) for a in np.nonzero(inside))
    inside_distance = np.zeros(inside.shape)
    inside_distance[box] = distance_transform_edt(inside[box], sampling=spacing)
    boundary = np.zeros(inside.shape, bool)
    boundary[box] = find_boundaries(inside[box], mode="inner")
    sdf = _normalised(outside_distance) - _normalised(inside_distance)
    sdf[boundary] = 0
    return sdf.astype(np.float32)


def _min_plus(squared: torch.Tensor, axis: int, budget: int = 2**25) -> torch.Tensor:
    """One separable pass of the exact squared EDT: ``out[i] = min_j squared[j] + (i - j)^2``
    along ``axis``, by brute force over (lines, n, n) chunks of at most ``budget`` elements."""
    moved = squared.movedim(axis, -1)
    n = moved.shape[-1]
    lines = moved.reshape(-1, n)
    index = torch.arange(n, device=squared.device, dtype=squared.dtype)
    cost = (index[:, None] - index[None, :]) ** 2
    out = torch.empty_like(lines)
    step = max(1, budget // (n * n))
    for start in range(0, len(lines), step):
        out[start : start + step] = (lines[start : start + step, None, :] + cost).amin(-1)
    return out.reshape(moved.shape).movedim(-1, axis)


def _distance_to(features: torch.Tensor) -> torch.Tensor:
    """(N, *spatial) bool -> Euclidean distance of every voxel to the nearest True voxel of its
    sample (inf when there is none), exact: squared distances are separable per axis."""
    squared = torch.where(features, 0.0, float("inf"))
    for axis in range(1, features.ndim):
        squared = _min_plus(squared, axis)
    return squared.sqrt()


def torch_patch_sdf(label: torch.Tensor, classes: int) -> torch.Tensor:
    """:func:`signed_distance` of each (sample, class) of (B, *spatial) labels, on their device
    (brute-force EDT: slow on a CPU, milliseconds on a GPU). Returns (B, K, *spatial) float32."""
    masks = torch.stack([label == k + 1 for k in range(classes)], 1).flatten(0, 1)
    outside, inside = _distance_to(masks), _distance_to(~masks)  # to the nearest inside / outside voxel
    spatial = tuple(range(1, masks.ndim))
    sdf = outside / outside.amax(spatial, keepdim=True) - inside / inside.amax(spatial, keepdim=True)
    sdf[masks & (inside == 1)] = 0  # the inner boundary: a face neighbour is outside
    flat = masks.flatten(1)
    sdf[~flat.any(1)], sdf[flat.all(1)] = 1.0, -1.0  # no boundary: the conventions above
    return sdf.reshape(label.shape[0], classes, *label.shape[1:])


class PatchSDF:
    """DTC's SDF target of each training patch, computed from the patch's own label.

    Args:
        classes: foreground classes K (class k + 1 gives map k).
        threads: CPU worker threads (each (sample, class) map is one task).
        engine: "auto" (the brute-force torch EDT for labels on a GPU, SciPy on CPU threads
            otherwise), "torch" or "scipy".
    """

    def __init__(self, classes: int, threads: int = 1, engine: str = "auto"):
        if engine not in ("auto", "torch", "scipy"):
            raise ValueError(f"unknown SDF engine {engine!r} (known: 'auto', 'torch', 'scipy')")
        self.classes, self.engine = classes, engine
        self.pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix="patch-sdf")

    def submit(self, label: torch.Tensor) -> Callable[[], torch.Tensor]:
        """Start the maps of (B, *spatial) integer labels; call the result to wait for them.

        Returns:
            A function returning (B, K, *spatial) float32 maps on ``label``'s device, each as
            :func:`signed_distance` of the patch's mask of that class.
        """
        if self.engine == "torch" or (self.engine == "auto" and label.device.type == "cuda"):
            maps = torch_patch_sdf(label, self.classes)  # queued on the device before the forward
            return lambda: maps
        array = label.detach().cpu().numpy()
        tasks = [self.pool.submit(signed_distance, sample == k + 1) for sample in array for k in range(self.classes)]

        def result() -> torch.Tensor:
            maps = np.stack([task.result() for task in tasks]).reshape(len(array), self.classes, *array.shape[1:])
            return torch.from_numpy(maps).to(label.device, non_blocking=True)

        return result

    def close(self) -> None:
        self.pool.shutdown(wait=True)


def patch_sdf(label: torch.Tensor, classes: int, threads: int = 1, engine: str = "auto") -> torch.Tensor:
    """(B, *spatial) integer labels -> (B, K, *spatial) DTC maps, each normalised within its
    own patch (:class:`PatchSDF`, waited for)."""
    maker = PatchSDF(classes, threads, engine)
    try:
        return maker.submit(label)()
    finally:
        maker.close()


def label_sdf(
    label: np.ndarray,
    classes: Sequence[int],
    slice_axis: int | None = None,
    spacing: Sequence[float] | None = None,
) -> np.ndarray:
    """One DTC signed distance map per foreground class.

    Args:
        label: integer label array (2D or 3D).
        classes: foreground class values, one map each (in this order).
        slice_axis: None = one n-D map per class (3D training); an axis = 2D maps computed
            slice by slice along it (2D training: each slice normalised on its own, an empty
            slice gives +1).
        spacing: voxel size per axis of ``label`` (see :func:`signed_distance`); None = voxels.

    Returns:
        float32 array of shape (*label.shape, len(classes)).
    """
    label = np.asarray(label)
    out = np.zeros((*label.shape, len(classes)), np.float32)
    for k, value in enumerate(classes):
        mask = label == value
        if slice_axis is None:
            out[..., k] = signed_distance(mask, spacing)
            continue
        axis = slice_axis % label.ndim
        plane = None if spacing is None else [s for i, s in enumerate(spacing) if i != axis]
        target = np.moveaxis(out[..., k], axis, 0)  # a view: writing fills ``out``
        for index, section in enumerate(np.moveaxis(mask, axis, 0)):
            target[index] = signed_distance(section, plane)
    return out


def write_label_sdf(
    label_path: str | os.PathLike, out_path: str | os.PathLike, classes: Sequence[int], slice_axis: int | None
) -> dict:
    """:func:`label_sdf` of a label NIfTI, written as a float32 NIfTI (X, Y, Z, K) on its grid.

    Args:
        label_path: a preprocessed ``label.nii.gz``.
        out_path: where the maps go (atomically).
        classes, slice_axis: as :func:`label_sdf`.

    Returns:
        ``min`` and ``max`` of the maps, for the job's record.
    """
    label, affine = read_nifti(label_path, np.uint8)
    sdf = label_sdf(label, classes, slice_axis=slice_axis)
    write_nifti(out_path, sdf.astype(np.float32), affine)
    return {"min": float(sdf.min()), "max": float(sdf.max())}
