import numpy as np
import pandas as pd

from radsynth.translation.figures import misalignment_figure, noise_curve_figure, translation_figure


def _png(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_translation_figure(tmp_path):
    rng = np.random.default_rng(0)
    plain = {k: rng.uniform(-1, 1, (2, 16, 16)).astype(np.float32) for k in ("source", "target", "output")}
    plain["case"] = np.array(["s:1", "s:2"])
    registered = dict(plain)
    for key in ("moved_source", "moved_target", "moved_output", "registered"):
        registered[key] = rng.uniform(-1, 1, (2, 16, 16)).astype(np.float32)
    registered["field"] = registered["true_field"] = rng.normal(size=(2, 2, 16, 16)).astype(np.float32)
    translation_figure({"pix2pix": plain, "nc_r": registered}, tmp_path / "t.png", level=5)
    _png(tmp_path / "t.png")


def test_noise_curve_figure(tmp_path):
    rows = [(f"s:{c}", m, f"level{L}", metric, 0.1 * L + 0.01 * c + (m == "nc_r") * 0.05)
            for m in ("pix2pix", "nc_r") for L in (0, 1, 3, 5) for c in range(3) for metric in ("mae", "ssim")]
    rows.append(("s:0", "pix2pix", "unpaired", "mae", 0.9))  # not a level: left out
    frame = pd.DataFrame(rows, columns=["case", "method", "setting", "metric", "value"])
    noise_curve_figure(frame, tmp_path / "curve.png", {"nc_r": "NC+R"})
    assert (tmp_path / "curve.png").stat().st_size > 10_000


def test_misalignment_figure(tmp_path):
    rng = np.random.default_rng(0)
    pairs = {level: {"source": rng.uniform(-1, 1, (16, 16, 3)), "target": rng.uniform(-1, 1, (16, 16, 3)),
                     "field": rng.normal(0, level + 0.1, (16, 16, 3, 2))} for level in (0, 5)}
    misalignment_figure(pairs, tmp_path / "misalignment.png", "s1", ("t1", "t2"))
    _png(tmp_path / "misalignment.png")
