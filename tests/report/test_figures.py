import numpy as np
import pandas as pd

from radsynth.report.figures import display_plane, loss_figure


def _png(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_loss_figure(tmp_path):
    history = pd.DataFrame({"iteration": [10, 20, 30], "loss": [1.0, 0.5, 0.2], "lr": [1e-3] * 3})
    loss_figure({"a": history, "b": history}, tmp_path / "loss.png")
    _png(tmp_path / "loss.png")


def test_display_plane_shows_pictures_as_drawn_and_volumes_radiologically():
    plane = np.arange(6).reshape(3, 2)  # (X, Y)
    picture = display_plane(plane, np.diag([-1.0, -1.0, 1.0, 1.0]))  # LPS: x = column, y = row
    assert np.array_equal(picture, plane.T)
    ras = display_plane(plane, np.eye(4))  # right on the image's left, anterior on top
    assert np.array_equal(ras, plane.T[::-1, ::-1])
