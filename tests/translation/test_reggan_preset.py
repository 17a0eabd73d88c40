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
    assert translation["weights"] == {"adversarial": 1, "cycle": 10, "correction": 20, "smoothness": 10, "paired_l1": 100}
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
