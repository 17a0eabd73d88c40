"""Augmentation tables: rows in the given order, mean ± std over folds of per-fold means."""

import numpy as np
import pandas as pd
import pytest

from radsynth.report.tables import write_table
from radsynth.synthesis.tables import (
    augmentation_table,
    fold_summary,
    synthesis_table,
)


def _long(rows):
    return pd.DataFrame(rows, columns=["case", "method", "setting", "metric", "value"])


def _segmentation():
    rows = []
    # dice per fold: none 0.70/0.80 (cases 0.6, 0.8 and 0.7, 0.9), gan 0.80/0.90, ddpm one fold
    for method, fold, values in [("none", 0, (0.6, 0.8)), ("none", 1, (0.7, 0.9)),
                                 ("gan", 0, (0.8, 0.8)), ("gan", 1, (0.85, 0.95)), ("ddpm", 0, (0.5, 0.7))]:
        for case, value in enumerate(values):
            subject = f"s{fold}{case}"
            rows.append((subject, method, f"cv{fold}", "dice", value))
            rows.append((subject, method, f"cv{fold}", "jaccard", value / 2))
            rows.append((subject, method, f"cv{fold}", "hd95", 10 * value))
            rows.append((subject, method, f"cv{fold}", "lcc_dice", 1.0))
    rows.append(("s10", "none", "cv1", "hd95", np.nan))  # a third case without a distance
    return _long(rows)


def _synthesis():
    rows = []
    for generator, fold, dice in [("gan", 0, (60.0, 80.0)), ("gan", 1, (90.0, 90.0)), ("ddpm", 0, (50.0, 50.0))]:
        rows += [(str(i), generator, f"cv{fold}", "structure_dice", v) for i, v in enumerate(dice)]
        rows += [("source0", generator, f"cv{fold}", "diversity", 0.1 * (fold + 1))]
        rows += [("all", generator, f"cv{fold}", "fsd", 2.0 + fold)]
        if generator == "gan":
            rows += [("0", generator, f"cv{fold}", "ms_ssim_to_source", 0.5)]
        # the real ceiling, written once per generator and fold
        rows += [(str(i), "real", f"cv{fold}", "structure_dice", v) for i, v in enumerate((95.0, 97.0 + fold))]
    return _long(rows)


def test_fold_summary_takes_the_spread_between_fold_means():
    summary = fold_summary(_segmentation()[lambda f: f["metric"] == "dice"]).set_index("method")
    assert summary.loc["none", "mean"] == pytest.approx(0.75)
    assert summary.loc["none", "std"] == pytest.approx(np.std([0.7, 0.8], ddof=1))
    assert summary.loc["none", "folds"] == 2
    assert np.isnan(summary.loc["ddpm", "std"]) and summary.loc["ddpm", "folds"] == 1


def test_augmentation_table_rows_cells_and_structure_column(tmp_path):
    summary, table = augmentation_table(_segmentation(), _synthesis(), ["none", "rotate", "gan", "ddpm"])
    assert table["Method"].tolist() == ["None", "GAN", "DDPM"]  # order kept, rotate absent
    assert list(table.columns) == ["Method", "Dice (%) ↑", "Jaccard (%) ↑", "95HD (mm) ↓",
                                   "Structure Dice (%) ↑", "Folds"]
    # none: fold means 0.70 and 0.80 -> 75.00 ± 7.07 (%); gan: 0.80 and 0.90
    assert table["Dice (%) ↑"].tolist() == ["75.00 ± 7.07", "85.00 ± 7.07", "60.00"]
    assert table["Jaccard (%) ↑"].iloc[0] == "37.50 ± 3.54"
    assert table["95HD (mm) ↓"].iloc[0] == "7.50 ± 0.71"  # the NaN case is skipped
    # gan's structure Dice: fold means 70 and 90; none of the classic rows has one
    assert table["Structure Dice (%) ↑"].tolist() == ["–", "80.00 ± 14.14", "50.00"]
    assert table["Folds"].tolist() == [2, 2, 1]
    assert list(summary.columns) == ["method", "metric", "mean", "std", "folds"]
    assert not summary["metric"].str.startswith("lcc_").any()
    row = summary.set_index(["method", "metric"]).loc[("gan", "structure_dice")]
    assert row["mean"] == pytest.approx(80.0) and row["folds"] == 2
    paths = {k: str(tmp_path / f"augmentation.{k}") for k in ("csv", "md", "tex")}
    write_table(summary, table, paths, "Augmentation")
    assert "75.00 $\\pm$ 7.07" in (tmp_path / "augmentation.tex").read_text()


def test_augmentation_table_shows_voxel_distances_when_present():
    segmentation = pd.concat([_segmentation(), _long([("s00", "none", "cv0", "hd95_vox", 3.0)])])
    _, table = augmentation_table(segmentation, _synthesis(), ["none", "gan"])
    assert table["95HD (vox) ↓"].tolist() == ["3.00", "–"]


def test_synthesis_table_layout():
    summary, table = synthesis_table(_synthesis(), ["none", "gan", "ddpm", "controlnet"])
    assert table["Method"].tolist() == ["GAN", "DDPM", "Real slices"]
    assert list(table.columns) == ["Method", "Structure Dice (%) ↑", "Diversity (1 - MS-SSIM)",
                                   "MS-SSIM to source", "FSD ↓"]
    assert table["Structure Dice (%) ↑"].tolist() == ["80.00 ± 14.14", "50.00", "96.25 ± 0.35"]  # real: fold means 96, 96.5
    assert table["Diversity (1 - MS-SSIM)"].tolist() == ["0.1500 ± 0.0707", "0.1000", "–"]
    assert table["MS-SSIM to source"].tolist() == ["0.5000 ± 0.0000", "–", "–"]
    assert table["FSD ↓"].tolist() == ["2.500 ± 0.707", "2.000", "–"]
    # the real rows, repeated for each generator of fold 0, count once
    real = summary.set_index(["method", "metric"]).loc[("real", "structure_dice")]
    assert real["mean"] == pytest.approx(96.25) and real["folds"] == 2
