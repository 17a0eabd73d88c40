import numpy as np
import pandas as pd
from matplotlib.colors import to_rgb

from radsynth.translation.figures import misalignment_figure, noise_curve_figure, translation_figure
from tests.report.drawn import assert_shows, colours, has_colour, not_blank, panels, saved_figure, shown


def test_translation_figure(tmp_path):
    rng = np.random.default_rng(0)
    plain = {k: rng.uniform(-1, 1, (2, 16, 16)).astype(np.float32) for k in ("source", "target", "output")}
    plain["case"] = np.array(["s:1", "s:2"])
    registered = dict(plain)
    for key in ("moved_source", "moved_target", "moved_output", "registered"):
        registered[key] = rng.uniform(-1, 1, (2, 16, 16)).astype(np.float32)
    registered["field"] = rng.normal(size=(2, 2, 16, 16)).astype(np.float32)
    registered["true_field"] = -registered["field"]
    figure = saved_figure(translation_figure, {"pix2pix": plain, "nc_r": registered}, tmp_path / "t.png", level=5)
    shown_panels = panels(tmp_path / "t.png", figure)
    assert len(shown_panels) == 2 * 7  # one row per method, seven columns
    for row, example in enumerate([plain, registered]):
        source, target, output, error, *registration = shown_panels[7 * row : 7 * row + 7]
        assert_shows(source, example["source"][0])
        assert_shows(target, example["target"][0])
        assert_shows(output, example["output"][0])
        assert_shows(error, np.abs(example["output"][0] - example["target"][0]) / 2, "magma", 0, 0.5)
        if row == 0:  # Pix2Pix has no R: three panels with a note only
            for panel in registration:
                assert not_blank(panel) and has_colour(panel, "white", 0.02) > 0.9 * panel[..., 0].size
                assert has_colour(panel, "#ff3030") == has_colour(panel, "#40ff40") == 0
    moved, warped, fields = shown_panels[11:14]
    assert_shows(moved, registered["moved_target"][0])
    assert_shows(warped, registered["registered"][0])
    # The field panel: learned (red) and true (green) arrows over the moved target.
    assert has_colour(fields, "#ff3030") > 100 and has_colour(fields, "#40ff40") > 100


def test_noise_curve_figure(tmp_path):
    rows = [(f"s:{c}", m, f"level{L}", metric, 0.1 * L + 0.01 * c + (m == "nc_r") * 0.05)
            for m in ("pix2pix", "nc_r") for L in (0, 1, 3, 5) for c in range(3) for metric in ("mae", "ssim")]
    rows.append(("s:0", "pix2pix", "unpaired", "mae", 0.9))  # not a level: left out
    frame = pd.DataFrame(rows, columns=["case", "method", "setting", "metric", "value"])
    figure = saved_figure(noise_curve_figure, frame, tmp_path / "curve.png", {"nc_r": "NC+R"})
    shown_panels = panels(tmp_path / "curve.png", figure)
    assert len(shown_panels) == 2  # MAE and SSIM; no PSNR rows, no PSNR panel
    for panel in shown_panels:
        # Both methods drawn (C0, C1), the NC+R curve 0.05 above Pix2Pix's at every level.
        drawn = {}
        for colour in ("C0", "C1"):
            rows_of_colour = np.nonzero(np.abs(panel - np.array(to_rgb(colour))).max(-1) < 0.06)[0]
            assert len(rows_of_colour) > 300
            drawn[colour] = rows_of_colour.mean()
        assert drawn["C1"] < drawn["C0"] - 5  # higher on the page: a smaller row


def test_misalignment_figure(tmp_path):
    rng = np.random.default_rng(0)
    pairs = {level: {"source": rng.uniform(-1, 1, (16, 16, 3)), "target": rng.uniform(-1, 1, (16, 16, 3)),
                     "field": rng.normal(0, level + 0.1, (16, 16, 3, 2))} for level in (0, 5)}
    figure = saved_figure(misalignment_figure, pairs, tmp_path / "misalignment.png", "s1", ("t1", "t2"))
    shown_panels = panels(tmp_path / "misalignment.png", figure)
    assert len(shown_panels) == 2 * 4  # one row per level
    for row, level in enumerate((0, 5)):
        source, target = pairs[level]["source"][:, :, 1], pairs[level]["target"][:, :, 1]  # middle slice
        assert_shows(shown_panels[4 * row], source)
        assert_shows(shown_panels[4 * row + 1], target)
        i, j = np.indices(source.shape)  # 2 x 2 tiles of source and target, alternating
        assert_shows(shown_panels[4 * row + 2], np.where((i // 2 + j // 2) % 2 == 0, source, target))
        # |displacement| in viridis on [0, max], partly under the arrows.
        magnitude = np.linalg.norm(pairs[level]["field"][:, :, 1], axis=-1)
        expected = colours(magnitude, "viridis", 0, magnitude.max())
        matches = np.abs(shown(shown_panels[4 * row + 3], expected.shape[:2]) - expected).max(-1) < 0.02
        assert matches.mean() > 0.6
    assert has_colour(shown_panels[7], "white", 0.02) > 200  # level 5's arrows
