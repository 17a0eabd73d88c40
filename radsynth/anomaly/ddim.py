"""Deterministic DDIM encoding to a noise level L and (guided) decoding back: the healthy
counterfactual of a slice.

One DDIM move serves both directions (Song et al.'s eq. 12 and its reverse, as the official
``ddim_reverse_sample``/``ddim_sample``): the clean-image estimate x0 from (x_t, eps), clipped to
[-1, 1], then x at the other noise level along the same eps. Encoding starts from the clean
slice (alpha-bar 1), which MONAI's ``DDIMScheduler.reversed_step`` cannot, and both directions
run on :func:`radsynth.synthesis.schedulers.timestep_grid` (t = s(k + 1) - 1), where each move
lands on the noise level the next model call is told (MONAI's own ``set_timesteps`` grid does
not; see that module).

Guidance (Dhariwal & Nichol's score conditioning, the official ``condition_score``):
eps' = eps - sqrt(1 - alpha-bar_t) * s * grad_x log p(healthy | x_t).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from radsynth.anomaly.networks import HEALTHY
from radsynth.synthesis.schedulers import timestep_grid

NoisePredictor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def encode_timesteps(train_timesteps: int, steps: int, noise_level: int) -> list[int]:
    """Ascending DDIM timesteps from the clean slice up to noise level L.

    Args:
        train_timesteps: T of the DDPM.
        steps: DDIM steps over the whole chain (stride T // steps; the official 1000).
        noise_level: L: the encoding ends at the last grid timestep below L.

    Returns:
        The grid timesteps t < L, ascending (decoding walks them back).
    """
    grid = sorted(int(t) for t in timestep_grid(train_timesteps, steps))
    kept = [t for t in grid if t < noise_level]
    if not kept:
        raise ValueError(f"noise level {noise_level} must exceed the first DDIM timestep {grid[0]} (stride {grid[0] + 1})")
    return kept


def ddim_move(x: torch.Tensor, eps: torch.Tensor, alpha_from, alpha_to, clip: bool = True):
    """x at alpha-bar ``alpha_to`` along ``eps`` from x at ``alpha_from``; also returns x0 and
    the eps consistent with the clipped x0."""
    x0 = (x - (1 - alpha_from) ** 0.5 * eps) / alpha_from**0.5
    if clip:
        x0 = x0.clamp(-1, 1)
        if alpha_from < 1:
            eps = (x - alpha_from**0.5 * x0) / (1 - alpha_from) ** 0.5
    return alpha_to**0.5 * x0 + (1 - alpha_to) ** 0.5 * eps, x0, eps


@torch.no_grad()
def ddim_encode(predict: NoisePredictor, image: torch.Tensor, timesteps: list[int], alphas_cumprod: torch.Tensor,
                clip: bool = True) -> torch.Tensor:
    """Deterministic reverse DDIM: the clean ``image`` to noise level ``timesteps[-1]``.

    Args:
        predict: ``predict(x, t)`` -> eps, t an int64 (B,) tensor.
        image: (B, C, H, W) clean slices in [-1, 1].
        timesteps: ascending, from :func:`encode_timesteps`.
        alphas_cumprod: the DDPM's alpha-bar per timestep.
        clip: clip x0 estimates to [-1, 1] (the official ``clip_denoised``).
    """
    x, alpha_from, t_from = image, 1.0, 0  # the clean slice; the model is asked at t = 0 first
    for t in timesteps:
        eps = predict(x, torch.full((len(x),), t_from, dtype=torch.long, device=x.device))
        x, _, _ = ddim_move(x, eps, alpha_from, alphas_cumprod[t].item(), clip)
        alpha_from, t_from = alphas_cumprod[t].item(), t
    return x


def ddim_decode(predict: NoisePredictor, noisy: torch.Tensor, timesteps: list[int], alphas_cumprod: torch.Tensor,
                gradient: NoisePredictor | None = None, clip: bool = True) -> torch.Tensor:
    """Deterministic DDIM from noise level ``timesteps[-1]`` back to a clean slice.

    Args:
        predict: ``predict(x, t)`` -> eps.
        noisy: (B, C, H, W) the encoding.
        timesteps: the ascending timesteps of the encoding (walked back).
        alphas_cumprod: the DDPM's alpha-bar per timestep.
        gradient: ``gradient(x, t)`` -> s * grad_x log p(healthy | x_t), or None (no guidance).
        clip: as :func:`ddim_encode`.
    """
    x = noisy
    for k in range(len(timesteps) - 1, -1, -1):
        t = timesteps[k]
        alpha = alphas_cumprod[t].item()
        alpha_to = alphas_cumprod[timesteps[k - 1]].item() if k > 0 else 1.0
        step = torch.full((len(x),), t, dtype=torch.long, device=x.device)
        with torch.no_grad():
            eps = predict(x, step)
        if gradient is not None:
            _, x0, eps = ddim_move(x, eps, alpha, alpha, clip)  # eps of the clipped x0, as official
            eps = eps - (1 - alpha) ** 0.5 * gradient(x, step)
            clip_now = False  # the guided x0 is not clipped again (official condition_score)
        else:
            clip_now = clip
        x, _, _ = ddim_move(x, eps, alpha, alpha_to, clip_now)
    return x.detach()


def classifier_gradient(classifier: torch.nn.Module, scale: float, target: int = HEALTHY) -> NoisePredictor:
    """``scale * grad_x log p(target | x_t, t)`` of a noisy-slice classifier (towards healthy:
    MONAI's tutorial guides towards the lesion class, GenerativeModels#155)."""

    def gradient(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            chosen = F.log_softmax(classifier(x, t), dim=-1)[:, target]
            return scale * torch.autograd.grad(chosen.sum(), x)[0]

    return gradient
