"""The translation trainer: every mode trains, RegGAN learns a registration, checkpoints reload."""

import os

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from scipy.ndimage import shift as nd_shift

import radsynth.translation.trainer as translation
from radsynth.io import save_checkpoint
from radsynth.training.loop import seed_everything
from radsynth.translation.modes import MODES, parameter_counts
from radsynth.translation.trainer import linear_decay, train_translation
from radsynth.translation.translator import Translator, build_networks, load_translator

TINY = {
    "generator": {"filters": 4, "residual_blocks": 1},
    "discriminator": {"filters": 4, "layers": 2},
    "registration": {"channels": [8, 16, 16]},
}
# UNIT and MUNIT at 32 px (2 scales of 3 convs), NICE-GAN at 64 px (the shallowest official-style D).
TINY_FAMILIES = {
    "unit": {"filters": 4, "residual_blocks": 1, "discriminator_filters": 4, "discriminator_layers": 3,
             "discriminator_scales": 2},
    "munit": {"filters": 4, "residual_blocks": 1, "style_dim": 4, "mlp_dim": 16, "discriminator_filters": 4,
              "discriminator_layers": 3, "discriminator_scales": 2},
    "nicegan": {"filters": 4, "residual_blocks": 1, "discriminator_filters": 4, "nc_discriminator_filters": 4,
                "discriminator_layers": 6},
}
# Pix2Pix, CycleGAN and RegGAN's modes; UNIT, MUNIT and NICE-GAN: tests/translation/test_baselines.py.
CLASSIC = sorted(m for m, spec in MODES.items() if spec.family == "resnet")


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


@pytest.mark.parametrize("mode", CLASSIC)
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
    assert result.parameters == parameter_counts(result.architecture)


def test_modes_and_weights_are_checked():
    data = blobs(2)
    with pytest.raises(ValueError, match="unknown translation mode"):
        train_translation(data, data, "unet", iterations=1)
    with pytest.raises(ValueError, match="unknown loss weights"):
        train_translation(data, data, "nc", weights={"cycles": 1.0}, iterations=1)
    with pytest.raises(ValueError, match="spatial shapes differ"):
        train_translation(data, data[..., :16], "nc", iterations=1)


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


def _recording_step(monkeypatch):
    """Wrap the trainer's step; record its inputs, outputs and optimisers."""
    calls = []
    original = translation.train_step

    def step(nets, spec, w, a, b, opt_g, opt_d, buffers, device):
        out = original(nets, spec, w, a, b, opt_g, opt_d, buffers, device)
        calls.append({"a": a, "b": b, "out": out, "opt_g": opt_g, "opt_d": opt_d,
                      "lr": (opt_g.param_groups[0]["lr"], opt_d.param_groups[0]["lr"])})
        return out

    monkeypatch.setattr(translation, "train_step", step)
    return calls


def test_linear_lr_decay(monkeypatch):
    factor = linear_decay(10, 0.5)
    assert [factor(t) for t in (0, 5, 6, 9, 10)] == pytest.approx([1.0, 1.0, 0.8, 0.2, 0.0])
    assert linear_decay(10, None)(10) == 1.0
    assert linear_decay(4, 0.0)(0) == 1.0 and linear_decay(4, 0.0)(4) == 0.0
    with pytest.raises(ValueError, match="lr_decay_start"):
        train_translation(blobs(2), blobs(2), "nc", iterations=2, lr_decay_start=1.0)

    calls = _recording_step(monkeypatch)
    source = blobs(2, size=16)
    result = train_translation(
        source, -source, "nc_r", **TINY, iterations=10, lr=1e-3, lr_decay_start=0.5, log_every=1, device="cpu"
    )
    used = np.array([c["lr"] for c in calls])  # (iteration, [G + R, D])
    np.testing.assert_allclose(used[:, 0], used[:, 1])  # both optimisers follow the schedule
    np.testing.assert_allclose(used[:, 0], 1e-3 * np.array([1, 1, 1, 1, 1, 1, 0.8, 0.6, 0.4, 0.2]))
    np.testing.assert_allclose(result.history["lr"], used[:, 0])  # the lr of each logged iteration
    assert calls[-1]["opt_g"].param_groups[0]["lr"] == 0 == calls[-1]["opt_d"].param_groups[0]["lr"]

    calls.clear()
    train_translation(source, -source, "nc", **TINY, iterations=3, lr=1e-3, device="cpu")
    assert [c["lr"] for c in calls] == [(1e-3, 1e-3)] * 3


