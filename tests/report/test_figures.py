import numpy as np
import pandas as pd
from matplotlib.colors import to_rgb

from radsynth.report.figures import display_plane, loss_figure
from tests.report.drawn import panels, saved_figure


def line_rows(panel, colour="C0"):
    """Row of the panel's pixels of ``colour`` per column (NaN where there are none)."""
    hits = np.abs(panel - np.array(to_rgb(colour))).max(-1) < 0.06
    count = hits.sum(0)
    total = (hits * np.arange(len(panel))[:, None]).sum(0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def test_loss_figure(tmp_path):
    history = pd.DataFrame({"iteration": [10, 20, 30], "loss": [1.0, 0.5, 0.2], "lr": [1e-3] * 3})
    rising = history.assign(loss=[0.2, 0.5, 1.0])
    figure = saved_figure(loss_figure, {"a": history, "b": rising}, tmp_path / "loss.png")
    shown = panels(tmp_path / "loss.png", figure)
    assert len(shown) == 2  # one panel per model
    for panel, falls in zip(shown, (True, False)):
        rows = line_rows(panel) / len(panel)  # of the loss column only: lr is not drawn
        assert np.isfinite(rows).sum() > 100
        # On a log axis with 5 % margins the middle point (0.5 of 0.2..1) sits at
        # 0.05 + 0.9 * log(1 / 0.5) / log(1 / 0.2) = 0.44 of the height (a linear axis: 0.61).
        middle = len(rows) // 2
        assert abs(np.nanmean(rows[middle - 2 : middle + 3]) - 0.438) < 0.03
        start = np.nanmean(rows[: len(rows) // 10])
        assert (start < 0.2) if falls else (start > 0.8)
    # Five models: four panels a row, the three spare axes of the second row hidden.
    figure = saved_figure(loss_figure, {name: history for name in "abcde"}, tmp_path / "five.png")
    assert len(figure.axes) == 8 and len(panels(tmp_path / "five.png", figure)) == 5


def test_display_plane_shows_pictures_as_drawn_and_volumes_radiologically():
    plane = np.arange(6).reshape(3, 2)  # (X, Y)
    picture = display_plane(plane, np.diag([-1.0, -1.0, 1.0, 1.0]))  # LPS: x = column, y = row
    assert np.array_equal(picture, plane.T)
    ras = display_plane(plane, np.eye(4))  # right on the image's left, anterior on top
    assert np.array_equal(ras, plane.T[::-1, ::-1])
