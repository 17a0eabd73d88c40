"""DiffuseRecon (Peng et al., MICCAI 2022): an unconditional DDPM of fully sampled complex
slices, guided by the measurement at sampling time; one model serves every mask.

Coarse stage: on a chain respaced to ``steps`` (official 100 of T = 4000), every reverse step is
followed by k-space guidance: the measured k-space is noised to the level the step landed on
with the model's own noise estimate, sqrt(abar) K + sqrt(1 - abar) FFT(eps_hat), and put in at
the measured locations (the clean K after the last step). ``samples`` such draws are averaged
(complex mean); the std of their magnitudes is the uncertainty.
Fine stage: the average enters the last ``refine_steps`` steps of a chain respaced to
``refine_chain`` (official 20 of 500) as it is, and each step takes the posterior mean (no
noise) and then the clean measurement at the measured locations, so the result agrees with
the measurement exactly. Images are scaled by 1 / max |zero-filled image| (the official script
scales by the fully sampled image's maximum, which a scan does not have; docs/fidelity.md).
"""

from __future__ import annotations

import torch

from radsynth.recon.chain import RespacedChain
from radsynth.recon.kspace import data_consistency, fft2, ifft2


def _denoise(model, x: torch.Tensor, chain: RespacedChain, i: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(posterior mean from the clipped x0 estimate, eps_hat) at index i."""
    eps = model(x, chain.timesteps[i].repeat(len(x)).to(x.device))
    x0 = chain.predict_x0(x, eps, i).clamp(-1, 1)
    return chain.posterior_mean(x0, x, i), eps


@torch.no_grad()
def coarse(model, measured: torch.Tensor, mask: torch.Tensor, chain: RespacedChain, samples: int,
           generator: torch.Generator) -> torch.Tensor:
    """The coarse stage: ``samples`` guided draws per slice.

    Args:
        model: the unconditional noise predictor (2 channels in and out).
        measured: (B, 2, H, W) scaled measured k-space M K.
        mask: (B, 1, 1, W).
        chain: the coarse respaced chain.
        samples: draws per slice (official 10).
        generator: CPU generator of the noise.

    Returns:
        Complex draws (B, samples, 2, H, W); their complex mean starts :func:`refine`.
    """
    b = len(measured)
    measured, mask = measured.repeat_interleave(samples, 0), mask.repeat_interleave(samples, 0)
    x = torch.randn(measured.shape, generator=generator).to(measured)
    for i in reversed(range(len(chain))):
        mean, eps = _denoise(model, x, chain, i)
        x = mean + chain.std(i, x) * torch.randn(x.shape, generator=generator).to(x)
        target = chain.noised(measured, fft2(eps), i, previous=True) if i > 0 else measured
        x = ifft2(target * mask + fft2(x) * (1 - mask))
    return x.reshape(b, samples, *x.shape[1:])


@torch.no_grad()
def refine(model, start: torch.Tensor, measured: torch.Tensor, mask: torch.Tensor, chain: RespacedChain,
           steps: int) -> torch.Tensor:
    """The fine stage: the last ``steps`` indices of ``chain`` from ``start``, deterministic,
    with the clean measurement after each step. Returns the complex image (B, 2, H, W)."""
    if not 0 <= steps <= len(chain):
        raise ValueError(f"refine steps {steps} exceed the refining chain's {len(chain)}")
    x = start
    for i in reversed(range(steps)):
        x = data_consistency(_denoise(model, x, chain, i)[0], measured, mask)
    return x
