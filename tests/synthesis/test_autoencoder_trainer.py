import json

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from radsynth.io import InputError, save_checkpoint
from radsynth.synthesis.autoencoder import (
    LatentCodec,
    autoencoder_config,
    build_autoencoder,
    downsample_factor,
)
from radsynth.synthesis.autoencoder_trainer import load_autoencoder, train_autoencoder

TINY = {"channels": (8, 16), "latent_channels": 2, "norm_num_groups": 8}


def blobs(n=16, size=16, seed=0):
    """Blurred bright blobs of random place and size on a dark background, in [-1, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images = np.empty((n, 1, size, size), np.float32)
    for i in range(n):
        cy, cx = rng.uniform(size * 0.25, size * 0.75, 2)
        radius = rng.uniform(size * 0.1, size * 0.25)
        disk = ((yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2).astype(np.float32)
        images[i, 0] = 2 * gaussian_filter(disk, 1.0) - 1
    return images


def train(iterations, images=None, **kwargs):
    torch.set_num_threads(1)
    options = {"network": TINY, "iterations": iterations, "batch_size": 8, "lr": 2e-3}
    images = blobs() if images is None else images
    return train_autoencoder(images, seed=0, device="cpu", **{**options, **kwargs})


@pytest.fixture(scope="module")
def trained():
    return train(60)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"attention_levels": (False,)}, "attention_levels"),
        ({"num_res_blocks": (1, 1, 1)}, "num_res_blocks"),
        ({"norm_num_groups": 16}, "norm_num_groups"),
        ({"channels": ()}, "at least one"),
    ],
)
def test_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        autoencoder_config(1, **{**TINY, **kwargs})


def test_config_is_json_and_light():
    config = autoencoder_config(2, **TINY)
    assert json.loads(json.dumps(config)) == config
    assert config["in_channels"] == config["out_channels"] == 2
    assert config["attention_levels"] == [False, False]
    assert not config["with_encoder_nonlocal_attn"]
    assert downsample_factor(config) == 2
    assert downsample_factor(autoencoder_config(1)) == 4


def test_codec_shapes():
    config = autoencoder_config(1, **TINY)
    codec = LatentCodec(build_autoencoder(config), scale_factor=0.5)
    assert codec.latent_shape((1, 16, 24)) == (2, 8, 12)
    with pytest.raises(ValueError, match="multiple"):
        codec.latent_shape((1, 15, 16))
    images = torch.as_tensor(blobs(3))
    latents = codec.encode(images, batch_size=2)
    assert latents.shape == (3, 2, 8, 8)
    # Deterministic (posterior mean) and scaled.
    torch.testing.assert_close(latents, codec.encode(images))
    z_mu = codec.autoencoder.encode(images)[0]
    torch.testing.assert_close(latents, 0.5 * z_mu)
    assert codec.decode(latents).shape == (3, 1, 16, 16)


def test_training_lowers_reconstruction_loss(trained):
    history = trained.history
    assert list(history["iteration"]) == [10, 20, 30, 40, 50, 60]
    assert {"loss", "reconstruction", "kl"} <= set(history.columns)
    rec = history["reconstruction"].to_numpy()
    assert rec[-1] < 0.7 * rec[0]
    assert trained.images_per_second > 0
    assert set(trained.state) == {"autoencoder"}
    assert trained.architecture["downsample"] == 2


def test_scale_factor_gives_unit_variance(trained):
    images = torch.as_tensor(blobs())
    latents = trained.codec().encode(images)
    assert latents.std().item() == pytest.approx(1.0, abs=1e-3)
    assert trained.architecture["scale_factor"] > 0


def test_adversarial_training():
    images = blobs(8, size=32)
    result = train(4, images, adversarial_weight=0.1, adversarial_start=2, log_every=2)
    assert set(result.state) == {"autoencoder", "discriminator"}
    history = result.history
    assert np.isnan(history["discriminator"].iloc[0])  # warm-up: no discriminator yet
    assert np.isfinite(history[["adversarial", "discriminator"]].iloc[-1]).all()
    with pytest.raises(ValueError, match="at least"):
        train(1, adversarial_weight=0.1)  # 16x16 is too small for the discriminator


@pytest.mark.parametrize("adversarial_weight", [0.0, 0.1])
def test_same_seed_same_weights(adversarial_weight):
    images = blobs(8, size=32)
    a = train(3, images, adversarial_weight=adversarial_weight).state
    b = train(3, images, adversarial_weight=adversarial_weight).state
    assert a.keys() == b.keys()
    for net in a:
        assert a[net].keys() == b[net].keys()
        assert all(torch.equal(a[net][k], b[net][k]) for k in a[net])


def test_checkpoint_round_trip(tmp_path, trained):
    path = tmp_path / "autoencoder.pt"
    save_checkpoint(path, trained.state, {"architecture": trained.architecture})
    codec = load_autoencoder(path, device="cpu")
    assert not codec.autoencoder.training
    assert codec.scale_factor == trained.architecture["scale_factor"]
    images = torch.as_tensor(blobs(4))
    expected = trained.codec().decode(trained.codec().encode(images))
    assert torch.equal(codec.decode(codec.encode(images)), expected)


def test_load_rejects_foreign_checkpoints(tmp_path, trained):
    path = tmp_path / "no_architecture.pt"
    save_checkpoint(path, trained.state, {"config": {}})
    with pytest.raises(InputError, match="architecture"):
        load_autoencoder(path, device="cpu")
    path = tmp_path / "no_autoencoder.pt"
    save_checkpoint(path, {"unet": {}}, {"architecture": trained.architecture})
    with pytest.raises(InputError, match="autoencoder"):
        load_autoencoder(path, device="cpu")