@pytest.mark.parametrize("mode", ["pix2pix", "c_r", "nc_r"])
def test_losses_stay_float32_under_bf16_autocast(monkeypatch, mode):
    # The CUDA path (bf16 autocast) run on the CPU, where autocast supports bf16 as well.
    monkeypatch.setattr(translation, "autocast", lambda device: torch.autocast("cpu", dtype=torch.bfloat16))
    calls = _recording_step(monkeypatch)
    source = blobs(2, size=16)
    result = train_translation(source, -source, mode, **TINY, iterations=2, device="cpu")
    for call in calls:
        assert {k: v.dtype for k, v in call["out"].items()} == {k: torch.float32 for k in call["out"]}
    assert np.isfinite(result.history.drop(columns="iteration").to_numpy()).all()
    assert all(v.dtype == torch.float32 for net in result.state.values() for v in net.values())


@pytest.mark.parametrize("shape", [(16, 16), (8, 8, 8)])
def test_channels_last_trains_like_the_default_layout(monkeypatch, shape):
    calls = _recording_step(monkeypatch)
    source = np.random.default_rng(0).uniform(-1, 1, (2, 1, *shape)).astype(np.float32)
    small = {**TINY, "discriminator": {"filters": 4, "layers": 1}}
    runs = [
        train_translation(source, -source, "nc_r", **small, iterations=2, device="cpu", channels_last=flag)
        for flag in (False, True)
    ]
    layout = torch.channels_last if len(shape) == 2 else torch.channels_last_3d
    assert calls[-1]["a"].is_contiguous(memory_format=layout) and calls[-1]["b"].is_contiguous(memory_format=layout)
    for name, plain in runs[0].state.items():
        for key, value in plain.items():
            other = runs[1].state[name][key]
            assert other.is_contiguous()  # checkpoints hold the plain layout
            # Adam moves each weight by about lr per step, whatever the kernels' rounding.
            torch.testing.assert_close(other, value, atol=5e-4, rtol=0)


def test_augment_hook_sees_each_device_batch_once(monkeypatch):
    seen = []

    def flip(a, b, generator):
        seen.append((a.clone(), b.clone(), generator))
        return a, torch.flip(b, dims=[-1])

    calls = _recording_step(monkeypatch)
    source = blobs(4, size=16)
    train_translation(source, -source, "nc", **TINY, iterations=3, batch_size=2, device="cpu", augment=flip)
    assert len(seen) == 3
    for (a, b, generator), call in zip(seen, calls):
        assert isinstance(a, torch.Tensor) and a.device.type == "cpu" and b.shape == (2, 1, 16, 16)
        assert isinstance(generator, torch.Generator)
        torch.testing.assert_close(call["b"], torch.flip(b, dims=[-1]))  # the step trains on the output
        torch.testing.assert_close(call["a"], a)
    # The hook has its own generator: the batches drawn are those of a run without it.
    calls.clear()
    train_translation(source, -source, "nc", **TINY, iterations=3, batch_size=2, device="cpu")
    for (a, _, _), call in zip(seen, calls):
        torch.testing.assert_close(call["a"], a)


def _eager_compile(monkeypatch):
    """``Module.compile`` with the "eager" backend: Dynamo traces our code but skips codegen."""
    compiled = []
    original = torch.nn.Module.compile

    def compile_eager(self, *args, **kwargs):
        compiled.append(type(self).__name__)
        return original(self, *args, **{**kwargs, "backend": "eager"})

    monkeypatch.setattr(torch.nn.Module, "compile", compile_eager)
    return compiled


@pytest.mark.filterwarnings("ignore")
def test_compile_wraps_every_network(monkeypatch):
    compiled = _eager_compile(monkeypatch)
    source = blobs(2, size=16)
    result = train_translation(source, -source, "nc_r", **TINY, iterations=2, device="cpu", compile=True)
    assert sorted(compiled) == ["PatchGAN", "RegistrationNet", "ResnetGenerator"]
    plain = train_translation(source, -source, "nc_r", **TINY, iterations=2, device="cpu")
    assert {n: list(s) for n, s in result.state.items()} == {n: list(s) for n, s in plain.state.items()}
    assert np.isfinite(result.history.drop(columns="iteration").to_numpy()).all()
    Translator(result.architecture, result.state, "cpu")  # no "_orig_mod." keys to trip loading


