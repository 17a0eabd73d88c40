"""The translation methods as data: what each mode trains (RegGAN's C, NC, +R; Pix2Pix;
CycleGAN), its loss weights, the constructor arguments of its networks and their sizes.

RegGAN's modes (official code, Kid-Liet/Reg-GAN): C = cycle consistency (two generators, two
discriminators), NC = no cycle, +R = a registration network and the correction + smoothness
losses. Pix2Pix adds the paired L1 loss and a conditional discriminator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from radsynth.translation.translator import build_networks


@dataclass(frozen=True)
class Mode:
    """What one translation method trains.

    Attributes:
        cycle: a reverse generator and discriminator with the cycle loss (RegGAN's "C").
        registration: R and the correction + smoothness losses ("+R").
        paired_l1: the L1 loss between G(x) and y (Pix2Pix).
        conditional: D judges (x, y) pairs instead of y alone (Pix2Pix).
        fakes: what D sees as fake: "replay" (50-image buffer), "batch" (this step's G(x))
            or "regenerated" (G(x) re-run after the generator update, official NC+R).
    """

    cycle: bool = False
    registration: bool = False
    paired_l1: bool = False
    conditional: bool = False
    fakes: Literal["replay", "batch", "regenerated"] = "replay"


MODES: dict[str, Mode] = {
    "pix2pix": Mode(paired_l1=True, conditional=True, fakes="batch"),
    "cyclegan": Mode(cycle=True),
    "nc": Mode(),
    "c_r": Mode(cycle=True, registration=True),
    "nc_r": Mode(registration=True, fakes="regenerated"),
}

DEFAULT_WEIGHTS = {"adversarial": 1.0, "cycle": 10.0, "correction": 20.0, "smoothness": 10.0, "paired_l1": 100.0}


def mode_spec(mode: str) -> Mode:
    """The :class:`Mode` of a method name, or a ValueError naming the known ones."""
    if mode not in MODES:
        raise ValueError(f"unknown translation mode {mode!r}; expected one of {sorted(MODES)}")
    return MODES[mode]


def architecture_for(
    mode: str,
    spatial_dims: int,
    source_channels: int,
    target_channels: int,
    generator: dict | None = None,
    discriminator: dict | None = None,
    registration: dict | None = None,
) -> dict:
    """Constructor arguments of every network a mode trains (JSON-serialisable).

    Args:
        mode: a key of :data:`MODES`.
        spatial_dims: 2 or 3.
        source_channels, target_channels: image channels on each side.
        generator: ``ResnetGenerator`` sizes, e.g. ``{"filters": 64, "residual_blocks": 9}``.
        discriminator: ``PatchGAN`` sizes, e.g. ``{"filters": 64, "layers": 3}``.
        registration: R's network and sizes (:func:`radsynth.translation.registration.build_registration`),
            e.g. ``{"network": "unet", "channels": [32, 64, 64, 64]}``.

    Returns:
        ``{"mode", "spatial_dims", "networks": {name: kwargs}}``.
    """
    spec = mode_spec(mode)
    g, d, r = dict(generator or {}), dict(discriminator or {}), dict(registration or {})
    sd, cs, ct = int(spatial_dims), int(source_channels), int(target_channels)
    d_in = cs + ct if spec.conditional else ct
    networks = {
        "generator": {"spatial_dims": sd, "in_channels": cs, "out_channels": ct, **g},
        "discriminator": {"spatial_dims": sd, "in_channels": d_in, **d},
    }
    if spec.cycle:
        networks["generator_reverse"] = {"spatial_dims": sd, "in_channels": ct, "out_channels": cs, **g}
        networks["discriminator_reverse"] = {"spatial_dims": sd, "in_channels": cs, **d}
    if spec.registration:
        networks["registration"] = {"spatial_dims": sd, "in_channels": ct, **r}
    return {"mode": mode, "spatial_dims": sd, "networks": networks}


def count_parameters(nets: nn.ModuleDict) -> dict[str, int]:
    """Trainable parameters per network of built ``nets``, and the sums of :func:`parameter_counts`."""
    counts = {n: sum(p.numel() for p in m.parameters() if p.requires_grad) for n, m in nets.items()}
    counts["generator_side"] = sum(v for n, v in counts.items() if not n.startswith("discriminator"))
    counts["total"] = sum(v for n, v in counts.items() if n != "generator_side")
    return counts


def parameter_counts(architecture: dict) -> dict[str, int]:
    """Trainable parameters of every network of an architecture, and their sums.

    RegGAN's point that NC+R is lighter than C+R shows here: C+R carries a second generator
    and discriminator, far larger than R.

    Args:
        architecture: :func:`architecture_for` output (or :attr:`TranslationResult.architecture`).

    Returns:
        ``{network name: count, "generator_side": G (+ reverse G) + R, i.e. what is trained
        against the discriminators, "total": all networks}``.
    """
    # Built on the CPU under a forked RNG so that counting never shifts a seeded run's init.
    with torch.random.fork_rng(devices=[]):
        return count_parameters(build_networks(architecture))
