import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap
from scipy import ndimage

from radsynth.report.figures import LABEL_COLOURS
from radsynth.segmentation.figures import dice_figure, sdf_figure
from tests.report.drawn import assert_shows, has_colour, not_blank, panels, saved_figure


def test_dice_figure(tmp_path):
    metrics = pd.DataFrame(
        {"case": ["s1", "s2"] * 2, "method": ["supervised"] * 2 + ["dtc"] * 2,
         "setting": ["none-25"] * 4, "metric": ["dice"] * 4, "value": [0.5, 0.7, 0.6, 0.8]}
    )
    figure = saved_figure(dice_figure, metrics, tmp_path / "dice.png")
    (panel,) = panels(tmp_path / "dice.png", figure)
    # One dot per case (colour C0 at alpha 0.7 over white), at its run and its Dice: the y axis
    # spans [-0.02, 1.02], the two boxes sit at x = 1, 2 of [0.5, 2.5], dots 0.12 to each side.
    dot = 0.7 * np.array([0x1F, 0x77, 0xB4]) / 255 + 0.3
    blobs, count = ndimage.label(ndimage.binary_dilation(np.abs(panel - dot).max(-1) < 0.05, iterations=2))
    assert count == 4
    height, width = panel.shape[0] + 4, panel.shape[1] + 4  # drawn.panels trims 2 pixels a side
    found = set()
    for row, col in ndimage.center_of_mass(blobs > 0, blobs, range(1, count + 1)):
        value = 1.02 - (row + 2) / height * 1.04
        run = 0.5 + (col + 2) / width * 2
        found.add((int(np.rint(run)), round(value, 1)))
        assert abs(value - round(value, 1)) < 0.015 and abs(abs(run - np.rint(run)) - 0.12) < 0.02
    assert found == {(1, 0.5), (1, 0.7), (2, 0.6), (2, 0.8)}  # supervised first, as in the table


def test_sdf_figure(tmp_path):
    rng = np.random.default_rng(0)
    label = np.zeros((16, 16, 3), np.uint8)
    label[4:9, 4:9, 1] = 1
    label[10:13, 10:13, 1] = 2
    maps = rng.uniform(-1, 1, (16, 16, 3, 2)).astype(np.float32)
    other = rng.uniform(-1, 1, (16, 16, 3, 2)).astype(np.float32)
    figure = saved_figure(sdf_figure, [label, label], [maps, other], ["s1", "s2"], [1, 2], tmp_path / "sdf.png")
    shown_panels = panels(tmp_path / "sdf.png", figure)
    assert len(shown_panels) == 2 * 3 + 1  # label + one SDF per class, per subject; a colour bar
    for row, sdf in enumerate([maps, other]):
        label_panel, *sdf_panels = shown_panels[3 * row : 3 * row + 3]
        # The most labelled slice (z = 1): background black, classes in their label colours.
        classes = ListedColormap(["black", *LABEL_COLOURS])
        assert_shows(label_panel, label[:, :, 1], classes, -0.5, len(LABEL_COLOURS) + 0.5)
        for k, panel in enumerate(sdf_panels):
            assert_shows(panel, sdf[:, :, 1, k], "RdBu_r")
            # The class's boundary over its map, in the class's colour (no RdBu colour is
            # within 0.15 of either), and not the other class's.
            assert has_colour(panel, LABEL_COLOURS[k], 0.15) > 5
            assert has_colour(panel, LABEL_COLOURS[1 - k], 0.15) == 0
    assert not_blank(shown_panels[-1])
