"""Classic augmentation of image/label batches on the training device.

The EMIT-Diff baselines: random contrast (gamma 0.75-1.25), random Gaussian noise, random
rotation (+-5 degrees) and random scaling (0.95-1.05), plus random flips. MONAI's ``Rand*``
array transforms draw one parameter set per call and work on one image on the CPU side of a
loop; here every sample of a batch gets its own draw in one batched operation on the device:
rotation and scaling are one affine matrix per sample, resampled once by MONAI's
``AffineTransform`` (bilinear for images, nearest for labels), and the intensity transforms
are the formulas of MONAI's ``AdjustContrast`` and ``GaussianNoise`` applied per sample.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial

import torch
from monai.networks.layers import AffineTransform

#: Name -> parameter range, from the EMIT-Diff baselines (noise: std on the [-1, 1] scale).
RANGES = {
    "contrast": (0.75, 1.25),
    "noise": (0.0, 0.1),
    "rotate": (-5.0, 5.0),
    "scale": (0.95, 1.05),
    "flip": None,
}
ALL = tuple(RANGES)


class ClassicAugmentation:
    """A callable that augments ``(image, label[, sdf])`` batches; see :func:`classic_augmentation`.

    Args:
        names: transforms to apply, a subset of :data:`ALL`.
        prob: probability that each transform is applied to each sample.
        seed: seed of the generator (created on the device of the first batch).
        flip_axes: spatial axes that may be flipped (default: all).
    """

    def __init__(
        self,
        names: Sequence[str],
        prob: float,
        seed: int = 0,
        flip_axes: Sequence[int] | None = None,
    ):
        unknown = set(names) - set(ALL)
        if unknown:
            raise ValueError(
                f"unknown augmentations {sorted(unknown)} (known: {list(ALL)})"
            )
        self.names = [name for name in ALL if name in names]
        self.prob = float(prob)
        self.seed = int(seed)
        self.flip_axes = flip_axes
        self._generator: torch.Generator | None = None

    def state_dict(self) -> dict:
        """The generator's position (for resumable training); empty before the first draw."""
        if self._generator is None:
            return {}
        return {"device": str(self._generator.device), "state": self._generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self._generator = None
        if state:
            self._generator = torch.Generator(device=state["device"])
            self._generator.set_state(state["state"])

    def _rand(self, shape, device) -> torch.Tensor:
        if self._generator is None:
            self._generator = torch.Generator(device=device).manual_seed(self.seed)
        return torch.rand(shape, generator=self._generator, device=device)

    def _draw(self, name: str, batch: int, device, identity: float) -> torch.Tensor:
        """Per-sample draws from ``RANGES[name]``; ``identity`` where the coin says no or it is off."""
        if name not in self.names:
            return torch.full((batch,), identity, device=device)
        low, high = RANGES[name]
        value = low + (high - low) * self._rand((batch,), device)
        applied = self._rand((batch,), device) < self.prob
        return torch.where(applied, value, torch.full_like(value, identity))

    def __call__(
        self,
        image: torch.Tensor,
        label: torch.Tensor | None = None,
        sdf: torch.Tensor | None = None,
    ):
        """Augment a batch.

        Args:
            image: (B, C, *spatial) float, in [-1, 1] with background -1.
            label: (B, *spatial) integer classes, or None (unlabelled batch).
            sdf: (B, K, *spatial) signed-distance targets that must follow the geometry, or None.

        Returns:
            ``(image, label)``, or ``(image, label, sdf)`` when ``sdf`` is given; label keeps
            its dtype and values (nearest resampling).
        """
        batch, device = image.shape[0], image.device
        spatial = image.ndim - 2
        if "flip" in self.names:
            for axis in (
                self.flip_axes if self.flip_axes is not None else range(spatial)
            ):
                flip = self._rand((batch,), device) < self.prob
                image = _flip_where(image, flip, axis + 2)
                label = None if label is None else _flip_where(label, flip, axis + 1)
                sdf = None if sdf is None else _flip_where(sdf, flip, axis + 2)
        if "rotate" in self.names or "scale" in self.names:
            angle = self._draw("rotate", batch, device, 0.0)
            theta = _theta(angle, self._draw("scale", batch, device, 1.0), spatial)
            warp = partial(AffineTransform, normalized=False, zero_centered=True)
            # Images are warped as image + 1 with zero padding so new border pixels are background.
            image = warp(mode="bilinear")(image + 1, theta) - 1
            if label is not None:
                label = (
                    warp(mode="nearest")(label[:, None].float(), theta)[:, 0]
                    .round()
                    .to(label.dtype)
                )
            if sdf is not None:
                sdf = warp(padding_mode="border")(sdf, theta)
        if "contrast" in self.names:
            gamma = self._draw("contrast", batch, device, 1.0).view(
                -1, *[1] * (image.ndim - 1)
            )
            # MONAI AdjustContrast with the contract's fixed range [-1, 1] instead of per-image min/max.
            image = ((image + 1) / 2).clamp(0, 1) ** gamma * 2 - 1
        if "noise" in self.names:
            std = self._draw("noise", batch, device, 0.0).view(
                -1, *[1] * (image.ndim - 1)
            )
            noise = torch.randn(image.shape, generator=self._generator, device=device)
            image = image + std * noise
        if sdf is not None:
            return image, label, sdf
        return image, label


def _flip_where(tensor: torch.Tensor, flip: torch.Tensor, dim: int) -> torch.Tensor:
    """Flip the samples of ``tensor`` where ``flip`` (B,) is true."""
    return torch.where(
        flip.view(-1, *[1] * (tensor.ndim - 1)), tensor.flip(dim), tensor
    )


def _theta(angle_deg: torch.Tensor, scale: torch.Tensor, spatial: int) -> torch.Tensor:
    """(B, D+1, D+1) pull matrices (zero-centred, in pixels): in-plane rotation of the first two
    axes and isotropic scaling; a 3D volume is rotated in its slice plane."""
    batch = angle_deg.shape[0]
    radians = angle_deg * (math.pi / 180)
    theta = torch.eye(spatial + 1, device=angle_deg.device).repeat(batch, 1, 1)
    cos, sin = torch.cos(radians) / scale, torch.sin(radians) / scale
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = cos, -sin, sin, cos
    for axis in range(2, spatial):
        theta[:, axis, axis] = 1 / scale
    return theta


def classic_augmentation(
    names: list[str] | None = None, prob: float = 0.5, seed: int = 0
) -> ClassicAugmentation:
    """The classic (EMIT-Diff baseline) augmentation as a batch callable.

    Args:
        names: any of "contrast", "noise", "rotate", "scale", "flip"; None for all of them.
        prob: probability that each transform is applied to each sample.
        seed: seed of the augmentation's own generator.

    Returns:
        A callable ``(image (B, C, H, W), label (B, H, W)) -> (image, label)``; it also takes an
        ``sdf`` (B, K, H, W) third argument that follows the geometry (returned third).
    """
    return ClassicAugmentation(ALL if names is None else names, prob, seed)
