"""UNIT, MUNIT and NICE-GAN in RegGAN's modes: their parts on hand-made inputs, what NC drops,
and every method training in 2D and 3D and translating again from its checkpoint."""

import numpy as np
import pytest
import torch
from torch import nn

from radsynth.io import save_checkpoint
from radsynth.training.loop import seed_everything
from radsynth.translation.blocks import ILN, LayerNorm
from radsynth.translation.modes import DEFAULT_WEIGHTS, MODES, architecture_for, parameter_counts
from radsynth.translation.nicegan import NiceDiscriminator
from radsynth.translation.trainer import train_translation
from radsynth.translation.translator import Translator, build_networks, load_translator
from radsynth.translation.unit import MultiScaleDiscriminator
from radsynth.translation.unit_step import kl, munit_losses, munit_styles, unit_losses
from tests.translation.test_trainer import TINY_FAMILIES, blobs

BASELINES = sorted(m for m, spec in MODES.items() if spec.family != "resnet")
FAMILIES = ("unit", "munit", "nicegan")


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_method_names_cover_every_mode_of_every_family():
    assert BASELINES == sorted(f"{f}{m}" for f in FAMILIES for m in ("", "_nc", "_c_r", "_nc_r"))
    for family in FAMILIES:
        assert (MODES[family].cycle, MODES[family].registration) == (True, False)
        assert (MODES[f"{family}_nc_r"].cycle, MODES[f"{family}_nc_r"].registration) == (False, True)


def test_kl_is_the_mean_square_of_the_latent():
    assert kl(torch.tensor([[1.0, -2.0], [3.0, 0.0]])).item() == pytest.approx((1 + 4 + 9 + 0) / 4)


def test_layer_norm_standardises_each_sample_with_the_unbiased_std():
    x = torch.tensor([[[[1.0, 2.0]], [[3.0, 6.0]]]])  # (1, 2, 1, 2)
    norm = LayerNorm(2)
    with torch.no_grad():
        norm.gamma.copy_(torch.tensor([1.0, 2.0]))
        norm.beta.copy_(torch.tensor([0.0, 1.0]))
    values = np.array([1.0, 2.0, 3.0, 6.0])
    z = (values - 3.0) / (np.std(values, ddof=1) + 1e-5)
    expected = [[z[0], z[1]], [2 * z[2] + 1, 2 * z[3] + 1]]
    np.testing.assert_allclose(norm(x)[0, :, 0].detach().numpy(), expected, rtol=1e-5)


def test_iln_starts_as_the_softmax_mix_of_instance_and_layer_norm():
    x = torch.tensor([[[[1.0, 3.0]], [[0.0, 8.0]]]])  # (1, 2, 1, 2)
    values = x.numpy()[0, :, 0]
    instance = (values - values.mean(1, keepdims=True)) / np.sqrt(values.var(1, ddof=1, keepdims=True) + 1e-5)
    layer = (values - values.mean()) / np.sqrt(values.var(ddof=1) + 1e-5)
    weights = np.exp([1.0, 3.2]) / np.exp([1.0, 3.2]).sum()
    np.testing.assert_allclose(ILN(2)(x)[0, :, 0].detach().numpy(), weights[0] * instance + weights[1] * layer, rtol=1e-5)


def test_discriminator_maps_at_256_px():
    image = torch.zeros(1, 1, 256, 256)
    with torch.no_grad():
        unit_maps = MultiScaleDiscriminator(2, 1, filters=2)(image)
        local, global_, cam, z = NiceDiscriminator(2, 1, filters=2)(image)
    assert [m.shape[-1] for m in unit_maps] == [16, 8, 4]  # 4 stride-2 convs at 256, 128, 64 px
    assert (local.shape[-1], global_.shape[-1], cam.shape, z.shape) == (30, 6, (1, 1), (1, 4, 64, 64))
    # Between scales the average pool leaves padding out: a constant image stays constant.
    pooled = MultiScaleDiscriminator(2, 1, filters=2).downsample(torch.ones(1, 1, 9, 9))
    assert pooled.shape[-1] == 5 and torch.equal(pooled, torch.ones_like(pooled))


