"""The translation methods as data: what each mode trains (RegGAN's C, NC, +R; Pix2Pix;
CycleGAN; UNIT, MUNIT and NICE-GAN in every mode), its loss weights, the constructor arguments
of its networks and their sizes.

RegGAN's modes (official code, Kid-Liet/Reg-GAN): C = cycle consistency (two generators, two
discriminators), NC = no cycle, +R = a registration network and the correction + smoothness
losses. Pix2Pix adds the paired L1 loss and a conditional discriminator.

Method names: ``pix2pix``; CycleGAN's family (ResNet generator, PatchGAN) is ``cyclegan`` (C),
``nc``, ``c_r``, ``nc_r``; the other baselines of RegGAN's table 1 are named
``<family>`` (C, the method as published), ``<family>_nc``, ``<family>_c_r`` and
``<family>_nc_r`` for the families ``unit``, ``munit`` and ``nicegan``, e.g. ``unit_nc_r``.
What NC drops for each follows the official code (see :mod:`radsynth.translation.unit_step`
and :mod:`radsynth.translation.nicegan_step`).
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
            or "regenerated" (G(x) re-run after the generator update, official NC+R, UNIT,
            MUNIT and NICE-GAN NC). NICE-GAN C updates D first, on fakes of the batch.
        family: the networks (:mod:`radsynth.translation.families`): "resnet", "unit",
            "munit" or "nicegan".
    """

    cycle: bool = False
    registration: bool = False
    paired_l1: bool = False
    conditional: bool = False
    fakes: Literal["replay", "batch", "regenerated"] = "replay"
    family: str = "resnet"


MODES: dict[str, Mode] = {
    "pix2pix": Mode(paired_l1=True, conditional=True, fakes="batch"),
    "cyclegan": Mode(cycle=True),
    "nc": Mode(),
    "c_r": Mode(cycle=True, registration=True),
    "nc_r": Mode(registration=True, fakes="regenerated"),
}
for _family in ("unit", "munit", "nicegan"):
    _c_fakes = "batch" if _family == "nicegan" else "regenerated"
    MODES[_family] = Mode(cycle=True, fakes=_c_fakes, family=_family)
    MODES[f"{_family}_nc"] = Mode(fakes="regenerated", family=_family)
    MODES[f"{_family}_c_r"] = Mode(cycle=True, registration=True, fakes=_c_fakes, family=_family)
    MODES[f"{_family}_nc_r"] = Mode(registration=True, fakes="regenerated", family=_family)

DEFAULT_WEIGHTS = {
    "adversarial": 1.0, "cycle": 10.0, "correction": 20.0, "smoothness": 10.0, "paired_l1": 100.0,
    # UNIT, MUNIT, NICE-GAN: within-domain reconstruction (Cyc_lamda in the official yamls),
    # UNIT's KL terms (Recon_kl_lamda), MUNIT's style and content reconstruction (Adv_lamda).
    "reconstruction": 10.0, "kl": 0.01, "style": 1.0, "content": 1.0,
}

