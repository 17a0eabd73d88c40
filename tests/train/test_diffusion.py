import numpy as np
import pytest
import torch

from radsynth.io import InputError, save_checkpoint
from radsynth.synthesis import synthesize
from radsynth.train.diffusion import load_synthesizer, train_diffusion

TINY = {"channels": (8, 16), "attention_levels": (False, False), "num_res_blocks": 1, "norm_num_groups": 8}


def disks(n=8, size=16, seed=0):
    """A dark square with a bright disk (the lesion) at a random place; label = the disk."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images = np.full((n, 1, size, size), -1.0, np.float32)
    images[:, :, 2:-2, 2:-2] = -0.2
    labels = np.zeros((n, size, size), np.uint8)
    for i in range(n):
        cy, cx = rng.integers(5, size - 5, 2)
        disk = (yy - cy) ** 2 + (xx - cx) ** 2 <= 6
        images[i, 0][disk] = 0.8
        labels[i][disk] = 1
    return images, labels


def train(iterations, **kwargs):
    torch.set_num_threads(1)
    images, labels = disks()
    options = dict(unet=TINY, iterations=iterations, batch_size=8, lr=2e-3, condition_dropout=0.2,
                   edge_sigma=1.0, seed=0, device="cpu", log_every=10)
    return train_diffusion(images, labels, **{**options, **kwargs})


def test_one_step_changes_weights():
    before = train(1, lr=0.0).state["unet"]  # lr 0: the initial weights, same seed
    after = train(1).state["unet"]
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_loss_decreases():
    result = train(40)
    loss = result.history["loss"].to_numpy()
    assert list(result.history["iteration"]) == [10, 20, 30, 40]
    assert loss[-1] < 0.7 * loss[0]
    assert result.images_per_second > 0


def test_checkpoint_round_trip(tmp_path):
    result = train(2)
    path = tmp_path / "diffusion.pt"
    save_checkpoint(path, result.state, {"architecture": result.architecture})
    model = load_synthesizer(path, device="cpu")
    assert model.edge_sigma == 1.0 and model.condition_dropout == 0.2
    assert model.scheduler == result.architecture["scheduler"]
    images, labels = disks(2)
    a = synthesize(model, images, labels, per_mask=1, steps=3, seed=1, device="cpu")["image"]
    b = synthesize(result.synthesizer(), images, labels, per_mask=1, steps=3, seed=1, device="cpu")["image"]
    np.testing.assert_array_equal(a, b)


def test_load_rejects_foreign_checkpoint(tmp_path):
    path = tmp_path / "other.pt"
    save_checkpoint(path, {"generator": {}}, {})
    with pytest.raises(InputError):
        load_synthesizer(path, device="cpu")


@pytest.mark.parametrize("prediction_type", ["v_prediction", "sample"])
def test_prediction_types_ema_and_cosine_schedule(prediction_type):
    result = train(3, prediction_type=prediction_type, ema_decay=0.99, lr_schedule="cosine", mask_fill=0.0)
    assert set(result.state) == {"unet", "unet_online"}
    model = result.synthesizer()
    assert model.scheduler["prediction_type"] == prediction_type and model.mask_fill == 0.0
    images, labels = disks(1)
    out = synthesize(model, images, labels, per_mask=1, steps=2, seed=0, device="cpu")
    assert np.isfinite(out["image"]).all()


def test_bad_lr_schedule():
    with pytest.raises(ValueError):
        train(1, lr_schedule="step")