def test_nice_attention_weighs_features_by_the_raw_cam_weights():
    # Spectral norm divides the CAM layer's weights by their norm, so scaling them leaves the
    # CAM logit as it was; the features are weighted by the raw weights, so z changes.
    d = NiceDiscriminator(2, 1, filters=2, layers=6).eval()
    with torch.no_grad():
        d.encoder.lamda.fill_(1.0)
        x = torch.randn(1, 1, 64, 64, generator=torch.Generator().manual_seed(0))
        z, cam = d.encoder(x)
        d.encoder.fc.parametrizations.weight.original.mul_(2.0)
        z2, cam2 = d.encoder(x)
    torch.testing.assert_close(cam2, cam)
    assert not torch.allclose(z2, z)


@pytest.mark.parametrize("family", FAMILIES)
def test_nc_drops_the_reverse_discriminator(family):
    c = architecture_for(family, 2, 1, 1, families=TINY_FAMILIES, image_size=(64, 64))["networks"]
    nc = architecture_for(f"{family}_nc", 2, 1, 1, families=TINY_FAMILIES, image_size=(64, 64))["networks"]
    assert "discriminator_reverse" in c and "discriminator_reverse" not in nc
    assert "generator_reverse" not in nc
    if family == "nicegan":  # NC: the generator encodes with its own encoder, D is Discriminator2
        assert nc["generator"]["own_encoder"] and "own_encoder" not in c["generator"]
        assert (nc["discriminator"]["pad"], nc["discriminator"]["global_kernel"]) == ("replicate", 3)
    source = blobs(2, size=64)
    result = train_translation(source, -source, f"{family}_nc", families=TINY_FAMILIES, iterations=1,
                               batch_size=2, device="cpu")
    assert "g_adv_reverse" not in result.history and "d_reverse" not in result.history
    assert set(result.state) == set(nc)


class StandInAutoencoder(nn.Module):
    """A UNIT "auto-encoder": ``encode(x) = e * x``, ``decode(h) = g * h + s``."""

    def __init__(self, e, g, s):
        super().__init__()
        self.e, self.g, self.s = nn.Parameter(torch.tensor(e)), g, s

    def encode(self, x):
        return self.e * x

    def decode(self, h):
        return self.g * h + self.s


class TwoScales(nn.Module):
    """A multi-scale "discriminator": maps ``c * x`` and ``c * x + 1``."""

    def __init__(self, c):
        super().__init__()
        self.c = nn.Parameter(torch.tensor(c))

    def forward(self, x):
        return [self.c * x, self.c * x + 1]


@pytest.mark.parametrize("mode", ["unit", "unit_nc"])
def test_unit_losses_by_hand(mode, monkeypatch):
    monkeypatch.setattr(torch, "randn_like", torch.zeros_like)  # the VAE's noise set to 0
    rng = np.random.default_rng(3)
    a, b = rng.uniform(-1, 1, (2, 1, 4, 4)), rng.uniform(-1, 1, (2, 1, 4, 4))
    nets = nn.ModuleDict({"autoencoder_a": StandInAutoencoder(2.0, 0.5, 0.1),
                          "autoencoder_b": StandInAutoencoder(1.0, -1.0, 0.0), "discriminator": TwoScales(0.5),
                          "discriminator_reverse": TwoScales(-0.3)})
    dec_a, dec_b = (lambda h: 0.5 * h + 0.1), (lambda h: -h)
    fake_b, fake_a = dec_b(2 * a), dec_a(b)
    two_scales = lambda c, x: np.mean((c * x - 1) ** 2) + np.mean((c * x) ** 2)  # noqa: E731 - LSGAN, real
    mae = lambda x, y: np.mean(np.abs(x - y))  # noqa: E731
    expected = {
        "g_adv": two_scales(0.5, fake_b),
        "reconstruction": 10 * (mae(dec_a(2 * a), a) + mae(dec_b(b), b)),
        "kl": 0.01 * (np.mean((2 * a) ** 2) + np.mean(b**2)),
        "cycle": 10 * mae(dec_a(fake_b), a),  # B's encoder (x 1), then A's decoder
        "kl_cycle": 0.01 * np.mean(fake_b**2),
    }
    if mode == "unit":
        expected["g_adv_reverse"] = two_scales(-0.3, fake_a)
        expected["cycle"] += 10 * mae(dec_b(2 * fake_a), b)
        expected["kl_cycle"] += 0.01 * np.mean((2 * fake_a) ** 2)
    t = lambda x: torch.tensor(x, dtype=torch.float32)  # noqa: E731
    losses = unit_losses(nets, MODES[mode], DEFAULT_WEIGHTS, t(a), t(b))
    assert set(losses) == set(expected)
    for name, value in expected.items():
        assert losses[name].item() == pytest.approx(value, rel=1e-5), name


