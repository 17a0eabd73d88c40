import pytest
import torch

from radsynth.recon.chain import RespacedChain, cosine_alphas_cumprod, space_timesteps


def test_respaced_timesteps_are_improved_diffusions():
    # round(k (T - 1) / (N - 1)): DiffuseRecon's 100 of 4000 and 500 of 4000, MC-DDPM's 500 of 1000
    assert space_timesteps(4000, 100)[:4].tolist() == [0, 40, 81, 121]
    assert space_timesteps(4000, 100)[-1] == 3999
    assert space_timesteps(4000, 500)[:3].tolist() == [0, 8, 16]
    assert space_timesteps(4000, 500)[19] == 152
    assert space_timesteps(1000, 500)[-3:].tolist() == [995, 997, 999]
    with pytest.raises(ValueError, match="respaced steps must lie in 1..1000"):
        space_timesteps(1000, 1001)


def test_cosine_schedule_is_nichol_and_dhariwals():
    import math

    abar = cosine_alphas_cumprod(1000)

    def f(t):
        return math.cos((t / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2

    for t in (0, 10, 500, 900):  # abar_t = f(t + 1) / f(0)
        assert float(abar[t]) == pytest.approx(f(t + 1) / f(0), rel=1e-4)


def test_respaced_betas_reproduce_the_kept_noise_levels():
    abar = cosine_alphas_cumprod(1000)
    chain = RespacedChain(abar, 50)
    kept = torch.cumprod(1 - chain.betas, 0)
    assert torch.allclose(kept, abar[chain.timesteps], rtol=1e-6)
    full = RespacedChain(abar, 1000)  # N = T: the original betas
    assert torch.allclose(full.betas, 1 - abar / torch.cat([abar.new_ones(1), abar[:-1]]))


def test_posterior_mean_of_the_last_step_is_the_clean_estimate():
    chain = RespacedChain(cosine_alphas_cumprod(100), 10, noise_scale=0.5)
    x0, x = torch.randn(2, 2, 4, 4), torch.randn(2, 2, 4, 4)
    assert torch.allclose(chain.posterior_mean(x0, x, 0), x0, atol=1e-6)
    assert float(chain.std(0, x)) == 0.0
    noise = torch.randn_like(x0)
    assert torch.allclose(chain.predict_x0(chain.noised(x0, noise, 5), noise, 5), x0, atol=1e-4)


def test_small_variance_is_the_posterior_variance():
    abar = cosine_alphas_cumprod(1000)
    large, small = RespacedChain(abar, 20), RespacedChain(abar, 20, variance="small")
    x = torch.zeros(1)
    i = 7
    a, a_prev = float(abar[large.timesteps[i]]), float(abar[large.timesteps[i - 1]])
    beta = 1 - a / a_prev
    assert float(large.std(i, x)) ** 2 == pytest.approx(beta, rel=1e-5)
    assert float(small.std(i, x)) ** 2 == pytest.approx(beta * (1 - a_prev) / (1 - a), rel=1e-5)
    assert float(RespacedChain(abar, 20, 0.5, "small").std(i, x)) == pytest.approx(0.5 * float(small.std(i, x)))
    with pytest.raises(ValueError, match="variance must be large or small, not 'learned'"):
        RespacedChain(abar, 20, variance="learned")
