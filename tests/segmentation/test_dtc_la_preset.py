"""config/experiments/dtc_la.yaml carries DTC's official values (code/train_la_dtc.py,
code/test_LA.py), also after the paper scale is merged under it, and its published numbers are
compared with the LCC rows (test_LA.py's default --nms 1)."""

from pathlib import Path

import pandas as pd
import yaml

from radsynth.scales import deep_merge
from radsynth.segmentation.networks import build_segmenter
from radsynth.segmentation.tables import segmentation_table

CONFIG = Path(__file__).resolve().parents[2] / "config"

# Read off the official code, written out here by hand.
OFFICIAL = {
    "spatial_dims": 3,
    "patch_size": [112, 112, 80],  # RandomCrop(patch_size)
    "rotate_flip": True,  # RandomRotFlip
    "loss": "dice_squared",  # losses.dice_loss
    "sdf_target": "patch",  # compute_sdf(label_batch) inside the loop
    "optimizer": "sgd",
    "lr": 0.01,
    "iterations": 6000,
    "batch_size": 2,  # labeled_bs
    "unlabelled_batch_size": 2,  # batch_size 4 - labeled_bs 2
    "labelled_from": "list",  # labeled_idxs = range(labelnum)
    "stride": [18, 18, 4],  # stride_xy=18, stride_z=4
    "lcc": True,  # --nms 1
    "evaluation": "official",  # test_all_case / test_single_case
}


def merged_preset():
    scale = yaml.safe_load((CONFIG / "scales" / "paper.yaml").read_text())
    scale.pop("limits", None)
    return deep_merge(scale, yaml.safe_load((CONFIG / "experiments" / "dtc_la.yaml").read_text()))


def test_dtc_la_sets_the_official_values_over_the_paper_scale():
    segmentation = merged_preset()["segmentation"]
    for key, value in OFFICIAL.items():
        assert segmentation[key] == value, key
    assert 16 in segmentation["labelled"] and 8 in segmentation["labelled"]
    assert segmentation["dtc"] == {"sdf_weight": 0.3, "consistency": 1.0, "sharpness": 1500, "rampup": 1.0}
    network = segmentation["network"]
    assert network["backbone"] == "vnet" and network["features"] == 16 and network["dropout"] == 0.5
    # The network the trainer builds from it is DTC's V-Net (16 base filters), not the paper
    # scale's width 32.
    kept = {k: network[k] for k in ("backbone", "features", "dropout")}
    built = build_segmenter(3, 1, **kept)
    assert sum(p.numel() for p in built.parameters()) == sum(
        p.numel() for p in build_segmenter(3, 1, backbone="vnet", features=16).parameters()
    )


def test_published_numbers_are_compared_with_the_lcc_rows():
    text = (CONFIG / "experiments" / "dtc_la.yaml").read_text()
    header = text[: text.index("scale:")]
    assert "89.42" in header and '"LCC" rows' in header and "--nms 1" in header
    assert "no LCC" not in text
    # The table puts the lcc_ metrics in the row marked LCC, beside the raw row.
    metrics = pd.DataFrame(
        [("a", "dtc", "none-n16-s0", "dice", 0.80), ("a", "dtc", "none-n16-s0", "lcc_dice", 0.90)],
        columns=["case", "method", "setting", "metric", "value"],
    )
    _, table = segmentation_table(metrics, keep=lambda *_: True, labels=["Method", "Labelled"])
    rows = table.set_index("Post-processing")
    assert rows.loc["LCC", "Dice (%) ↑"].startswith("90.00") and rows.loc["–", "Dice (%) ↑"].startswith("80.00")