def test_munit_nc_r_weighs_the_adversarial_term_with_the_cycle_weight():
    arch = architecture_for("munit_nc_r", 2, 1, 1, families=TINY_FAMILIES, registration={"channels": [4, 8]})
    nets = build_networks(arch)
    a, b = torch.tensor(blobs(2)), torch.tensor(-blobs(2, seed=1))
    styles = munit_styles(nets, a, b)
    with_r = munit_losses(nets, MODES["munit_nc_r"], DEFAULT_WEIGHTS, a, b, styles)
    without = munit_losses(nets, MODES["munit_nc"], DEFAULT_WEIGHTS, a, b, styles)
    assert with_r["g_adv"].item() == pytest.approx(10 * without["g_adv"].item(), rel=1e-5)
    assert set(with_r) - set(without) == {"correction", "smoothness"}


def test_munit_translates_with_one_fixed_style():
    source = blobs(3)
    arch = architecture_for("munit_nc", 2, 1, 1, families=TINY_FAMILIES)
    state = {n: net.state_dict() for n, net in build_networks(arch).items()}
    first = Translator(arch, state, "cpu").translate(source, batch_size=3)
    np.testing.assert_allclose(Translator(arch, state, "cpu").translate(source, batch_size=1), first, atol=1e-6)
    arch["networks"]["autoencoder_b"]["test_style_seed"] = 1
    assert not np.allclose(Translator(arch, state, "cpu").translate(source), first)


def test_sizes_and_keys_are_checked():
    with pytest.raises(ValueError, match=r"multiples of 4, got \(30, 30\) \(preprocess.size\)"):
        train_translation(blobs(2, size=30), blobs(2, size=30), "unit", iterations=1, device="cpu")
    with pytest.raises(ValueError, match=r"nicegan's discriminators need at least 48 px a side, got \(32, 32\): raise "
                       r"preprocess.size or lower translation.nicegan.discriminator_layers"):
        train_translation(blobs(2), blobs(2), "nicegan", families=TINY_FAMILIES, iterations=1, device="cpu")
    with pytest.raises(ValueError, match=r"unit_nc's discriminators need at least 64 px"):  # official D: 4 layers, 3 scales
        train_translation(blobs(2), blobs(2), "unit_nc", iterations=1, device="cpu")
    with pytest.raises(ValueError, match=r"unknown translation.munit keys \['style'\]"):
        architecture_for("munit", 2, 1, 1, families={"munit": {"style": 8}})
    with pytest.raises(ValueError, match="without translation.nicegan.light needs the image size"):
        architecture_for("nicegan", 2, 1, 1)
    assert "image_size" not in architecture_for("nicegan", 2, 1, 1, families={"nicegan": {"light": True}})[
        "networks"]["generator"]


