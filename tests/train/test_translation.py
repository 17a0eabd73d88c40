"""The translation trainer: every mode trains, RegGAN learns a registration, checkpoints reload."""

import numpy as np
import pytest
import torch
from monai.losses import DiffusionLoss
from scipy.ndimage import gaussian_filter
from scipy.ndimage import shift as nd_shift

from radsynth.io import save_checkpoint
from radsynth.train.common import seed_everything
from radsynth.train.translation import (
    MODES,
    ReplayBuffer,
    Translator,
    _smoothness,
    architecture_for,
    build_networks,
    load_translator,
    train_translation,
)

TINY = {
    "generator": {"filters": 4, "residual_blocks": 1},
    "discriminator": {"filters": 4, "layers": 2},
    "registration": {"channels": [8, 16, 16]},
}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def blobs(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    """Textured disks on a -1 background: (n, 1, size, size) float32."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images = []
    for _ in range(n):
        cy, cx = rng.uniform(0.4 * size, 0.6 * size, 2)
        radius = rng.uniform(0.2 * size, 0.28 * size)
        texture = gaussian_filter(rng.normal(size=(size, size)), 1.5)
        disk = (yy - cy) ** 2 + (xx - cx) ** 2 < radius**2
        images.append(np.where(disk, 0.2 + 0.7 * texture / np.abs(texture).max(), -1.0))
    return np.stack(images)[:, None].astype(np.float32)


@pytest.mark.filterwarnings("ignore:Using a non-tuple sequence")
def test_smoothness_is_mean_squared_central_differences():
    field = torch.randn(2, 2, 9, 11)
    d0 = (field[:, :, 2:, 1:-1] - field[:, :, :-2, 1:-1]) / 2
    d1 = (field[:, :, 1:-1, 2:] - field[:, :, 1:-1, :-2]) / 2
    expected = (d0**2 + d1**2).mean()
    assert torch.allclose(_smoothness(field), expected)
    assert torch.allclose(DiffusionLoss()(field), expected)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_one_step_trains_every_network_of_a_mode(mode):
    source = blobs(4)
    target = -source
    result = train_translation(source, target, mode, **TINY, iterations=1, batch_size=2, seed=3, device="cpu")
    seed_everything(3)  # the trainer builds its networks right after seeding
    initial = build_networks(result.architecture)
    assert set(result.state) == set(initial)
    assert ("registration" in result.state) == MODES[mode].registration
    assert ("generator_reverse" in result.state) == MODES[mode].cycle
    for name, net in initial.items():
        before = net.state_dict()
        changed = any(not torch.equal(before[k], v) for k, v in result.state[name].items())
        assert changed, f"{mode}: {name} did not change"
    assert list(result.history.columns[:2]) == ["iteration", "g_adv"]
    assert np.isfinite(result.history.drop(columns="iteration").to_numpy()).all()
    assert result.images_per_second > 0


def test_modes_and_weights_are_checked():
    data = blobs(2)
    with pytest.raises(ValueError, match="unknown translation mode"):
        train_translation(data, data, "unit", iterations=1)
    with pytest.raises(ValueError, match="unknown loss weights"):
        train_translation(data, data, "nc", weights={"cycles": 1.0}, iterations=1)
    with pytest.raises(ValueError, match="spatial shapes differ"):
        train_translation(data, data[..., :16], "nc", iterations=1)


def test_replay_buffer_fills_then_mixes_past_fakes():
    buffer = ReplayBuffer(4, torch.Generator().manual_seed(0))
    first = torch.arange(4.0).reshape(4, 1)
    assert torch.equal(buffer.push_and_pop(first), first)  # filling: the fakes pass through
    returned = torch.cat([buffer.push_and_pop(torch.full((4, 1), 10.0 + i)) for i in range(10)])
    assert (returned < 10).any() and (returned >= 10).any()
    assert buffer.data.shape == (4, 1)
    assert torch.equal(ReplayBuffer(0, torch.Generator()).push_and_pop(first), first)


def test_reggan_learns_the_misalignment():
    # Each target is its source moved by its own random shift, so G cannot absorb the shift;
    # only R can explain it. The true field is minus the content shift.
    source = blobs(32, seed=1)
    rng = np.random.default_rng(2)
    shifts = rng.integers(-3, 4, size=(len(source), 2))
    target = np.stack([nd_shift(s[0], d, order=0, cval=-1.0) for s, d in zip(source, shifts)])[:, None]
    result = train_translation(
        source, target, "nc_r", **TINY, iterations=100, batch_size=4, lr=5e-3, seed=0, device="cpu", log_every=10
    )
    correction = result.history["correction"].to_numpy()
    assert correction[-1] < 0.5 * correction[0]

    translator = Translator(result.architecture, result.state, "cpu")
    field = translator.register(translator.translate(source), target)
    inside = target[:, 0] > -0.9
    mean_field = np.array([[f[axis][m].mean() for axis in range(2)] for f, m in zip(field, inside)])
    correlation = [np.corrcoef(mean_field[:, axis], -shifts[:, axis])[0, 1] for axis in range(2)]
    assert np.mean(correlation) > 0.4, correlation


def test_checkpoint_round_trip(tmp_path):
    source = blobs(4)
    result = train_translation(source, -source, "nc_r", **TINY, iterations=2, batch_size=2, device="cpu")
    path = tmp_path / "model.pt"
    save_checkpoint(path, result.state, {"architecture": result.architecture, "mode": "nc_r"})
    loaded = load_translator(path, device="cpu")
    direct = Translator(result.architecture, result.state, "cpu")
    output = direct.translate(source)
    np.testing.assert_array_equal(loaded.translate(source), output)
    # Batching only changes float rounding.
    np.testing.assert_allclose(loaded.translate(source, batch_size=3), output, atol=1e-5)
    np.testing.assert_array_equal(loaded.register(output, -source), direct.register(output, -source))
    assert loaded.translate(source).dtype == np.float32


def test_architecture_is_json_and_conditional_for_pix2pix():
    arch = architecture_for("pix2pix", 2, 1, 1, {"filters": 4, "residual_blocks": 1}, {"filters": 4})
    assert arch["networks"]["discriminator"]["in_channels"] == 2
    assert set(arch["networks"]) == {"generator", "discriminator"}
    import json

    assert json.loads(json.dumps(arch)) == arch


def test_trains_in_3d():
    volumes = np.clip(np.random.default_rng(0).normal(size=(2, 1, 12, 12, 12)), -1, 1).astype(np.float32)
    result = train_translation(
        volumes, volumes, "nc_r",
        generator={"filters": 2, "residual_blocks": 1}, discriminator={"filters": 2, "layers": 1},
        registration={"channels": [2, 4]}, iterations=1, batch_size=1, device="cpu",
    )
    translator = Translator(result.architecture, result.state, "cpu")
    assert translator.translate(volumes).shape == volumes.shape
    assert translator.register(volumes, volumes).shape == (2, 3, 12, 12, 12)
