"""The network families of the translation methods and how each translates A -> B.

``resnet``: Pix2Pix, CycleGAN and RegGAN's modes (ResNet generator, PatchGAN); ``unit``,
``munit`` and ``nicegan``: the other baselines of RegGAN's table 1. A family names its
networks (the keys of an architecture's ``"networks"``), their classes, which of them
inference needs and the module that maps a source batch to the target domain.
"""

from __future__ import annotations

import torch
from torch import nn

from radsynth.translation.munit import AdaINGenerator
from radsynth.translation.networks import PatchGAN, ResnetGenerator
from radsynth.translation.nicegan import NiceDiscriminator, NiceGenerator
from radsynth.translation.registration import build_registration
from radsynth.translation.unit import MultiScaleDiscriminator, VAEGenerator

FAMILY_NETWORKS = {
    "resnet": {
        "generator": ResnetGenerator,
        "generator_reverse": ResnetGenerator,
        "discriminator": PatchGAN,
        "discriminator_reverse": PatchGAN,
        "registration": build_registration,
    },
    "unit": {
        "autoencoder_a": VAEGenerator,
        "autoencoder_b": VAEGenerator,
        "discriminator": MultiScaleDiscriminator,
        "discriminator_reverse": MultiScaleDiscriminator,
        "registration": build_registration,
    },
    "munit": {
        "autoencoder_a": AdaINGenerator,
        "autoencoder_b": AdaINGenerator,
        "discriminator": MultiScaleDiscriminator,
        "discriminator_reverse": MultiScaleDiscriminator,
        "registration": build_registration,
    },
    "nicegan": {
        "generator": NiceGenerator,
        "generator_reverse": NiceGenerator,
        "discriminator": NiceDiscriminator,
        "discriminator_reverse": NiceDiscriminator,
        "registration": build_registration,
    },
}

# What translating A -> B (and registering) loads; NICE-GAN's C generator decodes the code
# of D_A's encoder, so D_A ("discriminator_reverse") comes too where it exists.
INFERENCE_NETWORKS = {
    "resnet": ("generator", "registration"),
    "unit": ("autoencoder_a", "autoencoder_b", "registration"),
    "munit": ("autoencoder_a", "autoencoder_b", "registration"),
    "nicegan": ("generator", "discriminator_reverse", "registration"),
}

# Each family's spatial sizes must be multiples of this (two stride-2 convs, upsampled back).
SIZE_MULTIPLE = {"resnet": 1, "unit": 4, "munit": 4, "nicegan": 4}


def smallest_size(architecture: dict) -> int:
    """The smallest side the discriminators of an architecture take (every reflection-padded
    conv needs 2 px in; NICE-GAN's global head 3 px, or 2 with a 3x3 last conv, after
    ``layers - 2`` halvings); 1 for the ResNet family, whose PatchGAN pads with zeros."""
    family, smallest = family_of(architecture), 1
    for name, kwargs in architecture["networks"].items():
        if family in ("unit", "munit") and name.startswith("discriminator"):
            smallest = max(smallest, 2 ** (int(kwargs["layers"]) + int(kwargs["scales"]) - 1))
        if family == "munit" and name.startswith("autoencoder"):
            smallest = max(smallest, 16)  # the style encoder's four stride-2 convs
        if family == "nicegan" and name.startswith("discriminator"):
            end = 2 if int(kwargs.get("global_kernel", 4)) == 3 else 3
            smallest = max(smallest, end * 2 ** (int(kwargs["layers"]) - 2))
    return smallest


def check_image_size(architecture: dict, shape) -> None:
    """Refuse images the networks of ``architecture`` cannot take, naming the keys to change.

    Args:
        architecture: :func:`radsynth.translation.modes.architecture_for` output.
        shape: spatial shape of the images.
    """
    family, mode = family_of(architecture), architecture["mode"]
    multiple, smallest = SIZE_MULTIPLE[family], smallest_size(architecture)
    if any(int(s) % multiple for s in shape):
        raise ValueError(f"{mode} needs spatial sizes that are multiples of {multiple}, got {tuple(shape)} "
                         "(preprocess.size)")
    if min(int(s) for s in shape) < smallest:
        raise ValueError(f"{mode}'s discriminators need at least {smallest} px a side, got {tuple(shape)}: raise "
                         f"preprocess.size or lower translation.{family}.discriminator_layers"
                         + (" / discriminator_scales" if family != "nicegan" else ""))


def family_of(architecture: dict) -> str:
    """The family of an architecture (checkpoints from before the families are ``resnet``)."""
    family = architecture.get("family", "resnet")
    if family not in FAMILY_NETWORKS:
        raise ValueError(f"unknown network family {family!r}; expected one of {sorted(FAMILY_NETWORKS)}")
    return family


class UnitAToB(nn.Module):
    """UNIT A -> B: A's encoder, B's decoder, the latent without noise (the original's test)."""

    def __init__(self, autoencoder_a: nn.Module, autoencoder_b: nn.Module):
        super().__init__()
        self.autoencoder_a, self.autoencoder_b = autoencoder_a, autoencoder_b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.autoencoder_b.decode(self.autoencoder_a.encode(x))


class MunitAToB(UnitAToB):
    """MUNIT A -> B: A's content decoded by B with B's fixed test style (see :mod:`radsynth.translation.munit`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        content, _ = self.autoencoder_a.encode(x)
        return self.autoencoder_b.decode(content, self.autoencoder_b.test_style(len(x), content))


class NiceAToB(nn.Module):
    """NICE-GAN A -> B: D_A's encoder, then the A -> B generator (C); NC's generator encodes itself."""

    def __init__(self, generator: nn.Module, discriminator_a: nn.Module | None):
        super().__init__()
        self.generator, self.discriminator_a = generator, discriminator_a

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.generator.encoder is None:
            x = self.discriminator_a.encode(x)
        return self.generator(x)


def a_to_b(nets: nn.ModuleDict, family: str) -> nn.Module:
    """The module translating a source batch with ``nets`` (built from one architecture).

    Args:
        nets: the networks (at least the family's :data:`INFERENCE_NETWORKS` present).
        family: a key of :data:`FAMILY_NETWORKS`.
    """
    if family == "unit":
        return UnitAToB(nets["autoencoder_a"], nets["autoencoder_b"])
    if family == "munit":
        return MunitAToB(nets["autoencoder_a"], nets["autoencoder_b"])
    if family == "nicegan":
        return NiceAToB(nets["generator"], nets["discriminator_reverse"] if "discriminator_reverse" in nets else None)
    return nets["generator"]
