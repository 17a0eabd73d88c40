import numpy as np
import pytest
import torch

from radsynth.synthesis.diffusion_trainer import train_ddpm
from radsynth.synthesis.prompts import tokenize

TINY = {"channels": (8, 16), "attention_levels": (False, True), "num_head_channels": 8, "norm_num_groups": 8}


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


def prompts(n=8):
    return tokenize([["mri", "t2", "brain", "lesion"] if i % 2 else ["ultrasound", "breast", "benign"] for i in range(n)])


def train(iterations, text=True, **kwargs):
    torch.set_num_threads(1)
    images, _ = disks()
    options = dict(unet=TINY, prompt_dim=16, iterations=iterations, batch_size=8, lr=2e-3, seed=0, device="cpu", log_every=10)
    return train_ddpm(images, tokens=prompts() if text else None, **{**options, **kwargs})


def test_one_step_changes_unet_and_prompt_embedding():
    before = train(1, lr=0.0).state  # lr 0: the initial weights, same seed
    after = train(1, text_dropout=0.0).state
    for name in ("unet", "prompt_encoder"):
        assert any(not torch.equal(before[name][k], after[name][k]) for k in before[name])


def test_loss_decreases_and_is_logged():
    result = train(40, prediction_type="sample")
    loss = result.history["loss"].to_numpy()
    assert list(result.history["iteration"]) == [10, 20, 30, 40]
    assert loss[-1] < 0.7 * loss[0]
    assert result.images_per_second > 0


def test_unconditional_model_has_no_prompt_encoder():
    result = train(2, text=False)
    assert set(result.state) == {"unet"} and result.architecture["prompt_dim"] is None
    assert not result.architecture["unet"]["with_conditioning"]


def test_same_seed_same_weights():
    a, b = train(3).state, train(3).state
    assert all(torch.equal(a["unet"][k], b["unet"][k]) for k in a["unet"])


def test_fine_tuning_starts_from_the_pretrained_weights():
    pretrained = train(5)
    tuned = train(1, lr=0.0, init=(pretrained.state, pretrained.architecture))
    for name in ("unet", "prompt_encoder"):
        assert all(torch.equal(pretrained.state[name][k], tuned.state[name][k]) for k in tuned.state[name])
    with pytest.raises(ValueError, match="architecture"):
        train(1, prompt_dim=8, init=(pretrained.state, pretrained.architecture))


@pytest.mark.parametrize("prediction_type", ["v_prediction", "sample", "epsilon"])
def test_prediction_types_ema_and_cosine_schedule(prediction_type):
    result = train(3, prediction_type=prediction_type, ema_decay=0.99, lr_schedule="cosine")
    assert set(result.state) == {"unet", "prompt_encoder", "unet_online"}
    assert result.architecture["scheduler"]["prediction_type"] == prediction_type


def test_bad_inputs():
    with pytest.raises(ValueError, match="lr_schedule must be 'constant' or 'cosine', not 'step'"):
        train(1, lr_schedule="step")
    with pytest.raises(ValueError, match=r"need data \(N, C, H, W\) .* got \(4, 16, 16\)"):
        train_ddpm(np.zeros((4, 16, 16), np.float32), iterations=1)
