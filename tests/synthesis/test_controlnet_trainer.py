import numpy as np
import pytest
import torch

from radsynth.io import InputError, save_checkpoint
from radsynth.synthesis.autoencoder_trainer import train_autoencoder
from radsynth.synthesis.controlnet import ControlNetGenerator
from radsynth.synthesis.controlnet_trainer import train_controlnet
from radsynth.synthesis.diffusion_trainer import train_ddpm
from tests.synthesis.test_diffusion_trainer import TINY, disks, prompts

OPTIONS = dict(iterations=6, batch_size=4, lr=1e-3, seed=0, device="cpu", log_every=3)


@pytest.fixture(scope="module")
def base():
    torch.set_num_threads(1)
    images, _ = disks()
    return train_ddpm(images, tokens=prompts(), unet=TINY, prompt_dim=16, prediction_type="sample", **OPTIONS)


def controlnet(base, **kwargs):
    images, labels = disks()
    return train_controlnet(images, labels, base.state, base.architecture, tokens=prompts(), **{**OPTIONS, **kwargs})


def save_generator(path, base, result, codec=None):
    state = {**base.state, **result.state}
    architecture = {"base": base.architecture, "controlnet": result.architecture}
    if codec is not None:
        state["autoencoder"] = codec.state["autoencoder"]
        architecture["autoencoder"] = codec.architecture
    save_checkpoint(path, state, {"generator": "controlnet", "architecture": architecture})
    return ControlNetGenerator.from_checkpoint(path, device="cpu")


def test_controlnet_learns_while_the_base_stays_frozen(base):
    before = {k: v.clone() for k, v in base.state["unet"].items()}
    result = controlnet(base)
    assert all(torch.equal(before[k], base.state["unet"][k]) for k in before)
    assert set(result.state) == {"controlnet"} and len(result.history) == 2
    assert result.architecture["control"] == {"edge_sigma": 1.0, "mask_fill": None}
    # The zero-initialised output convolutions have moved: the ControlNet now steers the UNet.
    assert result.state["controlnet"]["controlnet_mid_block.conv.weight"].abs().sum() > 0


def test_text_conditioned_base_needs_prompts(base):
    images, labels = disks()
    with pytest.raises(ValueError, match="prompt"):
        train_controlnet(images, labels, base.state, base.architecture, **OPTIONS)


def test_samples_keep_the_real_masks_and_do_not_depend_on_batching(base, tmp_path):
    generator = save_generator(tmp_path / "cn.pt", base, controlnet(base))
    images, labels = disks(3)
    kwargs = dict(tokens=prompts(3), seed=1, steps=3, device="cpu")
    a = generator.sample(images, labels, 2, batch_size=6, **kwargs)
    b = generator.sample(images, labels, 2, batch_size=1, **kwargs)
    assert a["image"].shape == (6, 1, 16, 16) and a["image"].dtype == np.float32
    np.testing.assert_array_equal(a["label"], labels[[0, 0, 1, 1, 2, 2]])
    np.testing.assert_array_equal(a["source_index"], [0, 0, 1, 1, 2, 2])
    np.testing.assert_allclose(a["image"], b["image"], atol=1e-5)
    assert not np.allclose(a["image"][0], a["image"][1])  # two samples of one mask differ
    guided = generator.sample(images, labels, 2, guidance_scale=3.0, **kwargs)
    assert np.isfinite(guided["image"]).all() and not np.allclose(guided["image"], a["image"])
    assert np.abs(a["image"]).max() <= 1.0


def test_latent_controlnet_samples_full_size_images(base, tmp_path):
    images, labels = disks()
    codec = train_autoencoder(images, network={"channels": (8, 16), "latent_channels": 2, "norm_num_groups": 8}, **OPTIONS)
    latents = codec.codec().encode(torch.as_tensor(images)).numpy()
    latent_base = train_ddpm(latents, tokens=prompts(), unet=TINY, prompt_dim=16, flip=False, **OPTIONS)
    result = controlnet(latent_base, codec=codec.codec())
    assert result.architecture["controlnet"]["conditioning_embedding_num_channels"] == [16, 32]
    generator = save_generator(tmp_path / "latent.pt", latent_base, result, codec)
    out = generator.sample(images[:2], labels[:2], 1, tokens=prompts(2), steps=2, device="cpu")
    assert out["image"].shape == (2, 1, 16, 16) and np.isfinite(out["image"]).all()


def test_foreign_checkpoint_is_refused(tmp_path):
    path = tmp_path / "gan.pt"
    save_checkpoint(path, {"generator": {}}, {"generator": "gan"})
    with pytest.raises(InputError, match="gan.pt: not a ControlNet generator checkpoint"):
        ControlNetGenerator.from_checkpoint(path, device="cpu")
