"""The anomaly table from hand-made long-form metrics; the figures are drawn."""

import numpy as np
import pandas as pd

from radsynth.anomaly.figures import anomaly_figure, shown_channel, sweep_figure
from radsynth.anomaly.tables import anomaly_table


def metrics():
    rows = [("a_z001", "guided", "L500_s100", "dice", 0.4), ("b_z002", "guided", "L500_s100", "dice", 0.6),
            ("a_z001", "guided", "L500_s100", "auroc", 0.9), ("b_z002", "guided", "L500_s100", "auroc", 1.0),
            ("all", "guided", "L500_s100", "slice_auroc", 0.75),
            ("a_z001", "autoencoder", "-", "dice", 0.1), ("all", "autoencoder", "-", "slice_auroc", 0.5)]
    return pd.DataFrame(rows, columns=["case", "method", "setting", "metric", "value"])


def test_cells_are_mean_and_sample_std_over_lesion_slices():
    summary, table = anomaly_table(metrics(), ["unguided", "guided", "autoencoder"])
    assert list(table["Method"]) == ["Classifier-guided DDIM", "Autoencoder"]  # absent methods skipped
    assert list(table["Setting"]) == ["L500_s100", "-"]
    # dice 0.4, 0.6: mean 50.0 %, sample std sqrt(((0.1)^2 + (0.1)^2) / 1) = 14.1 %
    assert table.loc[0, "Dice (%) ↑"] == "50.0 ± 14.1"
    assert table.loc[0, "AUROC (%) ↑"] == "95.0 ± 7.1"
    assert table.loc[0, "Slice AUROC (%) ↑"] == "75.0"  # one value over all slices: no spread
    assert table.loc[1, "AUROC (%) ↑"] == "–"
    assert list(table["Slices"]) == [2, 1]
    assert set(summary["metric"]) == {"dice", "auroc", "slice_auroc"}


def test_figures_are_drawn(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.uniform(-1, 1, (2, 3, 16, 16)).astype(np.float32)
    mask = np.zeros((2, 16, 16), bool)
    mask[:, 4:8, 4:8] = True
    image[:, 2][mask] = 1.0  # channel 2 shows the lesion
    assert shown_channel(image[0], mask[0]) == 2
    examples = {"image": image, "mask": mask, "case": np.array(["a_z001", "b_z002"]), "methods": np.array(["guided"]),
                "guided_counterfactual": image * 0, "guided_map": np.abs(image).sum(1)}
    anomaly_figure(examples, tmp_path / "maps.png")
    sweep = pd.DataFrame({"method": ["guided"] * 4, "noise_level": [250, 250, 500, 500], "scale": [30.0, 100.0] * 2,
                          "auroc": [0.8, 0.9, 0.95, 0.99]})
    sweep_figure(sweep, {"guided": {"noise_level": 500, "scale": 100.0}}, tmp_path / "sweep.png")
    sweep_figure(sweep.iloc[:0], {}, tmp_path / "empty.png")  # no val lesion slice: a note instead
    for name in ("maps.png", "sweep.png", "empty.png"):
        assert (tmp_path / name).stat().st_size > 2000, name
