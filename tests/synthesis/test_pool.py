import numpy as np
import pytest

from radsynth.synthesis.pool import pool_channels, pool_slices
from radsynth.synthesis.prompts import describe
from tests.workflow.tinydag import make_picture_pairs


def test_pool_channels_fill_the_task_channels():
    assert pool_channels(["grey"], None, 3) == ["grey", "grey", "grey"]
    assert pool_channels(["t1", "t2", "flair", "pd"], None, 3) == ["t1", "t2", "flair"]
    assert pool_channels(["t1", "t2"], ["t2", "t1"], 2) == ["t2", "t1"]
    with pytest.raises(ValueError, match="among"):
        pool_channels(["t1"], ["t2"], 1)
    with pytest.raises(ValueError, match="1 or 3"):
        pool_channels(["t1", "t2"], ["t1", "t2"], 3)


def test_pool_slices_are_on_the_task_grid_with_their_prompts(tmp_path):
    make_picture_pairs(tmp_path, 4)
    dataset = {
        "name": "pictures", "kind": "image_pairs", "root": str(tmp_path), "channels": ["grey"], "classes": [1],
        "images": "images", "masks": "masks", "mask_suffix": "", "label_map": {"255": 1},
        "prompt": {"modality": ["ultrasound"], "organ": ["breast"], "pathology_pattern": "^(benign|malignant)"},
    }  # fmt: skip
    options = {"size": [24, 24], "fit": "resize", "foreground": "all", "orientation": None}
    pool = pool_slices(dataset, options, ["grey", "grey"], min_foreground=0.0)
    assert pool["image"].shape == (4, 2, 24, 24) and pool["image"].dtype == np.float32
    assert pool["image"].min() >= -1 and pool["image"].max() <= 1
    assert {describe(t) for t in pool["tokens"]} == {"ultrasound breast benign", "ultrasound breast malignant"}
    assert len(set(pool["subject"])) == 4
