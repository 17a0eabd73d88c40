"""Augmentation of image/label batches on the training device, one family per module.

- :mod:`radsynth.augment.classic`: the EMIT-Diff baselines (contrast, noise, rotate, scale,
  flip), batched.
- :mod:`radsynth.augment.deepstack`: the "DeepStack" baseline, nnU-Net's default stack built
  from MONAI transforms.

Every augmentation is a callable ``(image, label=None, sdf=None) -> (image, label[, sdf])``;
:func:`build_augmentation` makes one by name.
"""

from __future__ import annotations

from radsynth.augment.classic import (
    ALL,
    RANGES,
    ClassicAugmentation,
    classic_augmentation,
)
from radsynth.augment.deepstack import DeepStack

__all__ = [
    "ALL",
    "AUGMENTATIONS",
    "RANGES",
    "ClassicAugmentation",
    "DeepStack",
    "build_augmentation",
    "classic_augmentation",
]

#: The names :func:`build_augmentation` knows: none, each EMIT-Diff baseline, DeepStack.
AUGMENTATIONS = ("none", "contrast", "noise", "rotate", "scale", "deepstack")


def build_augmentation(
    name: str, prob: float = 0.5, seed: int = 0, spatial_dims: int = 2
) -> ClassicAugmentation | DeepStack | None:
    """The augmentation called ``name``, one of :data:`AUGMENTATIONS`.

    Args:
        name: "none", a single EMIT-Diff baseline ("contrast", "noise", "rotate", "scale") or
            "deepstack".
        prob: per-sample probability of a single baseline (DeepStack uses nnU-Net's own).
        seed: seed of the augmentation's generator.
        spatial_dims: 2 or 3, for DeepStack (the classic transforms follow the batch).

    Returns:
        None for "none", else a batch callable ``(image, label=None, sdf=None)``.

    Raises:
        ValueError: for a name outside :data:`AUGMENTATIONS`.
    """
    if name == "none":
        return None
    if name == "deepstack":
        return DeepStack(seed, spatial_dims)
    if name in AUGMENTATIONS:
        return ClassicAugmentation([name], prob, seed)
    raise ValueError(
        f"unknown augmentation {name!r} (known: {', '.join(AUGMENTATIONS)})"
    )
