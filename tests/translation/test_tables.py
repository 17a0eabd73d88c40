import pandas as pd
import pytest

from radsynth.report.tables import write_table
from radsynth.translation.tables import mode_table, selection_caption, translation_table, unpaired_table


def _long(rows):
    return pd.DataFrame(rows, columns=["case", "method", "setting", "metric", "value"])



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



def _translation_rows():
    rows = []
    for method, base in [("nc_r", 0.05), ("pix2pix", 0.04), ("c_r", 0.06), ("cyclegan", 0.07)]:
        for setting, offset in [("level0", 0.0), ("level5", 0.1), ("unpaired", 0.2)]:
            for case, jitter in [("s:1", 0.0), ("s:2", 0.02)]:
                rows.append((case, method, setting, "mae", base + offset + jitter))
                rows.append((case, method, setting, "ssim", 0.8 - offset))
    return _long(rows)



def test_mode_table_orders_modes_and_shows_sizes():
    summary, table = mode_table(_translation_rows(), "level5", {"pix2pix": 11_380_000, "nc_r": 12_000_000})
    assert table["Method"].tolist() == ["Pix2Pix", "CycleGAN (C)", "C+R", "NC+R (RegGAN)"]
    assert table["MAE ↓"].iloc[0] == "0.1500 ± 0.0141"
    assert table["Params (M)"].tolist() == ["11.38", "–", "–", "12.00"]
    assert set(summary["setting"]) == {"level5"}
    assert "Kept iteration" not in table
    _, table = mode_table(_translation_rows(), "level5", {}, kept={"nc_r": "700 / 1000"})
    assert table["Kept iteration (best validation MAE)"].tolist() == ["–", "–", "–", "700 / 1000"]


def test_every_table_states_the_selection_rule(tmp_path):
    # The official protocol tests the last iteration: the column title and caption say so.
    rows = _translation_rows()
    kept = {(m, s): "80 / 80" for m in ("nc_r", "pix2pix", "c_r", "cyclegan") for s in ("level0", "level5", "unpaired")}
    noise = rows[rows["setting"] != "unpaired"]
    tables = [
        translation_table(noise, kept, "last")[1],
        mode_table(rows, "level5", {}, {m: v for (m, s), v in kept.items() if s == "level5"}, "last")[1],
        unpaired_table(rows, "unpaired", {m: v for (m, s), v in kept.items() if s == "unpaired"}, "last")[1],
    ]
    for table in tables:
        assert set(table["Kept iteration (last)"]) == {"80 / 80"}
    paths = {ext: tmp_path / f"t.{ext}" for ext in ("csv", "md", "tex")}
    write_table(noise, tables[0], paths, "Noise table. " + selection_caption("last"))
    assert "Kept iteration (last)" in paths["md"].read_text()
    assert "last training iteration" in paths["tex"].read_text()
    assert "validation" in selection_caption("best_validation")
    with pytest.raises(ValueError, match="selection must be one of"):
        selection_caption("first")



def test_unpaired_table_keeps_only_the_unpaired_runs():
    summary, table = unpaired_table(_translation_rows())
    assert set(summary["setting"]) == {"unpaired"} and len(table) == 4
    assert table["SSIM ↑"].iloc[0] == "0.6000 ± 0.0000"
