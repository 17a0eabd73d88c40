"""The mode table: each mode's networks, their constructor arguments and sizes."""

import json

import torch

from radsynth.translation.modes import MODES, architecture_for, parameter_counts
from radsynth.translation.translator import build_networks
from tests.translation.test_trainer import CLASSIC, TINY, TINY_FAMILIES


def test_architecture_is_json_and_conditional_for_pix2pix():
    arch = architecture_for("pix2pix", 2, 1, 1, {"filters": 4, "residual_blocks": 1}, {"filters": 4})
    assert arch["networks"]["discriminator"]["in_channels"] == 2
    assert set(arch["networks"]) == {"generator", "discriminator"}
    assert json.loads(json.dumps(arch)) == arch



def count(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())



def test_parameter_counts():
    paper = {name: architecture_for(name, 2, 1, 1) for name in CLASSIC}  # the paper's sizes
    counts = {name: parameter_counts(arch) for name, arch in paper.items()}
    # RegGAN: NC+R has fewer parameters than C+R (no second generator and discriminator).
    assert counts["nc_r"]["total"] < counts["c_r"]["total"]
    assert counts["nc_r"]["generator_side"] < counts["c_r"]["generator_side"]
    assert counts["pix2pix"]["generator"] == counts["nc"]["generator"] == 11_365_633
    # Pix2Pix's conditional D sees two channels, so only its first conv grows: 16 weights * 64.
    assert counts["pix2pix"]["discriminator"] - counts["nc"]["discriminator"] == 64 * 16

    for name in MODES:
        arch = architecture_for(name, 3, 1, 2, **TINY, families=TINY_FAMILIES, image_size=(64, 64, 64))
        state = torch.random.get_rng_state()
        tally = parameter_counts(arch)
        assert torch.equal(torch.random.get_rng_state(), state)  # counting leaves seeded runs alone
        nets = build_networks(arch)
        assert {k: v for k, v in tally.items() if k in nets} == {k: count(v) for k, v in nets.items()}
        assert tally["total"] == sum(count(v) for v in nets.values())
        generator_side = [v for k, v in nets.items() if not k.startswith("discriminator")]
        assert tally["generator_side"] == sum(count(v) for v in generator_side)
        assert set(tally) == set(nets) | {"generator_side", "total"}