@pytest.mark.skipif(
    not os.environ.get("RADSYNTH_TEST_INDUCTOR"),
    reason="torch.compile's default (inductor) backend works on this CPU, but its C++ codegen makes "
    "even a 2-iteration run take about 30 s, past the test budget; set RADSYNTH_TEST_INDUCTOR=1 to run it",
)
@pytest.mark.filterwarnings("ignore")
def test_compile_with_the_default_backend():
    source = blobs(2, size=16)
    result = train_translation(source, -source, "nc", **TINY, iterations=2, device="cpu", compile=True)
    assert np.isfinite(result.history.drop(columns="iteration").to_numpy()).all()


SMALL_3D = {
    "generator": {"filters": 2, "residual_blocks": 1},
    "discriminator": {"filters": 2, "layers": 2},
    "registration": {"channels": [4, 8, 8]},
}


@pytest.mark.parametrize("mode", CLASSIC)
def test_every_mode_trains_in_3d(mode, tmp_path):
    rng = np.random.default_rng(0)
    source = np.clip(gaussian_filter(rng.normal(size=(3, 1, 16, 16, 16)), (0, 0, 1, 1, 1)) * 4, -1, 1)
    source = source.astype(np.float32)
    target = np.roll(-source, 1, axis=-1)
    result = train_translation(source, target, mode, **SMALL_3D, iterations=2, batch_size=2, seed=1, device="cpu")
    assert result.architecture["spatial_dims"] == 3
    assert result.parameters == parameter_counts(result.architecture)
    assert np.isfinite(result.history.drop(columns="iteration").to_numpy()).all()

    translator = Translator(result.architecture, result.state, "cpu")
    output = translator.translate(source)
    assert output.shape == source.shape and np.isfinite(output).all()
    if MODES[mode].registration:
        field = translator.register(output, target)
        assert field.shape == (3, 3, 16, 16, 16) and np.isfinite(field).all()
        warped = translator.warp(output, field)
        assert warped.shape == source.shape and np.isfinite(warped).all()
        np.testing.assert_allclose(translator.warp(output, np.zeros_like(field)), output, atol=1e-5)
    else:
        with pytest.raises(ValueError, match="no registration network"):
            translator.register(output, target)

    path = tmp_path / "model.pt"
    save_checkpoint(path, result.state, {"architecture": result.architecture, "mode": mode})
    loaded = load_translator(path, device="cpu")
    np.testing.assert_array_equal(loaded.translate(source), output)
    if MODES[mode].registration:
        np.testing.assert_array_equal(loaded.register(output, target), field)


def test_unpaired_targets_come_from_other_subjects():
    from radsynth.translation.trainer import other_rows

    codes = torch.tensor([0, 0, 1, 1, 2])
    others = [torch.nonzero(codes != k).flatten() for k in range(3)]
    g = torch.Generator().manual_seed(0)
    for _ in range(50):
        batch = torch.tensor([0, 2, 4])
        rows = other_rows(others, codes[batch], g)
        assert (codes[rows] != codes[batch]).all()


def test_unpaired_training_with_groups_runs_and_needs_two_subjects():
    rng = np.random.default_rng(0)
    source = rng.uniform(-1, 1, (4, 1, 16, 16)).astype(np.float32)
    target = rng.uniform(-1, 1, (4, 1, 16, 16)).astype(np.float32)
    small = {"generator": {"filters": 4, "residual_blocks": 1}, "discriminator": {"filters": 4, "layers": 1}}
    result = train_translation(source, target, "nc", iterations=2, batch_size=2, device="cpu", unpaired=True,
                               groups=np.array(["a", "a", "b", "b"]), **small)
    assert len(result.history) > 0
    with pytest.raises(ValueError, match="two subjects"):
        train_translation(source, target, "nc", iterations=1, device="cpu", unpaired=True,
                          groups=np.array(["a"] * 4), **small)


def test_validation_mae_is_the_test_tables_mae():
    from radsynth.translation.metrics import translation_metrics

    source, target = blobs(5, seed=3), blobs(5, seed=4)
    mask = target[:, 0] > -1
    mask[2] = False  # an empty case is left out, as the table's NaN is
    validation = translation.Validation(source, target, mask, every=1)
    expected = np.nanmean([translation_metrics(s[0], t[0], m)["mae"] for s, t, m in zip(source, target, mask)])
    assert translation.validation_mae(torch.nn.Identity(), validation, torch.device("cpu"), batch_size=2) == pytest.approx(
        expected, rel=1e-5
    )


