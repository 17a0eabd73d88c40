import pandas as pd

from radsynth.segmentation.tables import segmentation_table


def _long(rows):
    return pd.DataFrame(rows, columns=["case", "method", "setting", "metric", "value"])



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
