"""One RegGAN iteration's parts: the smoothness loss, the replay buffer and every mode's losses."""

import numpy as np
import pytest
import torch
from torch import nn

from radsynth.translation.modes import DEFAULT_WEIGHTS, MODES
from radsynth.translation.step import ReplayBuffer, generator_losses, smoothness, train_step


def test_smoothness_of_a_checkerboard_is_8():
    # Official forward differences: every neighbour differs by 2, so each axis gives a mean
    # of 4 and the two axes 8; central differences (MONAI DiffusionLoss) give 0 here.
    i, j = np.indices((6, 7))
    board = np.where((i + j) % 2 == 0, 1.0, -1.0)
    field = torch.tensor(np.stack([board, board])[None], dtype=torch.float32)
    assert smoothness(field).item() == pytest.approx(8.0)


def test_smoothness_of_a_linear_ramp_is_the_mean_squared_slope():
    # channel c = a_c * i + b_c * j: forward differences are a_c along axis 0, b_c along axis 1,
    # so the loss is mean_c(a_c**2) + mean_c(b_c**2) = (0.25 + 4) / 2 + (1 + 0.01) / 2 = 2.63.
    i, j = np.indices((5, 9)).astype(float)
    field = torch.tensor(np.stack([0.5 * i + 1.0 * j, -2.0 * i + 0.1 * j])[None], dtype=torch.float32)
    assert smoothness(field).item() == pytest.approx(2.63, rel=1e-6)
    # 3D adds the third axis: a field 3 * k gives 9 along it and 0 along the others.
    k = np.indices((3, 4, 5))[2].astype(float)
    assert smoothness(torch.tensor(np.stack([3 * k] * 3)[None])).item() == pytest.approx(9.0)


def test_replay_buffer_fills_then_mixes_past_fakes():
    buffer = ReplayBuffer(4, torch.Generator().manual_seed(0))
    first = torch.arange(4.0).reshape(4, 1)
    assert torch.equal(buffer.push_and_pop(first), first)  # filling: the fakes pass through
    returned = torch.cat([buffer.push_and_pop(torch.full((4, 1), 10.0 + i)) for i in range(10)])
    assert (returned < 10).any() and (returned >= 10).any()
    assert buffer.data.shape == (4, 1)
    assert torch.equal(ReplayBuffer(0, torch.Generator()).push_and_pop(first), first)


# The generator loss of every mode on stand-in networks whose outputs are simple formulas, so
# each term can be computed by hand (NumPy, float64) and compared with the weighted terms.


class Affine(nn.Module):
    """A "generator" ``scale * x + shift`` (the scale is a parameter, for the optimiser)."""

    def __init__(self, scale, shift):
        super().__init__()
        self.scale, self.shift = nn.Parameter(torch.tensor(scale)), shift

    def forward(self, x):
        return self.scale * x + self.shift


class PatchSum(nn.Module):
    """A "discriminator" whose patch map is ``scale * (sum over channels) + shift``."""

    def __init__(self, scale, shift):
        super().__init__()
        self.scale, self.shift = nn.Parameter(torch.tensor(scale)), shift

    def forward(self, x):
        return self.scale * x.sum(1, keepdim=True) + self.shift


class FixedField(nn.Module):
    """An "R" that always answers the same whole-pixel displacement field."""

    def __init__(self, field):
        super().__init__()
        self.field, self.zero = torch.as_tensor(field, dtype=torch.float32), nn.Parameter(torch.zeros(()))

    def forward(self, moving, fixed):
        return self.field + self.zero


RNG = np.random.default_rng(7)
A = RNG.uniform(-1, 1, (2, 1, 5, 6))
B = RNG.uniform(-1, 1, (2, 1, 5, 6))
FIELD = RNG.integers(-1, 2, (2, 2, 5, 6)).astype(float)  # whole pixels: bilinear warping is exact


def warped(image, field):
    """``out(p) = image(p + field(p))``, channel i along axis i; from outside: background -1."""
    out = np.full_like(image, -1.0)
    for n, i, j in np.ndindex(image.shape[0], *image.shape[2:]):
        si, sj = i + int(field[n, 0, i, j]), j + int(field[n, 1, i, j])
        if 0 <= si < image.shape[2] and 0 <= sj < image.shape[3]:
            out[n, :, i, j] = image[n, :, si, sj]
    return out


