import numpy as np
import pytest
import torch

from radsynth.io import InputError, save_checkpoint
from radsynth.synthesis.ddpm import DDPMGenerator, channel_mask, joint_data, mask_channel
from radsynth.synthesis.diffusion_trainer import train_ddpm
from tests.synthesis.test_diffusion_trainer import TINY, disks


def test_mask_channel_round_trip_for_several_classes():
    labels = np.array([[[0, 1], [2, 3]]], np.uint8)
    channel = mask_channel(labels, classes=3)
    np.testing.assert_allclose(channel[0, 0], [[-1, -1 / 3], [1 / 3, 1]], atol=1e-6)
    np.testing.assert_array_equal(channel_mask(channel + 0.1, 3), labels)  # rounding tolerates noise
    assert channel_mask(np.full((1, 1, 2, 2), 5.0), 3).max() == 3


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    torch.set_num_threads(1)
    images, labels = disks()
    result = train_ddpm(joint_data(images, labels, 1), unet=TINY, iterations=4, batch_size=4, seed=0, device="cpu")
    path = tmp_path_factory.mktemp("ddpm") / "ddpm.pt"
    architecture = {**result.architecture, "classes": 1}
    save_checkpoint(path, result.state, {"generator": "ddpm", "architecture": architecture})
    return DDPMGenerator.from_checkpoint(path, device="cpu")


def test_samples_draw_their_own_masks(generator):
    images, labels = disks(3)
    out = generator.sample(images, labels, 2, seed=0, steps=3, batch_size=4, device="cpu")
    assert out["image"].shape == (6, 1, 16, 16) and out["label"].shape == (6, 16, 16)
    assert out["label"].dtype == np.uint8 and set(np.unique(out["label"])) <= {0, 1}
    assert (out["source_index"] == -1).all() and list(out["sample"]) == [0, 1] * 3
    again = generator.sample(images, labels, 2, seed=0, steps=3, batch_size=1, device="cpu")
    np.testing.assert_allclose(out["image"], again["image"], atol=1e-5)


def test_channel_mismatch_and_foreign_checkpoint(generator, tmp_path):
    with pytest.raises(ValueError, match="channels"):
        generator.sample(np.zeros((1, 2, 16, 16), np.float32), np.zeros((1, 16, 16)), 1, steps=1, device="cpu")
    path = tmp_path / "cn.pt"
    save_checkpoint(path, {"unet": {}}, {"generator": "controlnet"})
    with pytest.raises(InputError, match="cn.pt: not an unconditional DDPM generator checkpoint"):
        DDPMGenerator.from_checkpoint(path, device="cpu")
