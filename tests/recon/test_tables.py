import numpy as np
import pandas as pd

from radsynth.recon.figures import recon_figure
from radsynth.recon.tables import recon_table


def test_recon_table_groups_by_acceleration_with_means_and_stds():
    rows = []
    for method, psnr in (("zero_filled", (20.0, 22.0)), ("mcddpm", (30.0, 34.0))):
        for acceleration, shift in (("4x", 0.0), ("8x", -3.0)):
            for case, value in zip(("a:1", "a:2"), psnr):
                rows += [(case, method, acceleration, "psnr", value + shift), (case, method, acceleration, "ssim", 0.5)]
    rows += [("a:1", "mcddpm", "4x", "error_std_correlation", 0.4), ("a:2", "mcddpm", "4x", "error_std_correlation", 0.6)]
    summary, table = recon_table(pd.DataFrame(rows, columns=["case", "method", "setting", "metric", "value"]),
                                 ["zero_filled", "unet", "mcddpm"])
    assert table["Method"].tolist() == ["Zero-filled", "MC-DDPM", "Zero-filled", "MC-DDPM"]
    assert table["Acceleration"].tolist() == ["4x", "4x", "8x", "8x"]
    assert table["PSNR (dB) ↑"].tolist() == ["21.00 ± 1.41", "32.00 ± 2.83", "18.00 ± 1.41", "29.00 ± 2.83"]
    assert table["SSIM (%) ↑"].iloc[0] == "50.0 ± 0.0"
    assert table["Error–std r ↑"].tolist() == ["–", "0.50 ± 0.14", "–", "–"]
    assert table["Slices"].tolist() == [2, 2, 2, 2]


def test_recon_figure_is_written(tmp_path):
    target = np.random.default_rng(0).random((1, 8, 8))
    examples = {"target": target, "case": np.array(["a:1"]), "accelerations": np.array([4, 8]),
                "zero_filled": np.stack([target[0] * 0.5] * 2), "mcddpm": np.stack([target[0]] * 2),
                "mcddpm_std": np.stack([target[0] * 0.1] * 2)}
    recon_figure(examples, ["zero_filled", "unet", "mcddpm"], tmp_path / "recon.png")
    assert (tmp_path / "recon.png").stat().st_size > 10_000
