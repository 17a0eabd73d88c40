"""EMIT-Diff's augmentation of ControlNet training pairs: one random rotation and zoom applied to
the image and its control map together (DiffBoost ``diffusion/ControlNet/segmentation_dataset.py``,
``random_rotate_and_scale``: angle in +-20 degrees, crop factor in [0.75, 1.05]).

The crop factor c follows the official code: c < 1 crops the central c-fraction and resizes it
back (a zoom by 1 / c), c >= 1 shrinks the image to 2 - c of its size inside a padded frame.
Here both are one affine resampling (bilinear): the image is padded by reflection (the official
'symmetric'), the control map with its "no structure" value -1 (the official 0 edge value).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F


def draw_rotate_scale(
    n: int, rotate: float, scale: Sequence[float], generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Angles (degrees, uniform in +-``rotate``) and magnifications of ``n`` samples.

    Args:
        n: samples.
        rotate: largest rotation in degrees.
        scale: [low, high] of the uniform crop factor c; the magnification is 1 / c for c < 1,
            2 - c otherwise.
        generator: CPU torch generator.

    Returns:
        ``(angles, magnifications)``, float32 (n,) each, on the CPU.
    """
    low, high = (float(v) for v in scale)
    angles = (torch.rand(n, generator=generator) * 2 - 1) * float(rotate)
    crop = low + torch.rand(n, generator=generator) * (high - low)
    magnifications = torch.where(crop < 1, 1 / crop, 2 - crop)
    return angles, magnifications


def rotate_scale(
    image: torch.Tensor, control: torch.Tensor, angles: torch.Tensor, magnifications: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate (degrees, counter-clockwise in the array's first two axes) and zoom each sample of
    ``image`` (B, C, H, W) and ``control`` (B, 1, H, W) about the centre, both with one grid."""
    height, width = image.shape[-2:]
    radians = angles.to(image.device, torch.float32) * (math.pi / 180)
    cos, sin = torch.cos(radians), torch.sin(radians)
    zoom = magnifications.to(image.device, torch.float32)
    # Output pixel -> input pixel is R / zoom; affine_grid works in [-1, 1] per axis (x: width),
    # so the rotation is conjugated by the axis lengths to stay a rotation on a non-square grid.
    aspect = width / height
    theta = torch.stack(
        [
            torch.stack([cos, -sin / aspect, torch.zeros_like(cos)], -1),
            torch.stack([sin * aspect, cos, torch.zeros_like(cos)], -1),
        ],
        -2,
    ) / zoom.view(-1, 1, 1)
    theta[..., 2] = 0.0
    grid = F.affine_grid(theta, list(image.shape), align_corners=False)
    moved = F.grid_sample(image, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    shifted = F.grid_sample(control + 1, grid.to(control.dtype), mode="bilinear", padding_mode="zeros", align_corners=False)
    return moved, shifted - 1
