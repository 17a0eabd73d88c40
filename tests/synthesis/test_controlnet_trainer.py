from unittest import mock

import numpy as np
import pytest
import torch
from monai.inferers import ControlNetDiffusionInferer
from scipy.ndimage import binary_dilation

from radsynth.io import InputError, save_checkpoint
from radsynth.synthesis.autoencoder_trainer import train_autoencoder
from radsynth.synthesis.control import control_map
from radsynth.synthesis.controlnet import ControlNetGenerator
from radsynth.synthesis.controlnet_trainer import frozen_base, train_controlnet
from radsynth.synthesis.diffusion_trainer import train_ddpm
from radsynth.synthesis.networks import CFG_FILL_VALUE, build_controlnet, ddpm_scheduler, scheduler_config
from radsynth.synthesis.prompts import MAX_WORDS
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


@pytest.fixture(scope="module")
def steered(tmp_path_factory):
    """A ControlNet trained briefly on bright disks (prediction of x0: usable after a few dozen
    steps) over an unconditional base trained on the same disks, the frozen UNet the ControlNet
    trainer ran with, and the generator of both."""
    torch.set_num_threads(1)
    images, labels = disks(16)
    settings = dict(batch_size=8, seed=0, device="cpu", log_every=50)
    base = train_ddpm(images, unet=TINY, prediction_type="sample", iterations=80, lr=2e-3, **settings)
    used = []

    def spy(*args, **kwargs):
        unet, encoder = frozen_base(*args, **kwargs)
        used.append(unet)
        return unet, encoder

    with mock.patch("radsynth.synthesis.controlnet_trainer.frozen_base", spy):
        result = train_controlnet(images, labels, base.state, base.architecture, iterations=100, lr=1e-3, **settings)
    generator = save_generator(tmp_path_factory.mktemp("steered") / "cn.pt", base, result)
    return base, result, used[0], generator


def x0_error(generator, images, control, controlnet=None):
    """Mean squared error of the x0 predictions of a test batch, noised at a few levels."""
    scheduler = ddpm_scheduler(generator.scheduler)
    inferer = ControlNetDiffusionInferer(scheduler)
    x0, noises = torch.as_tensor(images), torch.Generator().manual_seed(0)
    errors = []
    for t in (300, 500, 700, 900):
        noise = torch.randn(x0.shape, generator=noises)
        with torch.no_grad():
            prediction = inferer(x0, generator.unet, controlnet or generator.controlnet, noise,
                                 torch.full((len(x0),), t), torch.as_tensor(control))
        errors.append(((prediction - x0) ** 2).mean().item())
    return np.mean(errors)


def test_controlnet_learns_while_the_base_stays_frozen(steered):
    base, result, unet, generator = steered
    # The UNet the trainer ran with is the base, untouched and without gradients.
    assert all(torch.equal(value, base.state["unet"][key]) for key, value in unet.state_dict().items())
    assert not any(p.requires_grad for p in unet.parameters())
    assert set(result.state) == {"controlnet"} and len(result.history) == 2
    assert result.architecture["control"] == {"edge_sigma": 1.0, "mask_fill": None}
    # What it learned: to read the disk off the control map. Unseen disks are denoised far
    # better with their own maps than with other slices' maps or none (-1 everywhere).
    images, labels = disks(6, seed=5)
    control = control_map(images, labels, 1.0)
    own = x0_error(generator, images, control)
    assert own < 0.6 * x0_error(generator, images, np.roll(control, 1, axis=0))
    assert own < 0.6 * x0_error(generator, images, np.full_like(control, -1.0))
    # Before training, the zero-initialised outputs leave the map unread.
    untrained = build_controlnet(result.architecture["controlnet"], generator.unet).eval()
    assert x0_error(generator, images, control, untrained) == x0_error(
        generator, images, np.roll(control, 1, axis=0), untrained
    )


def test_the_control_map_steers_the_samples(steered):
    *_, generator = steered
    untrained = ControlNetGenerator(
        generator.unet, None, build_controlnet(generator.architecture["controlnet"]["controlnet"], generator.unet).eval(),
        generator.scheduler, generator.control,
    )
    images, labels = disks(6, seed=5)
    for first, second in ((0, 1), (2, 3), (4, 5)):
        # One slice per call, same seed: both samples start from the same noise.
        a, b = (generator.sample(images[[i]], labels[[i]], 1, seed=3, steps=10, device="cpu")["image"][0, 0]
                for i in (first, second))
        only_a = (labels[first] > 0) & (labels[second] == 0)
        only_b = (labels[second] > 0) & (labels[first] == 0)
        assert only_a.sum() >= 5 and only_b.sum() >= 5
        # The disk is drawn where the map puts it (disk 0.8, background -0.2: a difference of
        # 1), and the two samples agree away from both disks.
        difference = a - b
        assert difference[only_a].mean() > 0.3 and difference[only_b].mean() < -0.3
        away = ~binary_dilation((labels[first] > 0) | (labels[second] > 0))
        assert np.abs(difference[away]).mean() < 0.15
        # An untrained ControlNet does not steer: the same noise gives the same sample.
        a, b = (untrained.sample(images[[i]], labels[[i]], 1, seed=3, steps=10, device="cpu")["image"]
                for i in (first, second))
        np.testing.assert_array_equal(a, b)


class Prompt(torch.nn.Module):
    """Stand-in prompt encoder: the context of a prompt is its first word index / 10."""

    def forward(self, tokens):
        return tokens[:, :1, None].float() / 10