def test_validation_keeps_the_best_iteration_without_changing_training():
    source = blobs(8, seed=5)
    target = -source
    validation = translation.Validation(blobs(3, seed=6), -blobs(3, seed=6), blobs(3, seed=6)[:, 0] > -1, every=3)
    common = dict(**TINY, iterations=8, batch_size=2, lr=5e-3, seed=0, device="cpu", log_every=1)
    plain = train_translation(source, target, "pix2pix", **common)
    selected = train_translation(source, target, "pix2pix", validation=validation, **common)

    # Validating draws no random numbers: the losses are those of the run without it.
    np.testing.assert_allclose(selected.history["g_total"], plain.history["g_total"], rtol=1e-6)
    assert selected.validation["iteration"].tolist() == [3, 6, 8]  # and always the last one
    best = selected.validation.loc[selected.validation["val_mae"].idxmin()]
    assert selected.selected_iteration == int(best["iteration"])
    kept = Translator(selected.architecture, selected.state, "cpu").generator
    assert translation.validation_mae(kept, validation, torch.device("cpu")) == pytest.approx(best["val_mae"], rel=1e-5)
    assert plain.selected_iteration == 8 and plain.validation.empty


def test_selected_state_is_the_networks_of_that_iteration(monkeypatch):
    source = blobs(8, seed=5)
    validation = translation.Validation(source[:2], -source[:2], source[:2, 0] > -1, every=3)
    scores = iter([0.3, 0.1, 0.2])  # iterations 3, 6, 8: the middle one is best
    monkeypatch.setattr(translation, "validation_mae", lambda *args, **kwargs: next(scores))
    common = dict(**TINY, batch_size=2, lr=5e-3, seed=0, device="cpu")
    selected = train_translation(source, -source, "nc_r", iterations=8, validation=validation, **common)
    shorter = train_translation(source, -source, "nc_r", iterations=6, **common)
    assert selected.selected_iteration == 6
    for name, state in shorter.state.items():
        for key, value in state.items():
            torch.testing.assert_close(selected.state[name][key], value, msg=f"{name}.{key}")


def test_last_selection_returns_the_last_iteration_and_still_records_validation(monkeypatch):
    # The official trainer tests the networks of its last epoch, whatever validation says.
    source = blobs(8, seed=5)
    validation = translation.Validation(source[:2], -source[:2], source[:2, 0] > -1, every=3)
    scores = iter([0.3, 0.1, 0.2])  # iterations 3, 6, 8: the best would be 6
    monkeypatch.setattr(translation, "validation_mae", lambda *args, **kwargs: next(scores))
    common = dict(**TINY, iterations=8, batch_size=2, lr=5e-3, seed=0, device="cpu")
    last = train_translation(source, -source, "nc_r", validation=validation, selection="last", **common)
    plain = train_translation(source, -source, "nc_r", **common)
    assert last.selected_iteration == 8
    assert last.validation["val_mae"].tolist() == [0.3, 0.1, 0.2]
    for name, state in plain.state.items():
        for key, value in state.items():
            torch.testing.assert_close(last.state[name][key], value, msg=f"{name}.{key}")
    with pytest.raises(ValueError, match="selection must be 'best_validation' or 'last'"):
        train_translation(source, -source, "nc_r", selection="best", **common)


def test_official_options_train_and_reload(tmp_path):
    # The paper preset's choices together: the official R (padded from 32 to its minimum),
    # the pooled discriminator, the nearest whole-pixel redraw and the last iteration.
    from radsynth.translation.misalign_torch import redraw_batch

    source = blobs(4, seed=2)

    def augment(a, b, generator):
        return redraw_batch(a, b, 5, generator, interpolation="nearest")[:2]

    result = train_translation(
        source, -source, "nc_r", generator=TINY["generator"], discriminator={"filters": 4, "layers": 2, "pool": True},
        registration={"network": "resunet", "channels": [4, 4, 4, 4, 4]}, augment=augment, selection="last",
        iterations=2, batch_size=2, seed=0, device="cpu",
    )
    assert result.architecture["networks"]["registration"]["network"] == "resunet"
    assert result.selected_iteration == 2
    save_checkpoint(tmp_path / "m.pt", result.state, {"architecture": result.architecture})
    translator = load_translator(tmp_path / "m.pt", device="cpu")
    field = translator.register(source[:1], source[:1])
    assert field.shape == (1, 2, 32, 32) and np.abs(field).max() < 1.0
