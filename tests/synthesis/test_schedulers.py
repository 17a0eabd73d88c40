"""Sampling schedulers against answers known in closed form: an oracle that knows the noise,
and the optimal noise predictor of Gaussian data."""

import pytest
import torch
from monai.networks.schedulers import DDPMScheduler

from radsynth.synthesis.networks import sampling_scheduler, scheduler_config
from radsynth.synthesis.schedulers import timestep_grid

CONFIG = scheduler_config(1000, "linear_beta")


def run(scheduler, x, model):
    for t in scheduler.timesteps:
        x, _ = scheduler.step(model(x, int(t)), t, x)
    return x


def latents_and_start(scheduler, n=4000):
    """Unit-variance 'latents' x0 (a third of them beyond +-1), fixed noise, and x at the first
    timestep: a model returning that noise is exact, so the sampler must give back x0."""
    generator = torch.Generator().manual_seed(12345)  # apart from the samplers' torch.manual_seed(0)
    x0, noise = torch.randn(n, 1, generator=generator), torch.randn(n, 1, generator=generator)
    ab = scheduler.alphas_cumprod[int(scheduler.timesteps[0])]
    return x0, noise, ab.sqrt() * x0 + (1 - ab).sqrt() * noise


def test_ddim_20_gives_back_latents_beyond_one_without_clipping():
    scheduler = sampling_scheduler(CONFIG, "ddim", 20, clip_sample=False)
    x0, noise, start = latents_and_start(scheduler)
    out = run(scheduler, start, lambda x, t: noise)
    assert (out - x0).abs().max() < 1e-3
    assert (out.abs() > 1).float().mean() > 0.25  # values beyond +-1 survive
    assert out.std() == pytest.approx(x0.std(), abs=1e-3)


def test_clipping_would_flatten_the_latents():
    # The pixel-space setting on latents: every |x0| > 1 comes back as +-1 (std 1.00 -> 0.72).
    scheduler = sampling_scheduler(CONFIG, "ddim", 20, clip_sample=True)
    x0, noise, start = latents_and_start(scheduler)
    out = run(scheduler, start, lambda x, t: noise)
    assert out.abs().max() <= 1.0 and (out - x0).abs().max() > 1.0


def test_each_ddim_step_moves_to_the_next_listed_timestep():
    # MONAI's own list (999, 946, ...) with its step to t - 50 misses x0 by ~0.9 on this oracle.
    grid = timestep_grid(1000, 20)
    assert grid[0] == 999 and grid[-1] == 49 and set((grid[:-1] - grid[1:]).tolist()) == {50}
    assert timestep_grid(1000, 30).tolist()[-2:] == [65, 32]  # stride 33, last step to the clean sample
    assert timestep_grid(1000, 1).tolist() == [999]
    with pytest.raises(ValueError, match="sampling steps must lie in 1..1000"):
        timestep_grid(1000, 1001)


def gaussian_optimum(scheduler, variance=0.25):
    """The exact noise predictor of N(0, variance) data: sqrt(1 - a) x / (a variance + 1 - a)."""
    ab = scheduler.alphas_cumprod
    return lambda x, t: (1 - ab[t]).sqrt() * x / (ab[t] * variance + 1 - ab[t])


def test_each_respaced_ddpm_step_draws_the_forward_marginal():
    # With x0 known, q(x_s | x_t, x0) maps q(x_t | x0) onto q(x_s | x0) exactly: at every grid
    # timestep s the residual (x - sqrt(a_s) x0) / sqrt(1 - a_s) is N(0, 1). 20000 samples give
    # its std to about 1 / sqrt(40000) = 0.005.
    torch.manual_seed(0)
    for steps, respaced in ((20, True), (20, False), (1000, True)):
        if respaced:
            scheduler = sampling_scheduler(CONFIG, "ddpm", steps, clip_sample=False)
        else:  # MONAI's: posterior of t -> t - 1 while jumping 50 steps
            scheduler = DDPMScheduler(**CONFIG, clip_sample=False)
            scheduler.set_timesteps(steps)
        ab = scheduler.alphas_cumprod
        x0, noise, x = latents_and_start(scheduler, 20000)
        residual_stds = []
        for t, s in zip(scheduler.timesteps[:-1].tolist(), scheduler.timesteps[1:].tolist()):
            x, _ = scheduler.step((x - ab[t].sqrt() * x0) / (1 - ab[t]).sqrt(), t, x)
            residual_stds.append(((x - ab[s].sqrt() * x0) / (1 - ab[s]).sqrt()).std().item())
        worst = max(abs(v - 1) for v in residual_stds)
        assert (worst < 0.02) == respaced, (steps, respaced, worst)


def gaussian_ddpm_std(steps, variance=0.25):
    """The std a DDPM sampler with the exact predictor of N(0, variance) data ends at, by the
    variance recursion v_s = c^2 v_t + posterior variance of each linear Gaussian step."""
    ab = torch.cumprod(1 - torch.linspace(1e-4, 2e-2, 1000, dtype=torch.float64), 0)
    stride, v = 1000 // steps, 1.0
    for t in range(stride * steps - 1, -1, -stride):
        a_t, a_s = ab[t], ab[t - stride] if t >= stride else torch.tensor(1.0, dtype=torch.float64)
        beta = 1 - a_t / a_s
        x0_gain = a_t.sqrt() * variance / (a_t * variance + 1 - a_t)  # E[x0 | x_t] = gain * x_t
        gain = (a_s.sqrt() * beta * x0_gain + (1 - beta).sqrt() * (1 - a_s)) / (1 - a_t)
        v = gain**2 * v + (1 - a_s) / (1 - a_t) * beta
    return float(v**0.5)


@pytest.mark.parametrize("steps", [20, 1000])
def test_respaced_ddpm_on_gaussian_data_ends_at_the_closed_form_std(steps):
    # Full-length DDPM draws the data's std 0.5; 20 respaced steps end at 0.39 by the recursion:
    # the posterior variance ignores the spread of x0 given x_t, which large jumps make matter
    # (improved-diffusion learns the variance for this). MONAI's 20 steps give 0.96.
    torch.manual_seed(0)
    scheduler = sampling_scheduler(CONFIG, "ddpm", steps, clip_sample=False)
    out = run(scheduler, torch.randn(20000, 1), gaussian_optimum(scheduler))
    expected = gaussian_ddpm_std(steps)
    assert out.std() == pytest.approx(expected, abs=0.01)
    assert expected == pytest.approx(0.5, abs=0.005) if steps == 1000 else expected == pytest.approx(0.39, abs=0.01)


def test_monai_ddpm_with_fewer_steps_is_what_the_respacing_fixes():
    torch.manual_seed(0)
    plain = DDPMScheduler(**CONFIG, clip_sample=False)
    plain.set_timesteps(20)
    assert run(plain, torch.randn(20000, 1), gaussian_optimum(plain)).std() > 0.9


def test_ddim_eta_zero_is_deterministic_and_eta_one_is_not():
    start = torch.randn(64, 1, generator=torch.Generator().manual_seed(1))
    outputs = {}
    for eta in (0.0, 1.0):
        scheduler = sampling_scheduler(CONFIG, "ddim", 20, clip_sample=False, eta=eta)
        model = gaussian_optimum(scheduler)
        outputs[eta] = [run(scheduler, start.clone(), model) for _ in range(2)]
    assert torch.equal(*outputs[0.0])
    assert not torch.allclose(*outputs[1.0])