def by_hand(mode):
    """Each weighted generator term (1 adversarial, 100 paired L1, 10 cycle, 20 correction,
    10 smoothness) and the discriminator loss, from the stand-ins' formulas."""
    g = lambda x: 0.5 * x + 0.1  # noqa: E731
    f = lambda y: 1.0 * y - 0.2  # noqa: E731
    d = lambda x: 0.5 * x.sum(1, keepdims=True) - 0.25  # noqa: E731
    d_reverse = lambda x: 0.3 * x.sum(1, keepdims=True) + 0.2  # noqa: E731
    lsgan_real = lambda p: np.mean((p - 1) ** 2)  # noqa: E731
    fake_b, fake_a = g(A), f(B)
    pair = (lambda x, y: np.concatenate([x, y], 1)) if mode == "pix2pix" else (lambda x, y: y)
    terms = {"g_adv": 1 * lsgan_real(d(pair(A, fake_b)))}
    d_loss = {"d": lsgan_real(d(pair(A, B))) + np.mean(d(pair(A, fake_b)) ** 2)}
    if mode == "pix2pix":
        terms["g_l1"] = 100 * np.mean(np.abs(fake_b - B))
    if mode in ("cyclegan", "c_r"):
        terms["g_adv_reverse"] = 1 * lsgan_real(d_reverse(fake_a))
        terms["cycle"] = 10 * (np.mean(np.abs(f(fake_b) - A)) + np.mean(np.abs(g(fake_a) - B)))
        d_loss["d_reverse"] = lsgan_real(d_reverse(A)) + np.mean(d_reverse(fake_a) ** 2)
    if mode in ("c_r", "nc_r"):
        terms["correction"] = 20 * np.mean(np.abs(warped(fake_b, FIELD) - B))
        # Official: mean squared forward differences along each axis, the two means added.
        d0 = FIELD[:, :, 1:, :] - FIELD[:, :, :-1, :]
        d1 = FIELD[:, :, :, 1:] - FIELD[:, :, :, :-1]
        terms["smoothness"] = 10 * (np.mean(d0**2) + np.mean(d1**2))
    return terms, d_loss


@pytest.mark.parametrize("mode", sorted(m for m, spec in MODES.items() if spec.family == "resnet"))
def test_generator_and_discriminator_losses_of_every_mode_by_hand(mode):
    spec = MODES[mode]
    nets = nn.ModuleDict({"generator": Affine(0.5, 0.1), "discriminator": PatchSum(0.5, -0.25)})
    if spec.cycle:
        nets.update({"generator_reverse": Affine(1.0, -0.2), "discriminator_reverse": PatchSum(0.3, 0.2)})
    if spec.registration:
        nets["registration"] = FixedField(FIELD)
    a, b = torch.tensor(A, dtype=torch.float32), torch.tensor(B, dtype=torch.float32)
    expected, expected_d = by_hand(mode)

    losses, _ = generator_losses(nets, spec, DEFAULT_WEIGHTS, a, b)
    assert set(losses) == set(expected)
    for name, value in expected.items():
        assert losses[name].item() == pytest.approx(value, rel=1e-5), name

    # The whole step: its total is the sum of the terms; D is scored on real vs this step's
    # fakes (no replay buffer here; lr 0 keeps the networks as they are for NC+R's re-run).
    def optimiser(names):
        return torch.optim.SGD([p for n in names if n in nets for p in nets[n].parameters()], lr=0.0)

    d_names = [n for n in nets if n.startswith("discriminator")]
    buffers = {n: ReplayBuffer(0, torch.Generator()) for n in d_names}
    step = train_step(nets, spec, DEFAULT_WEIGHTS, a, b, optimiser(["generator", "generator_reverse", "registration"]),
                      optimiser(d_names), buffers, torch.device("cpu"))
    assert step["g_total"].item() == pytest.approx(sum(expected.values()), rel=1e-5)
    for name, value in expected_d.items():
        assert step[name].item() == pytest.approx(value, rel=1e-5), name
