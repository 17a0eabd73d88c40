"""config/experiments/reggan_brats.yaml carries the official RegGAN values (Kid-Liet/Reg-GAN)."""

from pathlib import Path

import pandas as pd
import yaml

from radsynth.translation.modes import architecture_for, parameter_counts
from radsynth.translation.tables import mode_table
from tests.translation.test_resunet import official_count_by_hand

REPO = Path(__file__).resolve().parents[2]
PRESET = yaml.safe_load((REPO / "config" / "experiments" / "reggan_brats.yaml").read_text())


def test_the_preset_sets_the_official_protocol():
    misalign, translation = PRESET["misalign"], PRESET["translation"]
    assert misalign["redraw"] is True and misalign["interpolation"] == "nearest"
    assert translation["discriminator"] == {"filters": 64, "layers": 3, "pool": True}
    assert translation["registration"] == {"network": "resunet", "channels": [32, 64, 64, 64, 64, 64, 64]}
    assert translation["selection"] == "last"
    assert translation["weights"] == {"adversarial": 1, "cycle": 10, "correction": 20, "smoothness": 10, "paired_l1": 100,
                                      "reconstruction": 10, "kl": 0.01, "style": 1, "content": 1}
    assert (translation["lr"], translation["betas"], translation["batch_size"], translation["epochs"]) == (
        1e-4, [0.5, 0.999], 1, 80
    )
    assert translation["lr_decay_start"] is None  # the official trainer builds no lr scheduler
    assert PRESET["preprocess"]["size"] == [256, 256]


def test_the_mode_table_counts_the_official_networks():
    # Official sizes: Generator(1, 1) 11,365,633, Discriminator(1) 2,762,689 (test_networks.py)
    # and R 2,058,018 (counted by hand from trainer/reg.py's layer list).
    t = PRESET["translation"]
    arch = architecture_for("nc_r", 2, 1, 1, t["generator"], t["discriminator"], t["registration"])
    counts = parameter_counts(arch)
    assert counts["registration"] == official_count_by_hand() == 2_058_018
    assert counts["total"] == 11_365_633 + 2_762_689 + 2_058_018
    metrics = pd.DataFrame([("s:1", "nc_r", "level5", "mae", 0.1)], columns=["case", "method", "setting", "metric", "value"])
    _, table = mode_table(metrics, "level5", {"nc_r": counts["total"]}, {"nc_r": "80 / 80"}, "last")
    assert table["Params (M)"].tolist() == ["16.19"]


# The official networks' sizes at 256 px, 1 channel, tallied from Kid-Liet/Reg-GAN's layer
# lists (Model/Unit.py, Model/Munit.py, Model/NiceGan.py) by hand, not by radsynth's code.
UNIT_VAE, UNIT_D = 11_127_937, 8_265_027  # VAE: encoder 5,379,584 + decoder 5,748,353; D: 3 x 2,755,009
MUNIT_G = 15_007_369  # style encoder 2,758,664
NICE_G, NICE_D = 277_648_960, 46_872_385  # D's encoder 165,441
NICE_NC_G, NICE_NC_D = 277_814_401, 11_722_657  # the generator carries its own encoder copy
R = 2_058_018
OFFICIAL = {
    "unit": {"autoencoder_a": UNIT_VAE, "autoencoder_b": UNIT_VAE, "discriminator": UNIT_D, "discriminator_reverse": UNIT_D},
    "unit_nc": {"autoencoder_a": UNIT_VAE, "autoencoder_b": UNIT_VAE, "discriminator": UNIT_D},
    "munit": {"autoencoder_a": MUNIT_G, "autoencoder_b": MUNIT_G, "discriminator": UNIT_D, "discriminator_reverse": UNIT_D},
    "munit_nc": {"autoencoder_a": MUNIT_G, "autoencoder_b": MUNIT_G, "discriminator": UNIT_D},
    "nicegan": {"generator": NICE_G, "generator_reverse": NICE_G, "discriminator": NICE_D, "discriminator_reverse": NICE_D},
    "nicegan_nc": {"generator": NICE_NC_G, "discriminator": NICE_NC_D},
}


def test_the_mode_table_counts_the_official_unit_munit_and_nicegan():
    t = PRESET["translation"]
    modes = set(t["modes"])
    assert modes == {f"{f}{m}" for f in ("unit", "munit", "nicegan") for m in ("", "_nc", "_c_r", "_nc_r")} | {
        "pix2pix", "cyclegan", "nc", "c_r", "nc_r"}
    sizes = {f: t[f] for f in ("unit", "munit", "nicegan")}
    assert sizes["nicegan"]["light"] is False  # the paper preset flattens NICE-GAN's bottleneck
    assert (t["weights"]["reconstruction"], t["weights"]["kl"], t["weights"]["style"], t["weights"]["content"]) == (
        10, 0.01, 1, 1)
    rows = []
    for base, expected in OFFICIAL.items():
        for mode, extra in ((base, {}), (f"{base}_r" if base.endswith("_nc") else f"{base}_c_r", {"registration": R})):
            arch = architecture_for(mode, 2, 1, 1, registration=t["registration"], families=sizes,
                                    image_size=PRESET["preprocess"]["size"])
            counts = parameter_counts(arch)
            want = {**expected, **extra}
            assert {k: v for k, v in counts.items() if k not in ("total", "generator_side")} == want, mode
            assert counts["total"] == sum(want.values())
            rows.append((mode, counts["total"]))
    metrics = pd.DataFrame([("s:1", m, "level5", "mae", 0.1) for m, _ in rows],
                           columns=["case", "method", "setting", "metric", "value"])
    _, table = mode_table(metrics, "level5", dict(rows))
    params = dict(zip(table["Method"], table["Params (M)"]))
    assert params["UNIT (C)"] == "38.79" and params["NICE-GAN NC+R"] == "291.60"
    assert params["MUNIT C+R"] == f"{(2 * MUNIT_G + 2 * UNIT_D + R) / 1e6:.2f}"