class Prediction(torch.nn.Module):
    """Stand-in base model predicting x0 = the context value (0.1 for the guidance fill)."""

    def __init__(self):
        super().__init__()
        self.batches = []

    def forward(self, x, timesteps, context=None, **residuals):
        self.batches.append(context.flatten().tolist())
        value = torch.where(context == CFG_FILL_VALUE, 0.1, context).view(-1, 1, 1, 1)
        return value.expand_as(x)


class Silent(torch.nn.Module):
    """Stand-in ControlNet that adds nothing."""

    def forward(self, x, timesteps, controlnet_cond, context=None):
        return [], None


@pytest.mark.parametrize("scale,expected", [(None, [0.2, 0.4]), (1.0, [0.2, 0.4]), (2.0, [0.3, 0.7]), (0.0, [0.1, 0.1])])
def test_guidance_is_uncond_plus_scale_times_the_difference(scale, expected):
    # One DDIM step of an x0 predictor gives the (guided) prediction itself; prompts with
    # first words 2 and 4 have conditional predictions 0.2 and 0.4, the unconditional is 0.1:
    # 0.1 + w (cond - 0.1).
    model = Prediction()
    config = scheduler_config(1000, "linear_beta", prediction_type="sample")
    generator = ControlNetGenerator(model, Prompt(), Silent(), config, {"edge_sigma": 1.0, "mask_fill": None})
    images, labels = disks(2)
    tokens = np.zeros((2, MAX_WORDS), np.int64)
    tokens[:, 0] = [2, 4]
    out = generator.sample(images, labels, 2, tokens=tokens, steps=1, guidance_scale=scale, device="cpu")
    np.testing.assert_allclose(out["image"][:, 0], np.repeat(expected, 2)[:, None, None] * np.ones((4, 16, 16)),
                               atol=1e-6)
    # Guidance runs the unconditional (filled) and conditional rows together; without, once.
    guided = scale not in (None, 1.0)
    fill = [CFG_FILL_VALUE] * 4 if guided else []
    assert len(model.batches) == 1 and model.batches[0] == pytest.approx(fill + [0.2, 0.2, 0.4, 0.4])


class QuarterCodec:
    """Stand-in latent codec: latents on the image grid, decoded as latent / 4."""

    factor = 1

    def latent_shape(self, shape):
        return tuple(shape)

    def decode(self, latents):
        return latents / 4


@pytest.mark.parametrize("codec,expected", [(None, 1.0), (QuarterCodec(), 0.5)])
def test_latents_are_not_clipped_pixels_are(codec, expected):
    # A model predicting x0 = 2 (prompt word 20): in latent space DDIM-20 keeps the 2, decoded
    # as 0.5; in pixel space ([-1, 1] data) the prediction is clamped to 1.
    config = scheduler_config(1000, "linear_beta", prediction_type="sample")
    generator = ControlNetGenerator(Prediction(), Prompt(), Silent(), config, {"edge_sigma": 1.0, "mask_fill": None},
                                    codec=codec)
    images, labels = disks(1)
    tokens = np.full((1, MAX_WORDS), 20, np.int64)
    out = generator.sample(images, labels, 1, tokens=tokens, steps=20, device="cpu")
    np.testing.assert_allclose(out["image"], expected, atol=1e-5)


def test_transfer_starts_from_the_given_controlnet_and_keeps_the_base(base):
    # EMIT-Diff's transfer: the pool's ControlNet is the start. At lr 0 AdamW moves nothing, so
    # the result is the start itself; a fresh start (the base encoder's copy) is another.
    pool = controlnet(base, iterations=2)
    same = lambda a, b: all(torch.equal(v, b[k]) for k, v in a.items())  # noqa: E731
    used = []

    def spy(*args, **kwargs):
        unet, encoder = frozen_base(*args, **kwargs)
        used.append(unet)
        return unet, encoder

    augment = dict(init=pool.state, flip=False, rotate=20.0, scale=(0.75, 1.05))
    assert same(controlnet(base, lr=0.0, **augment).state["controlnet"], pool.state["controlnet"])
    assert not same(controlnet(base, lr=0.0).state["controlnet"], pool.state["controlnet"])
    with mock.patch("radsynth.synthesis.controlnet_trainer.frozen_base", spy):
        task = controlnet(base, **augment)  # lr 1e-3
    # Only the ControlNet learns: the base UNet is bit-identical after the rotated, zoomed steps.
    assert not same(task.state["controlnet"], pool.state["controlnet"])
    assert same(used[0].state_dict(), base.state["unet"])


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
    result = controlnet(latent_base, codec=codec.codec(), rotate=5.0)  # augmented batches encoded per step
    assert result.architecture["controlnet"]["conditioning_embedding_num_channels"] == [16, 32]
    generator = save_generator(tmp_path / "latent.pt", latent_base, result, codec)
    out = generator.sample(images[:2], labels[:2], 1, tokens=prompts(2), steps=2, device="cpu")
    assert out["image"].shape == (2, 1, 16, 16) and np.isfinite(out["image"]).all()


def test_foreign_checkpoint_is_refused(tmp_path):
    path = tmp_path / "gan.pt"
    save_checkpoint(path, {"generator": {}}, {"generator": "gan"})
    with pytest.raises(InputError, match="gan.pt: not a ControlNet generator checkpoint"):
        ControlNetGenerator.from_checkpoint(path, device="cpu")
