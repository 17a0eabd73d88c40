import numpy as np
import pandas as pd

from radsynth.segmentation.figures import dice_figure, sdf_figure


def _png(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_dice_figure(tmp_path):
    metrics = pd.DataFrame(
        {"case": ["s1", "s2"] * 2, "method": ["supervised"] * 2 + ["dtc"] * 2,
         "setting": ["none-25"] * 4, "metric": ["dice"] * 4, "value": [0.5, 0.7, 0.6, 0.8]}
    )
    dice_figure(metrics, tmp_path / "dice.png")
    _png(tmp_path / "dice.png")


def test_sdf_figure(tmp_path):
    rng = np.random.default_rng(0)
    label = np.zeros((16, 16, 3), np.uint8)
    label[4:9, 4:9, 1] = 1
    label[10:13, 10:13, 1] = 2
    maps = rng.uniform(-1, 1, (16, 16, 3, 2)).astype(np.float32)
    sdf_figure([label, label], [maps, maps], ["s1", "s2"], [1, 2], tmp_path / "sdf.png")
    _png(tmp_path / "sdf.png")