def _assert_trained_and_reloaded(mode, source, target, result, tmp_path):
    assert np.isfinite(result.history.drop(columns="iteration").to_numpy()).all()
    assert result.parameters == parameter_counts(result.architecture)
    translator = Translator(result.architecture, result.state, "cpu")
    output = translator.translate(source)
    assert output.shape == target.shape and np.isfinite(output).all() and np.abs(output).max() <= 1
    path = tmp_path / "model.pt"
    save_checkpoint(path, result.state, {"architecture": result.architecture, "mode": mode})
    np.testing.assert_array_equal(load_translator(path, device="cpu").translate(source), output)
    if MODES[mode].registration:
        assert translator.register(output, target).shape == (len(source), source.ndim - 2, *source.shape[2:])
    return output


@pytest.mark.parametrize("mode", BASELINES)
def test_one_step_trains_every_network_and_changes_the_translation(mode, tmp_path):
    size = 64 if MODES[mode].family == "nicegan" else 32
    source = blobs(4, size=size)
    result = train_translation(source, -source, mode, families=TINY_FAMILIES, registration={"channels": [4, 8]},
                               iterations=1, batch_size=2, lr=1e-3, seed=3, device="cpu")
    seed_everything(3)  # the trainer builds its networks right after seeding
    initial = {name: net.state_dict() for name, net in build_networks(result.architecture).items()}
    assert set(initial) == set(result.state)
    for name, state in initial.items():  # NICE-GAN's encoders too: trained by the D loss
        assert any(not torch.equal(v, result.state[name][k]) for k, v in state.items()), f"{mode}: {name} unchanged"
    assert list(result.history.columns[:2]) == ["iteration", "g_adv"]
    output = _assert_trained_and_reloaded(mode, source, -source, result, tmp_path)
    assert np.abs(output - Translator(result.architecture, initial, "cpu").translate(source)).max() > 1e-4


@pytest.mark.parametrize("mode", BASELINES)
def test_every_baseline_trains_in_3d(mode, tmp_path):
    spec = MODES[mode]
    # NICE-GAN's global head needs 48 px a side with C's discriminator (6 layers), 32 with NC's.
    size = {"unit": 16, "munit": 16, "nicegan": 48 if spec.cycle else 32}[spec.family]
    rng = np.random.default_rng(0)
    source = np.clip(rng.normal(size=(1, 1, size, size, size)), -1, 1).astype(np.float32)
    families = {f: {**s, "filters": 2, "discriminator_filters": 2} for f, s in TINY_FAMILIES.items()}
    families["nicegan"] = {**families["nicegan"], "nc_discriminator_filters": 2, "light": True}
    result = train_translation(source, -source, mode, families=families, registration={"channels": [2, 4]},
                               iterations=1, batch_size=1, device="cpu")
    assert result.architecture["spatial_dims"] == 3
    _assert_trained_and_reloaded(mode, source, -source, result, tmp_path)


@pytest.mark.parametrize("mode", ["unit_c_r", "munit_nc_r", "nicegan", "nicegan_nc_r"])
def test_losses_stay_float32_under_bf16_autocast(monkeypatch, mode):
    # The CUDA path (bf16 autocast) run on the CPU, where autocast supports bf16 as well.
    import radsynth.translation.nicegan_step as nice
    import radsynth.translation.unit_step as unit

    import radsynth.translation.trainer as trainer

    for module in (unit, nice):
        monkeypatch.setattr(module, "autocast", lambda device: torch.autocast("cpu", dtype=torch.bfloat16))
    outputs = []

    def recorded(step):
        def run(*args):
            outputs.append(step(*args))
            return outputs[-1]
        return run

    monkeypatch.setattr(trainer, "FAMILY_STEPS", {f: recorded(s) for f, s in trainer.FAMILY_STEPS.items()})
    source = blobs(2, size=64)
    result = train_translation(source, -source, mode, families=TINY_FAMILIES, registration={"channels": [4, 8]},
                               iterations=2, batch_size=2, device="cpu")
    assert len(outputs) == 2
    assert all(v.dtype == torch.float32 for out in outputs for v in out.values())
    assert np.isfinite(result.history.drop(columns="iteration").to_numpy()).all()
    assert all(v.dtype == torch.float32 for net in result.state.values() for v in net.values())
