import struct

import numpy as np
import pandas as pd

from radsynth.report.figures import (
    dice_figure,
    generator_figure,
    loss_figure,
    translation_figure,
)


def _png(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_loss_and_dice_figures(tmp_path):
    history = pd.DataFrame({"iteration": [10, 20, 30], "loss": [1.0, 0.5, 0.2], "lr": [1e-3] * 3})
    loss_figure({"a": history, "b": history}, tmp_path / "loss.png")
    _png(tmp_path / "loss.png")
    metrics = pd.DataFrame(
        {"case": ["s1", "s2"] * 2, "method": ["supervised"] * 2 + ["dtc"] * 2,
         "setting": ["none-25"] * 4, "metric": ["dice"] * 4, "value": [0.5, 0.7, 0.6, 0.8]}
    )
    dice_figure(metrics, tmp_path / "dice.png")
    _png(tmp_path / "dice.png")


def test_translation_and_generator_figures(tmp_path):
    rng = np.random.default_rng(0)
    plain = {k: rng.uniform(-1, 1, (2, 16, 16)).astype(np.float32) for k in ("source", "target", "output")}
    plain["case"] = np.array(["s:1", "s:2"])
    registered = dict(plain)
    for key in ("moved_source", "moved_target", "moved_output", "registered"):
        registered[key] = rng.uniform(-1, 1, (2, 16, 16)).astype(np.float32)
    registered["field"] = registered["true_field"] = rng.normal(size=(2, 2, 16, 16)).astype(np.float32)
    translation_figure({"pix2pix": plain, "nc_r": registered}, tmp_path / "t.png", level=5)
    _png(tmp_path / "t.png")
    labels = np.zeros((2, 16, 16), np.uint8)
    labels[:, 4:8, 4:8] = 1
    labels[1, 10:12, 10:12] = 2
    samples = {
        "gan": {"image": rng.uniform(-1, 1, (2, 2, 2, 16, 16)), "label": np.repeat(labels[:, None], 2, 1)},
        "ddpm": {"image": rng.uniform(-1, 1, (2, 3, 2, 16, 16)), "label": np.zeros((2, 3, 16, 16), np.uint8)},
        "controlnet": {"image": rng.uniform(-1, 1, (2, 1, 2, 16, 16)), "label": np.repeat(labels[:, None], 1, 1)},
    }
    samples["ddpm"]["label"][:, :, 2:9, 3:7] = 1  # the DDPM's own masks
    prompts = {"controlnet": "an axial T1-weighted brain MRI slice with a glioma"}
    generator_figure(rng.uniform(-1, 1, (2, 2, 16, 16)), labels, samples, ["t1", "t2"], tmp_path / "s.png", prompts)
    _png(tmp_path / "s.png")
    # 2 real columns + 2 + 3 + 1 samples, 2 source rows: 1.6 x 1.7 inches a panel at 120 dpi
    width, height = struct.unpack(">II", (tmp_path / "s.png").read_bytes()[16:24])
    assert (width, height) == (round(1.6 * 8 * 120), round(1.7 * 2 * 120))


def test_display_plane_shows_pictures_as_drawn_and_volumes_radiologically():
    from radsynth.report.figures import display_plane

    plane = np.arange(6).reshape(3, 2)  # (X, Y)
    picture = display_plane(plane, np.diag([-1.0, -1.0, 1.0, 1.0]))  # LPS: x = column, y = row
    assert np.array_equal(picture, plane.T)
    ras = display_plane(plane, np.eye(4))  # right on the image's left, anterior on top
    assert np.array_equal(ras, plane.T[::-1, ::-1])


def test_noise_curve_figure(tmp_path):
    from radsynth.report.figures import noise_curve_figure

    rows = [(f"s:{c}", m, f"level{L}", metric, 0.1 * L + 0.01 * c + (m == "nc_r") * 0.05)
            for m in ("pix2pix", "nc_r") for L in (0, 1, 3, 5) for c in range(3) for metric in ("mae", "ssim")]
    rows.append(("s:0", "pix2pix", "unpaired", "mae", 0.9))  # not a level: left out
    frame = pd.DataFrame(rows, columns=["case", "method", "setting", "metric", "value"])
    noise_curve_figure(frame, tmp_path / "curve.png", {"nc_r": "NC+R"})
    assert (tmp_path / "curve.png").stat().st_size > 10_000
