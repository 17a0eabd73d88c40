import math

import numpy as np
import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from radsynth.synthesis.diffusion_trainer import target, train_ddpm
from radsynth.synthesis.networks import ddpm_scheduler
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
def test_prediction_types_regress_their_targets(prediction_type):
    result = train(2, prediction_type=prediction_type)
    assert result.architecture["scheduler"]["prediction_type"] == prediction_type
    assert set(result.state) == {"unet", "prompt_encoder"} and np.isfinite(result.history["loss"]).all()
    # The regression target of each type, from the linear beta schedule written out here.
    scheduler = ddpm_scheduler(result.architecture["scheduler"])
    alpha_bar = np.cumprod(1 - np.linspace(1e-4, 2e-2, 1000))
    rng = np.random.default_rng(0)
    image, noise = rng.uniform(-1, 1, (2, 1, 4, 4)), rng.normal(size=(2, 1, 4, 4))
    steps = np.array([10, 700])
    a = np.sqrt(alpha_bar[steps])[:, None, None, None]
    b = np.sqrt(1 - alpha_bar[steps])[:, None, None, None]
    expected = {"epsilon": noise, "sample": image, "v_prediction": a * noise - b * image}[prediction_type]
    got = target(scheduler, torch.tensor(image, dtype=torch.float32), torch.tensor(noise, dtype=torch.float32),
                 torch.tensor(steps))
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-5)


def test_ema_weights_are_the_moving_average_of_the_online_weights():
    decay, steps, lr = 0.2, 4, 5e-2  # a large lr: steps far apart, so averages are told apart
    # The online weights after each step (constant lr: a shorter run is a prefix of a longer one).
    online = [train(k, lr=lr).state for k in range(1, steps + 1)]
    result = train(steps, lr=lr, ema_decay=decay)
    assert set(result.state) == {"unet", "prompt_encoder", "unet_online"}
    for key, value in online[-1]["unet"].items():
        assert torch.equal(result.state["unet_online"][key], value)  # keeping an EMA changes nothing
    # The recurrence by hand: the first update copies the weights (AveragedModel); after n
    # updates the average keeps beta = min(decay, (1 + n) / (10 + n)) of itself: 2/11, then
    # the cap 0.2 (3/12 and 4/13 are larger).
    for name in ("unet", "prompt_encoder"):
        for key in online[0][name]:
            average = online[0][name][key].double()
            for n, state in enumerate(online[1:], start=1):
                beta = min(decay, (1 + n) / (10 + n))
                average = beta * average + (1 - beta) * state[name][key].double()
            torch.testing.assert_close(result.state[name][key].double(), average, rtol=1e-5, atol=1e-6)
    assert not torch.equal(result.state["unet"]["conv_in.conv.weight"], online[-1]["unet"]["conv_in.conv.weight"])


def test_cosine_schedule_warms_up_then_decays_to_zero():
    rates = []

    def spy(optimizer, args, kwargs):  # called before every optimiser step, with its lr
        rates.append(optimizer.param_groups[0]["lr"])

    handle = register_optimizer_step_pre_hook(spy)
    try:
        train(40, lr=2e-3, lr_schedule="cosine")
    finally:
        handle.remove()
    # 40 steps: a linear warm-up over the first 5 % (2 steps), never above the cosine decay
    # 0.5 (1 + cos(pi i / 40)) that then takes it to zero.
    expected = [2e-3 * min((i + 1) / 2, 0.5 * (1 + math.cos(math.pi * i / 40))) for i in range(40)]
    assert rates == pytest.approx(expected, rel=1e-9)
    assert rates[0] == pytest.approx(1e-3) and rates[20] == pytest.approx(1e-3) and rates[-1] < 1e-5


def test_bad_inputs():
    with pytest.raises(ValueError, match="lr_schedule must be 'constant' or 'cosine', not 'step'"):
        train(1, lr_schedule="step")
    with pytest.raises(ValueError, match=r"need data \(N, C, H, W\) .* got \(4, 16, 16\)"):
        train_ddpm(np.zeros((4, 16, 16), np.float32), iterations=1)
