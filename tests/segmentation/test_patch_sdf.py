"""DTC's SDF target of a training patch: the patch's own map, each distance normalised by its
maximum within the patch (``compute_sdf`` on the cropped label), against a brute-force check."""

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

import radsynth.segmentation.trainer as trainer
from radsynth.segmentation.sdf import patch_sdf, signed_distance

torch.set_num_threads(1)


def ball(shape=(40, 36, 30), centre=(26, 18, 14), radius=9):
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"))
    return ((grid - np.reshape(centre, (3, 1, 1, 1))) ** 2).sum(0) <= radius**2


def brute_force_dtc_map(mask):
    """Written out from DTC's definition with nothing shared with radsynth's code: the distance
    of each voxel to the nearest voxel of the other kind inside the patch (a k-d tree over
    every voxel), each side divided by its own maximum, outside minus inside, and 0 on the
    inner boundary (inside voxels with a face neighbour outside; the patch edge is no
    boundary)."""
    points = np.argwhere(np.ones(mask.shape, bool))
    inside, outside = np.argwhere(mask), np.argwhere(~mask)
    to_inside = cKDTree(inside).query(points)[0].reshape(mask.shape)
    to_outside = cKDTree(outside).query(points)[0].reshape(mask.shape)
    to_inside[mask], to_outside[~mask] = 0, 0
    target = to_inside / to_inside.max() - to_outside / to_outside.max()
    padded = np.pad(mask, 1, mode="edge")  # beyond the patch edge: like the edge voxel
    centre = padded[1:-1, 1:-1, 1:-1]
    face_outside = np.zeros(mask.shape, bool)
    for axis in range(3):
        for shift in (-1, 1):
            neighbour = np.roll(padded, shift, axis)[1:-1, 1:-1, 1:-1]
            face_outside |= centre & ~neighbour
    target[face_outside] = 0
    return target


@pytest.mark.parametrize("engine", ["scipy", "torch"])
def test_patch_map_of_a_ball_cut_by_the_patch_edge(engine):
    case = ball()
    window = np.s_[20:38, 4:30, 6:28]  # cuts the ball at x = 20 (centre 26) and at z = 6
    patch = case[window]
    assert patch.any() and case.sum() > patch.sum()
    got = patch_sdf(torch.as_tensor(patch[None].astype(np.uint8)), classes=1, engine=engine)
    assert got.shape == (1, 1, *patch.shape) and got.dtype == torch.float32
    got = got[0, 0].numpy()
    np.testing.assert_allclose(got, brute_force_dtc_map(patch), atol=1e-6)
    assert got.max() == 1.0 and got.min() == -1.0  # exactly, as DTC's normalisation gives
    assert (got[patch] <= 0).all() and (got[~patch] > 0).all()  # DTC's sign: negative inside
    # The whole-case map cropped to the patch is normalised over the case: outside max < 1.
    cropped = signed_distance(case)[window]
    assert cropped.max() < 0.9


@pytest.mark.parametrize("engine", ["scipy", "torch"])
def test_patch_maps_per_sample_and_class(engine):
    label = np.zeros((2, 12, 10, 8), np.uint8)
    label[0, 2:6, 2:6, 2:6] = 1
    label[0, 7:11, 3:8, 1:4] = 2
    label[1, 4:9, 1:5, 3:7] = 2  # class 1 absent: DTC's radsynth convention, +1 everywhere
    full = np.ones((1, 12, 10, 8), np.uint8)  # a patch inside the object: -1 everywhere
    got = patch_sdf(torch.as_tensor(np.concatenate([label, full])), classes=2, threads=2, engine=engine).numpy()
    assert (got[2, 0] == -1).all() and (got[2, 1] == 1).all()
    for b in range(2):
        for k in range(2):
            mask = label[b] == k + 1
            expected = brute_force_dtc_map(mask) if mask.any() else np.ones(mask.shape)
            np.testing.assert_allclose(got[b, k], expected, atol=1e-6)


def test_training_regresses_each_patchs_own_map(monkeypatch):
    """With sdf_target="patch" the SDF term's target is the map of the (rotated, flipped) patch
    label that the supervised term sees, for the labelled rows."""
    rng = np.random.default_rng(0)
    label = np.zeros((4, 20, 20, 10), np.uint8)
    for i in range(4):
        label[i, 3 + i : 13 + i, 4:12, 2:8] = 1
    data = {
        "image": np.where(label[:, None] == 1, 0.5, -0.5).astype(np.float32) + rng.normal(0, 0.1, (4, 1, 20, 20, 10)).astype(np.float32),
        "label": label,
        "sdf": np.zeros((4, 1, 20, 20, 10), np.float32),  # a case map the patch mode must not use
        "subject": np.array(["s0", "s1", "s2", "s3"]),
    }
    seen = {"labels": [], "targets": []}
    one_hot, losses = trainer.one_hot_foreground, trainer.dtc_losses
    monkeypatch.setattr(trainer, "one_hot_foreground", lambda y, k: seen["labels"].append(y.clone()) or one_hot(y, k))
    monkeypatch.setattr(trainer, "dtc_losses", lambda s, t, sdf, *a: seen["targets"].append(sdf.clone()) or losses(s, t, sdf, *a))
    trainer.train_segmentation(
        data, method="dtc", labelled_subjects=["s0", "s1"], network=dict(channels=(4, 8), strides=(2,), features=4),
        iterations=2, batch_size=2, unlabelled_batch_size=2, patch_size=(12, 16, 8), rotate_flip=True,
        device="cpu", sdf_target="patch",
    )
    for labels, targets in zip(seen["labels"], seen["targets"]):
        assert targets.shape[0] == 4  # 2 labelled + 2 unlabelled rows
        for row in range(2):
            mask = labels[row].numpy() == 1
            np.testing.assert_allclose(targets[row, 0].numpy(), brute_force_dtc_map(mask), atol=1e-6)


def test_unknown_sdf_target_is_refused():
    with pytest.raises(ValueError, match="unknown sdf_target 'slice'"):
        trainer.train_segmentation({"image": np.zeros((1, 1, 4, 4))}, sdf_target="slice")
