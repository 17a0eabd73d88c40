"""Semi-supervised terms: DTC's dual-task consistency and the mean teacher.

DTC (Luo et al., AAAI 2021): labelled rows get ``sdf_weight * MSE(tanh_out, SDF)``; every
row gets ``mean((sigmoid(-k * tanh_out) - sigmoid(seg))^2)``, weighted by the ramp
``consistency * exp(-5 (1 - t)^2)``.

Mean teacher (Tarvainen & Valpola 2017, the semi-supervised baseline of the UA-MT and DTC
code): a teacher whose weights are the exponential moving average of the student's sees the
unlabelled rows with Gaussian noise added (std 0.1, clipped to +-0.2); the student's
probabilities on those rows are pulled to the teacher's by a ramped MSE (weight 0.1).
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

DTC_DEFAULTS = {"sdf_weight": 0.3, "sharpness": 1500.0, "consistency": 1.0, "rampup": 1.0}
MEAN_TEACHER_DEFAULTS = {"consistency": 0.1, "ema_decay": 0.99, "noise": 0.1, "rampup": 1.0}


def consistency_weight(iteration: int, iterations: int, consistency: float, rampup: float = 1.0) -> float:
    """The ramp-up ``consistency * exp(-5 (1 - t)^2)``, ``t = iteration / (rampup * iterations)``.

    Args:
        iteration: current iteration (0-based).
        iterations: total iterations.
        consistency: the final weight.
        rampup: fraction of training over which the weight ramps up (DTC: all of it).
    """
    length = max(rampup * iterations, 1e-12)
    t = min(max(iteration / length, 0.0), 1.0)
    return float(consistency * math.exp(-5.0 * (1.0 - t) ** 2))


def dtc_losses(
    seg: torch.Tensor,
    tanh_out: torch.Tensor,
    sdf_target: torch.Tensor,
    has_target: torch.Tensor,
    sharpness: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The two DTC-specific terms, in float32.

    Args:
        seg: (B, K, ...) segmentation logits.
        tanh_out: (B, K, ...) tanh outputs of the distance head.
        sdf_target: (B, K, ...) SDF targets; rows without one are ignored.
        has_target: (B,) bool, the rows with an SDF target (the labelled ones).
        sharpness: k of ``sigmoid(-k * tanh_out)`` (DTC: 1500).

    Returns:
        ``(sdf_mse, consistency)``: MSE(tanh_out, SDF) over the rows with a target and
        ``mean((sigmoid(-k * tanh_out) - sigmoid(seg))^2)`` over all rows.
    """
    seg, tanh_out = seg.float(), tanh_out.float()
    if has_target.any():
        sdf_mse = F.mse_loss(tanh_out[has_target], sdf_target[has_target].float())
    else:  # a batch of synthetic pairs without SDFs
        sdf_mse = tanh_out.sum() * 0
    consistency = ((torch.sigmoid(-sharpness * tanh_out) - torch.sigmoid(seg)) ** 2).mean()
    return sdf_mse, consistency


class MeanTeacher:
    """The EMA teacher of a student network and its consistency target.

    Args:
        student: the network being trained (copied, not shared).
        ema_decay: the teacher keeps ``min(1 - 1 / (step + 1), ema_decay)`` of itself per step,
            so it follows the student closely at first (as the UA-MT code).
        noise: std of the Gaussian noise on the teacher's input, clipped to +-2 std.
    """

    def __init__(self, student: nn.Module, ema_decay: float = 0.99, noise: float = 0.1):
        self.teacher = copy.deepcopy(student)
        self.teacher.requires_grad_(False)
        self.ema_decay, self.noise = float(ema_decay), float(noise)
        self._noise_generator: torch.Generator | None = None

    def target(self, image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The teacher's sigmoid probabilities on ``image`` plus clipped noise (no gradient).

        The noise is drawn on ``image``'s device by a generator seeded once from ``generator``,
        so a GPU run never draws whole noise volumes on the CPU.
        """
        if self._noise_generator is None:
            seed = int(torch.randint(2**62, (1,), generator=generator))
            self._noise_generator = torch.Generator(device=image.device).manual_seed(seed)
        noise = torch.randn(image.shape, generator=self._noise_generator, device=image.device) * self.noise
        with torch.no_grad():
            seg = self.teacher(image + noise.clamp(-2 * self.noise, 2 * self.noise))[0]
        return torch.sigmoid(seg.float())

    def state_dict(self) -> dict:
        """The teacher's weights and its noise generator's position (for resumable training)."""
        noise = self._noise_generator
        return {
            "teacher": self.teacher.state_dict(),
            "noise": None if noise is None else {"device": str(noise.device), "state": noise.get_state()},
        }

    def load_state_dict(self, state: dict) -> None:
        self.teacher.load_state_dict(state["teacher"])
        self._noise_generator = None
        if state["noise"] is not None:
            self._noise_generator = torch.Generator(device=state["noise"]["device"])
            self._noise_generator.set_state(state["noise"]["state"])

    @torch.no_grad()
    def update(self, student: nn.Module, step: int) -> None:
        """teacher <- alpha teacher + (1 - alpha) student (buffers copied)."""
        alpha = min(1.0 - 1.0 / (step + 1), self.ema_decay)
        for t, s in zip(self.teacher.parameters(), student.parameters()):
            t.mul_(alpha).add_(s.detach(), alpha=1.0 - alpha)
        for t, s in zip(self.teacher.buffers(), student.buffers()):
            t.copy_(s)


def mean_teacher_loss(student_seg: torch.Tensor, teacher_probability: torch.Tensor) -> torch.Tensor:
    """MSE between the student's and the teacher's probabilities (float32)."""
    return F.mse_loss(torch.sigmoid(student_seg.float()), teacher_probability)
