import numpy as np
import pytest
import torch

from radsynth.io import InputError, save_checkpoint
from radsynth.synthesis.ddpm import DDPMGenerator, channel_mask, joint_data, mask_channel
from radsynth.synthesis.diffusion_trainer import train_ddpm
from radsynth.synthesis.networks import scheduler_config
from tests.synthesis.test_diffusion_trainer import TINY, disks


def test_mask_channel_round_trip_for_several_classes():
    labels = np.array([[[0, 1], [2, 3]]], np.uint8)
    channel = mask_channel(labels, classes=3)
    np.testing.assert_allclose(channel[0, 0], [[-1, -1 / 3], [1 / 3, 1]], atol=1e-6)
    np.testing.assert_array_equal(channel_mask(channel + 0.1, 3), labels)  # rounding tolerates noise
    assert channel_mask(np.full((1, 1, 2, 2), 5.0), 3).max() == 3


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    """A joint image + mask DDPM trained briefly on bright disks and their masks (x0 prediction,
    which gives usable samples after a few dozen steps)."""
    torch.set_num_threads(1)
    images, labels = disks(16)
    result = train_ddpm(joint_data(images, labels, 1), unet=TINY, prediction_type="sample", iterations=80,
                        batch_size=8, lr=2e-3, seed=0, device="cpu", log_every=40)
    path = tmp_path_factory.mktemp("ddpm") / "ddpm.pt"
    architecture = {**result.architecture, "classes": 1}
    save_checkpoint(path, result.state, {"generator": "ddpm", "architecture": architecture})
    return DDPMGenerator.from_checkpoint(path, device="cpu")


def test_samples_draw_their_own_masks(generator):
    images, labels = disks(4)
    out = generator.sample(images, labels, 2, seed=0, steps=10, batch_size=8, device="cpu")
    assert out["image"].shape == (8, 1, 16, 16) and out["label"].shape == (8, 16, 16)
    assert out["label"].dtype == np.uint8 and set(np.unique(out["label"])) <= {0, 1}
    assert (out["source_index"] == -1).all() and list(out["sample"]) == [0, 1] * 4
    again = generator.sample(images, labels, 2, seed=0, steps=10, batch_size=3, device="cpu")
    np.testing.assert_allclose(out["image"], again["image"], atol=1e-5)
    # Each drawn mask covers the bright disk of its own image (the disks sit at 0.8 on -0.2),
    # wherever the sample put it.
    centres = []
    for image, mask in zip(out["image"][:, 0], out["label"].astype(bool)):
        bright = image > 0.3
        assert mask.sum() >= 10 and 2 * (bright & mask).sum() / (bright.sum() + mask.sum()) > 0.8
        assert image[mask].mean() - image[~mask].mean() > 0.8
        centres.append(np.argwhere(mask).mean(0))
        np.testing.assert_allclose(centres[-1], np.argwhere(bright).mean(0), atol=1.0)
    assert np.ptp(np.array(centres), axis=0).max() > 2  # not one place for every sample


class Oracle(torch.nn.Module):
    """A noise predictor that knows the answer: for a known x0, the noise that makes x_t,
    eps = (x_t - sqrt(abar_t) x0) / sqrt(1 - abar_t), with abar of the linear beta schedule
    (1e-4 to 2e-2 over 1000 steps) written out here."""

    def __init__(self, x0):
        super().__init__()
        self.x0 = torch.as_tensor(x0, dtype=torch.float64)
        self.out_channels = x0.shape[1]
        self.alpha_bar = torch.as_tensor(np.cumprod(1 - np.linspace(1e-4, 2e-2, 1000)))
        self.timesteps = []

    def forward(self, x, timesteps, context=None):
        t = int(timesteps[0])
        self.timesteps.append(t)
        a = self.alpha_bar[t]
        return ((x.double() - a.sqrt() * self.x0) / (1 - a).sqrt()).float()


def test_ddim_with_the_true_noise_returns_the_data():
    rng = np.random.default_rng(0)
    images = rng.uniform(-0.9, 0.9, (3, 1, 16, 16)).astype(np.float32)
    labels = rng.integers(0, 2, (3, 16, 16)).astype(np.uint8)
    x0 = joint_data(images, labels, 1)  # image and mask channel, inside [-1, 1]
    oracle = Oracle(x0)
    config = {**scheduler_config(1000, "linear_beta"), "prediction_type": "epsilon"}
    out = DDPMGenerator(oracle, config, classes=1).sample(images, labels, 1, seed=3, steps=20, device="cpu")
    # 20 deterministic DDIM steps of 50 down the whole schedule (999, 949, ..., 49); each predicts
    # x0 from the noise and steps to sqrt(abar) x0 + sqrt(1 - abar) eps, the last (abar = 1) to x0.
    assert oracle.timesteps == list(range(999, 0, -50))
    np.testing.assert_allclose(out["image"], images, atol=1e-4)
    np.testing.assert_array_equal(out["label"], labels)


def test_channel_mismatch_and_foreign_checkpoint(generator, tmp_path):
    with pytest.raises(ValueError, match="channels"):
        generator.sample(np.zeros((1, 2, 16, 16), np.float32), np.zeros((1, 16, 16)), 1, steps=1, device="cpu")
    path = tmp_path / "cn.pt"
    save_checkpoint(path, {"unet": {}}, {"generator": "controlnet"})
    with pytest.raises(InputError, match="cn.pt: not an unconditional DDPM generator checkpoint"):
        DDPMGenerator.from_checkpoint(path, device="cpu")
