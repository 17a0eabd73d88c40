import numpy as np
import pandas as pd
import pytest

from radsynth.report.segmentation import segmentation_table
from radsynth.report.tables import summarise, translation_table, write_table


def _long(rows):
    return pd.DataFrame(rows, columns=["case", "method", "setting", "metric", "value"])


def test_summarise_skips_nan_and_counts():
    frame = _long(
        [("a", "m", "s", "hd95", 1.0), ("b", "m", "s", "hd95", 3.0), ("c", "m", "s", "hd95", np.nan)]
    )
    row = summarise(frame).iloc[0]
    assert row["mean"] == 2.0 and row["std"] == pytest.approx(np.sqrt(2)) and row["n"] == 2


def test_translation_table_orders_levels_and_methods(tmp_path):
    rows = []
    for level, offset in [("level5", 0.1), ("level0", 0.0)]:
        for method, base in [("nc_r", 0.05), ("pix2pix", 0.04)]:
            for case, jitter in [("s:1", 0.0), ("s:2", 0.02)]:
                rows.append((case, method, level, "mae", base + offset + jitter))
    summary, table = translation_table(_long(rows))
    assert table["Noise level"].tolist() == ["0", "0", "5", "5"]
    assert table["Method"].tolist() == ["Pix2Pix", "NC+R (RegGAN)"] * 2
    assert table["MAE ↓"].iloc[0] == "0.0500 ± 0.0141"
    assert "PSNR (dB) ↑" not in table  # absent metrics are dropped
    paths = {ext: tmp_path / f"t.{ext}" for ext in ("csv", "md", "tex")}
    write_table(summary, table, paths, "caption")
    assert "0.0500 ± 0.0141" in paths["md"].read_text()
    assert r"$\pm$" in paths["tex"].read_text()
    assert set(pd.read_csv(paths["csv"])["metric"]) == {"mae"}


def test_segmentation_table_selects_runs_and_scales_dice():
    rows = [
        ("s1", "supervised", "none-100-s0", "dice", 0.8),
        ("s1", "supervised", "classic-100-s0", "dice", 0.9),
        ("s1", "dtc", "none-25-s0", "dice", 0.6),
        ("s1", "supervised", "none-25-s0", "dice", 0.5),
        ("s1", "dtc", "none-n2-s0", "dice", 0.4),
    ]
    _, table = segmentation_table(_long(rows), lambda m, a, l: a == "none", ["Method", "Labelled"])
    # counts first, then shares, ascending; supervised before DTC
    assert table["Method"].tolist() == ["DTC", "Supervised", "DTC", "Supervised"]
    assert table["Labelled"].tolist() == ["2", "25%", "25%", "100%"]
    assert table["Dice (%) ↑"].tolist() == ["40.00", "50.00", "60.00", "80.00"]
    assert "Post-processing" not in table
    _, table = segmentation_table(_long(rows), lambda m, a, l: l == "100", ["Augmentation"])
    assert table["Augmentation"].tolist() == ["none", "classic"]


def test_segmentation_table_over_seeds_and_with_lcc():
    rows = []
    for seed, base in ((0, 0.6), (1, 0.7), (2, 0.8)):
        for case, jitter in (("a", -0.05), ("b", 0.05)):
            rows.append((case, "dtc", f"none-n8-s{seed}", "dice", base + jitter))
            rows.append((case, "dtc", f"none-n8-s{seed}", "lcc_dice", base + jitter + 0.01))
            rows.append((case, "dtc", f"none-n8-s{seed}", "hd95_vox", 3.0))
    summary, table = segmentation_table(_long(rows), lambda m, a, l: True, ["Method", "Labelled"])
    assert table["Post-processing"].tolist() == ["–", "LCC"]
    # over seeds: the std of the seeds' means (0.6, 0.7, 0.8), not of the six cases
    assert table["Dice (%) ↑"].tolist() == ["70.00 ± 10.00", "71.00 ± 10.00"]
    assert table["95HD (vox) ↓"].iloc[0] == "3.00 ± 0.00"
    dice = summary[(summary["metric"] == "dice") & (summary["post"] == "")].iloc[0]
    assert dice["seeds"] == 3 and dice["n"] == 3 and dice["setting"] == "none-n8"
    one_seed = [r for r in rows if r[2].endswith("s0") and r[3] == "dice"]
    _, table = segmentation_table(_long(one_seed), lambda m, a, l: True, ["Method"])
    assert table["Dice (%) ↑"].tolist() == ["60.00 ± 7.07"]  # over the two cases


def _translation_rows():
    rows = []
    for method, base in [("nc_r", 0.05), ("pix2pix", 0.04), ("c_r", 0.06), ("cyclegan", 0.07)]:
        for setting, offset in [("level0", 0.0), ("level5", 0.1), ("unpaired", 0.2)]:
            for case, jitter in [("s:1", 0.0), ("s:2", 0.02)]:
                rows.append((case, method, setting, "mae", base + offset + jitter))
                rows.append((case, method, setting, "ssim", 0.8 - offset))
    return _long(rows)


def test_mode_table_orders_modes_and_shows_sizes():
    from radsynth.report.tables import mode_table

    summary, table = mode_table(_translation_rows(), "level5", {"pix2pix": 11_380_000, "nc_r": 12_000_000})
    assert table["Method"].tolist() == ["Pix2Pix", "CycleGAN (C)", "C+R", "NC+R (RegGAN)"]
    assert table["MAE ↓"].iloc[0] == "0.1500 ± 0.0141"
    assert table["Params (M)"].tolist() == ["11.38", "–", "–", "12.00"]
    assert set(summary["setting"]) == {"level5"}
    assert "Kept iteration" not in table
    _, table = mode_table(_translation_rows(), "level5", {}, kept={"nc_r": "700 / 1000"})
    assert table["Kept iteration"].tolist() == ["–", "–", "–", "700 / 1000"]


def test_unpaired_table_keeps_only_the_unpaired_runs():
    from radsynth.report.tables import unpaired_table

    summary, table = unpaired_table(_translation_rows())
    assert set(summary["setting"]) == {"unpaired"} and len(table) == 4
    assert table["SSIM ↑"].iloc[0] == "0.6000 ± 0.0000"
