"""A DDPM chain respaced to fewer steps, as improved-diffusion's ``SpacedDiffusion`` does
(both official codes sample this way; MONAI's ``set_timesteps(N < T)`` keeps the one-step
posterior while jumping T / N steps, which is not a valid respacing).

Kept timesteps are ``round(k (T - 1) / (N - 1))``, k = 0 .. N - 1, and the respaced betas are
``1 - abar_k / abar_{k-1}``. Both officials sample with the fixed "large" variance,
std = sqrt(beta_k); the "small" one is the posterior's, beta_k (1 - abar_{k-1}) / (1 - abar_k),
which adds far less noise on the last steps of a short chain (docs/fidelity.md).
"""

from __future__ import annotations

import torch
from monai.networks.schedulers import DDPMScheduler


def space_timesteps(train_timesteps: int, steps: int) -> torch.Tensor:
    """Ascending kept timesteps ``round(k (T - 1) / (N - 1))`` (improved-diffusion's single section).

    Args:
        train_timesteps: T of the training schedule.
        steps: N, kept steps (1 .. T); 1 keeps t = 0 only.
    """
    if not 1 <= steps <= train_timesteps:
        raise ValueError(f"respaced steps must lie in 1..{train_timesteps} (the training timesteps), not {steps}")
    if steps == 1:
        return torch.zeros(1, dtype=torch.int64)
    stride = (train_timesteps - 1) / (steps - 1)
    return torch.tensor([round(k * stride) for k in range(steps)], dtype=torch.int64)


def cosine_alphas_cumprod(train_timesteps: int) -> torch.Tensor:
    """abar_t of the cosine schedule (s = 0.008, betas clipped at 0.999), MONAI's."""
    return DDPMScheduler(num_train_timesteps=train_timesteps, schedule="cosine").alphas_cumprod.double()


class RespacedChain:
    """The reverse process over ``steps`` kept timesteps of a training schedule.

    Index i runs 0 .. N - 1 over the kept timesteps (``timesteps[i]`` is what the model is told).

    Args:
        alphas_cumprod: abar_t of the training schedule, (T,).
        steps: N, kept steps.
        noise_scale: the forward process's noise factor: x_t = sqrt(abar) x0 + scale sqrt(1 - abar) eps
            (MC-DDPM: 0.5; DiffuseRecon: 1).
        variance: "large" (beta, both officials) or "small" (the posterior variance).
    """

    def __init__(self, alphas_cumprod: torch.Tensor, steps: int, noise_scale: float = 1.0, variance: str = "large"):
        if variance not in ("large", "small"):
            raise ValueError(f"variance must be large or small, not {variance!r}")
        self.timesteps = space_timesteps(len(alphas_cumprod), steps)
        abar = alphas_cumprod[self.timesteps].double()
        self.abar = abar
        self.abar_prev = torch.cat([abar.new_ones(1), abar[:-1]])
        self.betas = 1 - self.abar / self.abar_prev
        self.noise_scale = float(noise_scale)
        small = self.betas * (1 - self.abar_prev) / (1 - self.abar)
        self.variances = self.betas if variance == "large" else small

    def __len__(self) -> int:
        return len(self.timesteps)

    def _at(self, values: torch.Tensor, i: int, like: torch.Tensor) -> torch.Tensor:
        return values[i].to(like.device, like.dtype)

    def noised(self, x0: torch.Tensor, noise: torch.Tensor, i: int, *, previous: bool = False) -> torch.Tensor:
        """x at index i (or at i - 1 with ``previous``, the level a step from i lands on)."""
        abar = self._at(self.abar_prev if previous else self.abar, i, x0)
        return abar.sqrt() * x0 + self.noise_scale * (1 - abar).sqrt() * noise

    def predict_x0(self, x: torch.Tensor, eps: torch.Tensor, i: int) -> torch.Tensor:
        """x0 implied by the predicted noise at index i."""
        abar = self._at(self.abar, i, x)
        return (x - self.noise_scale * (1 - abar).sqrt() * eps) / abar.sqrt()

    def posterior_mean(self, x0: torch.Tensor, x: torch.Tensor, i: int) -> torch.Tensor:
        """Mean of q(x_{i-1} | x_i, x0) (the noise scale cancels)."""
        abar, abar_prev, beta = (self._at(v, i, x) for v in (self.abar, self.abar_prev, self.betas))
        return (abar_prev.sqrt() * beta * x0 + (1 - beta).sqrt() * (1 - abar_prev) * x) / (1 - abar)

    def std(self, i: int, like: torch.Tensor) -> torch.Tensor:
        """The std of the noise added by the step from index i (times the noise scale); 0 at the last step."""
        return self.noise_scale * self._at(self.variances, i, like).sqrt() if i > 0 else like.new_zeros(())
