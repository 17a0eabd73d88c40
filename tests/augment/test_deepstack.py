"""DeepStack (nnU-Net's default stack from MONAI transforms): contract, geometry, seeding."""

import pytest
import torch

from radsynth.augment import DeepStack
from radsynth.augment.deepstack import P_AFFINE, P_ROTATION, P_SCALING, _RotateScaleGrid

torch.set_num_threads(1)


def disc_batch(batch=16, size=48, dtype=torch.uint8):
    """Background -1, an off-centre bright disc labelled 1 (so rotations move it) and its SDF."""
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    distance = ((yy - 16.0) ** 2 + (xx - 30.0) ** 2).sqrt() - 5
    label = (distance <= 0).to(dtype).expand(batch, size, size).clone()
    image = torch.where(label[:, None] == 1, 1.0, -1.0)
    sdf = (distance / size).expand(batch, 1, size, size).clone()
    return image, label, sdf


def centroid(mask):
    return torch.stack(torch.where(mask)).float().mean(1)


def test_contract():
    image, label, sdf = disc_batch()
    label = label.long() * 3  # classes {0, 3}, int64
    out_image, out_label, out_sdf = DeepStack(seed=1)(image, label, sdf)
    assert out_image.shape == image.shape and out_image.dtype == image.dtype
    assert out_label.shape == label.shape and out_label.dtype == torch.int64
    assert out_sdf.shape == sdf.shape and out_sdf.dtype == sdf.dtype
    assert set(out_label.unique().tolist()) <= {0, 3}
    assert out_image.min() >= -1 and out_image.max() <= 1


def test_unlabelled_batch():
    image, _, _ = disc_batch(batch=4)
    out_image, out_label = DeepStack(seed=2)(image)
    assert out_image.shape == image.shape and out_label is None


def test_seeding():
    image, label, sdf = disc_batch()
    first = DeepStack(seed=3)(image, label, sdf)
    again = DeepStack(seed=3)(image, label, sdf)
    other = DeepStack(seed=4)(image, label, sdf)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[0], other[0])


@pytest.mark.parametrize("seed", [5, 6])
def test_label_image_and_sdf_move_together(seed):
    image, label, sdf = disc_batch()
    augment = DeepStack(seed=seed)
    moved = 0
    for _ in range(3):
        out_image, out_label, out_sdf = augment(image, label, sdf)
        for i in range(len(image)):
            target = centroid(out_label[i] == 1)
            moved += not torch.allclose(target, centroid(label[i] == 1))
            # The intensity transforms keep the disc above 0 and the background below it.
            assert torch.dist(centroid(out_image[i, 0] > 0), target) < 1.5
            inside = out_sdf[i, 0] < 0
            assert (inside == out_label[i].bool()).float().mean() > 0.98
    assert moved > 10  # geometry did act (mirroring alone moves most samples)


def test_rotation_and_scaling_law():
    """Given that RandAffined fires, rotation and scaling are on with nnU-Net's joint law."""
    grid = _RotateScaleGrid(2)
    grid.set_random_state(0)
    counts = {}
    for _ in range(20000):
        grid.randomize()
        key = (grid.rotate_params[0] != 0, grid.scale_params[0] != 1)
        counts[key] = counts.get(key, 0) + 1
        assert len(set(grid.scale_params)) == 1  # isotropic
        assert (
            0.7 <= grid.scale_params[0] <= 1.4
            and abs(grid.rotate_params[0]) <= torch.pi
        )
    fire = 1 - (1 - P_ROTATION) * (1 - P_SCALING)
    assert P_AFFINE == fire and DeepStack()._spatial.prob == fire
    assert abs(counts[True, False] / 20000 - P_ROTATION * (1 - P_SCALING) / fire) < 0.02
    assert abs(counts[False, True] / 20000 - P_SCALING * (1 - P_ROTATION) / fire) < 0.02
    assert abs(counts[True, True] / 20000 - P_ROTATION * P_SCALING / fire) < 0.02
    assert (False, False) not in counts


def test_volumes():
    label = torch.zeros(2, 16, 16, 12, dtype=torch.uint8)
    label[:, 4:10, 5:12, 3:8] = 2
    label[:, 10:14, 2:6, 2:5] = 5
    image = torch.where(label[:, None] > 0, 0.5, -1.0)
    augment = DeepStack(seed=7, spatial_dims=3)
    for _ in range(4):
        out_image, out_label = augment(image, label)
        assert out_image.shape == image.shape and out_label.dtype == torch.uint8
        assert set(out_label.unique().tolist()) <= {0, 2, 5}
        assert out_image.min() >= -1 and out_image.max() <= 1


def test_bad_dimensions():
    with pytest.raises(ValueError, match="spatial_dims"):
        DeepStack(spatial_dims=1)
    image, label, _ = disc_batch(batch=2)
    with pytest.raises(ValueError, match="spatial axes"):
        DeepStack(spatial_dims=3)(image, label)
