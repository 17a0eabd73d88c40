"""MC-DDPM (Xie & Li, MICCAI 2022): diffusion in k-space, on the unmeasured region only,
conditioned on the sampling mask.

With M the mask, k the k-space and k_zf = M k the measurement, the diffused variable is the
unmeasured part x0 = (1 - M) k, noised as x_t = sqrt(abar) x0 + 0.5 sqrt(1 - abar) eps (1 - M)
on the cosine schedule (the 0.5 makes it a variance-preserving process on 2 x0). The network
sees IFFT(x_t + k_zf) and IFFT(k_zf), complex, and its image-space output is taken back to
k-space and masked: eps_hat = FFT(UNet(.)) (1 - M). Sampling is ancestral on a respaced chain
with the fixed large variance, noise only where unmeasured, so every sample agrees with the
measurement exactly; the reconstruction is the mean of the samples' magnitudes and the
uncertainty their std. Every slice is scaled by 1 / max |zero-filled image| (official).
"""

from __future__ import annotations

import torch

from radsynth.recon.chain import RespacedChain
from radsynth.recon.kspace import fft2, ifft2, magnitude

NOISE_SCALE = 0.5


def predict_noise(model, x_t: torch.Tensor, t: torch.Tensor, measured: torch.Tensor, unmeasured: torch.Tensor) -> torch.Tensor:
    """eps_hat in k-space: FFT of the UNet's output on [IFFT(x_t + k_zf), IFFT(k_zf)], masked."""
    inputs = torch.cat([ifft2(x_t + measured), ifft2(measured)], dim=1)
    return fft2(model(inputs, t)) * unmeasured


def training_loss(model, kspace: torch.Tensor, mask: torch.Tensor, alphas_cumprod: torch.Tensor,
                  generator: torch.Generator) -> torch.Tensor:
    """epsilon-MSE on a batch: t ~ U[0, T), noise on the unmeasured region (mean over all entries).

    Args:
        model: the UNet (4 channels in, 2 out).
        kspace: (B, 2, H, W) scaled fully sampled k-space.
        mask: (B, 1, 1, W) sampling masks.
        alphas_cumprod: abar_t of the training schedule.
        generator: CPU generator of t and the noise.
    """
    unmeasured = 1 - mask
    t = torch.randint(0, len(alphas_cumprod), (len(kspace),), generator=generator)
    abar = alphas_cumprod[t].to(kspace).reshape(-1, 1, 1, 1)
    noise = torch.randn(kspace.shape, generator=generator).to(kspace) * unmeasured
    x_t = abar.sqrt() * kspace * unmeasured + NOISE_SCALE * (1 - abar).sqrt() * noise
    prediction = predict_noise(model, x_t, t.to(kspace.device), kspace * mask, unmeasured)
    return torch.mean((prediction - noise) ** 2)


def clip_in_image(x0: torch.Tensor, measured: torch.Tensor, unmeasured: torch.Tensor, bound: float) -> torch.Tensor:
    """The unmeasured k-space estimate whose full image has magnitude at most ``bound``.

    DDPM's ``clip_denoised`` for k-space, where values have no bound but the image has: the
    official samples unclipped, which needs a network exact to ~1e-5 at the largest t, where
    x0 = (x_t - 0.5 sqrt(1 - abar) eps) / sqrt(abar) multiplies its error by ~1e4 (cosine
    abar_999 = 2.4e-9); a short CPU schedule falls short and the chain diverges.
    """
    image = ifft2(x0 + measured)
    size = magnitude(image).clamp(min=1e-12)[:, None]
    return fft2(image * (bound / size).clamp(max=1.0)) * unmeasured


@torch.no_grad()
def sample(model, measured: torch.Tensor, mask: torch.Tensor, chain: RespacedChain, samples: int,
           generator: torch.Generator, clip_image: float | None = None) -> torch.Tensor:
    """Draw reconstructions of slices from scaled measurements.

    Args:
        model: the trained UNet.
        measured: (B, 2, H, W) scaled measured k-space k_zf.
        mask: (B, 1, 1, W).
        chain: the respaced chain (noise_scale 0.5).
        samples: draws per slice.
        generator: CPU generator of the noise.
        clip_image: bound on the magnitude of each step's full-image estimate, in the scaled
            units (:func:`clip_in_image`); None samples unclipped, as the official.

    Returns:
        Complex draws (B, samples, 2, H, W) in the scaled units, each equal to the measurement
        where measured (:func:`radsynth.recon.kspace.magnitude_stats` summarises them).
    """
    b = len(measured)
    measured, mask = measured.repeat_interleave(samples, 0), mask.repeat_interleave(samples, 0)
    unmeasured = 1 - mask
    x = NOISE_SCALE * torch.randn(measured.shape, generator=generator).to(measured) * unmeasured
    for i in reversed(range(len(chain))):
        t = chain.timesteps[i].repeat(len(x)).to(x.device)
        eps = predict_noise(model, x, t, measured, unmeasured)
        x0 = chain.predict_x0(x, eps, i)
        if clip_image is not None:
            x0 = clip_in_image(x0, measured, unmeasured, clip_image)
        x = chain.posterior_mean(x0, x, i) * unmeasured
        if i > 0:
            x = x + chain.std(i, x) * torch.randn(x.shape, generator=generator).to(x) * unmeasured
    return ifft2(x + measured).reshape(b, samples, *x.shape[1:])