# The official sizes (Yaml/Unit.yaml, Yaml/Munit.yaml, Model/NiceGan.py), the schema's defaults.
FAMILY_SIZES = {
    "unit": {"filters": 64, "residual_blocks": 4, "discriminator_filters": 64, "discriminator_layers": 4,
             "discriminator_scales": 3},
    "munit": {"filters": 64, "residual_blocks": 4, "style_dim": 8, "mlp_dim": 256, "test_style_seed": 0,
              "discriminator_filters": 64, "discriminator_layers": 4, "discriminator_scales": 3},
    "nicegan": {"filters": 64, "residual_blocks": 7, "light": False, "discriminator_filters": 64,
                "nc_discriminator_filters": 32, "discriminator_layers": 7},
}


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
    families: dict | None = None,
    image_size=None,
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
        families: sizes of the UNIT, MUNIT and NICE-GAN networks by family, the config's
            ``translation.unit`` / ``munit`` / ``nicegan`` (keys of :data:`FAMILY_SIZES`;
            missing ones take the official values).
        image_size: spatial size of the images; NICE-GAN's generator needs it unless light.

    Returns:
        ``{"mode", "family", "spatial_dims", "networks": {name: kwargs}}``.
    """
    spec = mode_spec(mode)
    sd, cs, ct = int(spatial_dims), int(source_channels), int(target_channels)
    if spec.registration:
        r = {"spatial_dims": sd, "in_channels": ct, **dict(registration or {})}
    if spec.family != "resnet":
        networks = _family_networks(spec, sd, cs, ct, (families or {}).get(spec.family), image_size)
        if spec.registration:
            networks["registration"] = r
        return {"mode": mode, "family": spec.family, "spatial_dims": sd, "networks": networks}
    g, d = dict(generator or {}), dict(discriminator or {})
    d_in = cs + ct if spec.conditional else ct
    networks = {
        "generator": {"spatial_dims": sd, "in_channels": cs, "out_channels": ct, **g},
        "discriminator": {"spatial_dims": sd, "in_channels": d_in, **d},
    }
    if spec.cycle:
        networks["generator_reverse"] = {"spatial_dims": sd, "in_channels": ct, "out_channels": cs, **g}
        networks["discriminator_reverse"] = {"spatial_dims": sd, "in_channels": cs, **d}
    if spec.registration:
        networks["registration"] = r
    return {"mode": mode, "family": "resnet", "spatial_dims": sd, "networks": networks}


def _family_networks(spec: Mode, sd: int, cs: int, ct: int, sizes: dict | None, image_size) -> dict:
    """UNIT / MUNIT / NICE-GAN networks of a mode: auto-encoders A and B (UNIT, MUNIT) or
    generators (NICE-GAN), D on the B side, and with C the reverse direction's D."""
    family = spec.family
    unknown = set(sizes or {}) - set(FAMILY_SIZES[family])
    if unknown:
        raise ValueError(f"unknown translation.{family} keys {sorted(unknown)}; expected {sorted(FAMILY_SIZES[family])}")
    s = {**FAMILY_SIZES[family], **(sizes or {})}
    if family in ("unit", "munit"):
        g = {"filters": s["filters"], "residual_blocks": s["residual_blocks"]}
        if family == "munit":
            g.update(style_dim=s["style_dim"], mlp_dim=s["mlp_dim"], test_style_seed=s["test_style_seed"])
        d = {"filters": s["discriminator_filters"], "layers": s["discriminator_layers"],
             "scales": s["discriminator_scales"]}
        networks = {
            "autoencoder_a": {"spatial_dims": sd, "channels": cs, **g},
            "autoencoder_b": {"spatial_dims": sd, "channels": ct, **g},
            "discriminator": {"spatial_dims": sd, "in_channels": ct, **d},
        }
        if spec.cycle:
            networks["discriminator_reverse"] = {"spatial_dims": sd, "in_channels": cs, **d}
        return networks
    g = {"filters": s["filters"], "residual_blocks": s["residual_blocks"], "light": bool(s["light"])}
    if not g["light"]:
        if image_size is None:
            raise ValueError("NICE-GAN without translation.nicegan.light needs the image size")
        g["image_size"] = [int(v) for v in image_size]
    if not spec.cycle:  # NC: the generator has an encoder of its own; D is the 32-filter Discriminator2
        return {
            "generator": {"spatial_dims": sd, "in_channels": cs, "out_channels": ct, **g, "own_encoder": True,
                          "pad": "replicate"},
            "discriminator": {"spatial_dims": sd, "in_channels": ct, "filters": s["nc_discriminator_filters"],
                              "layers": s["discriminator_layers"], "pad": "replicate", "global_kernel": 3},
        }
    z = 2 * int(s["discriminator_filters"])  # channels of the code the discriminators' encoders give
    d = {"filters": s["discriminator_filters"], "layers": s["discriminator_layers"]}
    return {
        "generator": {"spatial_dims": sd, "in_channels": z, "out_channels": ct, **g},
        "generator_reverse": {"spatial_dims": sd, "in_channels": z, "out_channels": cs, **g},
        "discriminator": {"spatial_dims": sd, "in_channels": ct, **d},
        "discriminator_reverse": {"spatial_dims": sd, "in_channels": cs, **d},
    }


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

    Built on the meta device (shapes, no storage), so that NICE-GAN's 268 M-weight layer
    costs nothing to count, under a forked RNG so that counting never shifts a seeded run's init.

    Args:
        architecture: :func:`architecture_for` output (or :attr:`TranslationResult.architecture`).

    Returns:
        ``{network name: count, "generator_side": every network but the discriminators
        (generators or auto-encoders, R), i.e. what is trained against the discriminators,
        "total": all networks}``. NICE-GAN's encoders belong to its discriminators.
    """
    with torch.random.fork_rng(devices=[]), torch.device("meta"):
        return count_parameters(build_networks(architecture))
