"""The Diffusion Deformable Model (Kim & Ye, MICCAI 2022) and its registration baseline.

Images are in [0, 1]; the diffusion module sees them in [-1, 1]. Training (one step of
:func:`ddm_loss`): x_t is the target T noised to t (linear betas 1e-6 .. 1e-2, T = 2000); the
code UNet reads (S, T, x_t) and its output c is both the noise estimate (epsilon-MSE) and the
deformation module's input; the field phi(c) warps S onto T, scored by squared local NCC
(window 9) and the smoothness of phi, each weighted by lambda = 20.

Generation: one pass at t = 0 with x = T gives c; frame_gamma = S o phi(gamma c). The official
field is the deformation network's output D(S, c), which is not zero for the zero code; with
``anchored`` it is taken relative to it, phi(c) = D(S, c) - D(S, 0), so gamma = 0 returns S
exactly (docs/fidelity.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.losses import DiffusionLoss, LocalNormalizedCrossCorrelationLoss
from monai.networks.schedulers import DDPMScheduler

from radsynth.temporal.networks import FieldNet, build_code_unet, warp


def ddpm_schedule(train_timesteps: int = 2000, beta_start: float = 1e-6, beta_end: float = 1e-2) -> DDPMScheduler:
    """DDM's noise schedule (linear betas)."""
    return DDPMScheduler(num_train_timesteps=train_timesteps, schedule="linear_beta", beta_start=beta_start, beta_end=beta_end)


class DDM(torch.nn.Module):
    """Code UNet + field network.

    Args:
        code: kwargs of :func:`radsynth.temporal.networks.code_unet_config`.
        field: kwargs of :func:`radsynth.temporal.networks.field_config`.
        anchored: the field relative to the zero code's (gamma = 0 is the identity).
    """

    def __init__(self, code: dict, field: dict, anchored: bool = False):
        super().__init__()
        self.anchored = bool(anchored)
        self.code_unet = build_code_unet(code)
        self.field_net = FieldNet(field)
        self.warp = warp(field["spatial_dims"])

    def code(self, source: torch.Tensor, target: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The latent code of a noisy target x_t ([-1, 1] images in, like DDPM)."""
        return self.code_unet(torch.cat([source * 2 - 1, target * 2 - 1, x_t], dim=1), t)

    def field(self, source: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        """phi(code) = D(S, code), minus D(S, 0) when anchored (then zero for the zero code)."""
        field = self.field_net(source, code)
        return field - self.field_net(source, torch.zeros_like(code)) if self.anchored else field

    @torch.no_grad()
    def frames(self, source: torch.Tensor, target: torch.Tensor, gammas: Sequence[float]) -> tuple[torch.Tensor, torch.Tensor]:
        """(frames (N, G, 1, ...), fields (N, G, dims, ...)) at each gamma from ED to ES."""
        t = torch.zeros(len(source), dtype=torch.long, device=source.device)
        code = self.code(source, target, target * 2 - 1, t)
        fields = torch.stack([self.field(source, g * code) for g in gammas], 1)
        frames = torch.stack([self.warp(source, fields[:, k]) for k in range(len(gammas))], 1)
        return frames, fields


class Registration(torch.nn.Module):
    """The baseline: VoxelMorph from S to T, its field scaled by gamma for the frames between."""

    def __init__(self, field: dict):
        super().__init__()
        self.field_net = FieldNet(field)
        self.warp = warp(field["spatial_dims"])

    @torch.no_grad()
    def frames(self, source: torch.Tensor, target: torch.Tensor, gammas: Sequence[float]) -> tuple[torch.Tensor, torch.Tensor]:
        phi = self.field_net(source, target)
        fields = torch.stack([g * phi for g in gammas], 1)
        frames = torch.stack([self.warp(source, fields[:, k]) for k in range(len(gammas))], 1)
        return frames, fields


class RegistrationLoss:
    """-NCC(S o phi, T) (squared local NCC, MONAI's, as the official's) and the smoothness of phi:
    MONAI's ``DiffusionLoss`` sums the squared gradients over the axes, the official averages
    them, so it is divided by the number of axes."""

    def __init__(self, spatial_dims: int, window: int = 9):
        self.ncc = LocalNormalizedCrossCorrelationLoss(spatial_dims=spatial_dims, kernel_size=window)
        self.smooth, self.dims = DiffusionLoss(), spatial_dims

    def __call__(self, warped: torch.Tensor, target: torch.Tensor, field: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.ncc(warped, target), self.smooth(field) / self.dims


def ddm_loss(model: DDM, source: torch.Tensor, target: torch.Tensor, schedule: DDPMScheduler, terms: RegistrationLoss,
             weight: float, generator: torch.Generator) -> tuple[torch.Tensor, dict]:
    """One training batch: L_eps + weight (-NCC + smoothness); also returns the terms."""
    t = torch.randint(0, schedule.num_train_timesteps, (len(source),), generator=generator).to(source.device)
    noise = torch.randn(target.shape, generator=generator).to(source.device)
    code = model.code(source, target, schedule.add_noise(target * 2 - 1, noise, t), t)
    field = model.field(source, code)
    ncc, smooth = terms(model.warp(source, field), target, field)
    eps = torch.mean((code - noise) ** 2)
    return eps + weight * (ncc + smooth), {"eps": eps.item(), "ncc": ncc.item(), "smooth": smooth.item()}


def registration_loss(model: Registration, source: torch.Tensor, target: torch.Tensor, terms: RegistrationLoss,
                      weight: float) -> tuple[torch.Tensor, dict]:
    """One training batch of the baseline: -NCC + smoothness (the same weight as DDM's)."""
    field = model.field_net(source, target)
    ncc, smooth = terms(model.warp(source, field), target, field)
    return weight * (ncc + smooth), {"ncc": ncc.item(), "smooth": smooth.item()}
