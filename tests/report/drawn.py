"""Reading a written figure back: the PNG's pixels inside each panel of the figure drawn.

The figure functions build a matplotlib ``Figure`` and save it as a PNG. :func:`recording`
keeps each figure saved, so a test can find where its panels (axes) landed, then look at those
places in the PNG read back from disk: a missing panel, an empty one or one showing the wrong
picture fails there.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import matplotlib.image
import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from radsynth.report.figures import radiological


@contextlib.contextmanager
def recording() -> Iterator[list[Figure]]:
    """Within the block, the figures saved, in order (they are saved as usual)."""
    figures = []
    save = Figure.savefig

    def savefig(self, *args, **kwargs):
        figures.append(self)
        return save(self, *args, **kwargs)

    with mock.patch.object(Figure, "savefig", savefig):
        yield figures


def saved_figure(function, *args, **kwargs) -> Figure:
    """Call a figure function; return the one figure it saved."""
    with recording() as figures:
        function(*args, **kwargs)
    assert len(figures) == 1
    return figures[0]


def read_png(path) -> np.ndarray:
    """(H, W, 3) RGB in [0, 1] of a PNG file (checked to be one)."""
    assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return matplotlib.image.imread(path)[..., :3].astype(np.float64)


def panels(path, figure: Figure) -> list[np.ndarray]:
    """The PNG's pixels inside each visible axes of ``figure``, in the figure's axes order
    (subplots row by row, then added axes such as a colour bar); spines trimmed."""
    pixels = read_png(path)
    height, width = pixels.shape[:2]
    out = []
    for ax in figure.axes:
        if not ax.get_visible():
            continue
        box = ax.get_position()  # after the draw: where the panel really is, aspect applied
        rows = slice(round((1 - box.y1) * height) + 2, round((1 - box.y0) * height) - 2)
        cols = slice(round(box.x0 * width) + 2, round(box.x1 * width) - 2)
        out.append(pixels[rows, cols])
    return out


def shown(panel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The colour at the centre of each cell of an image of ``shape`` drawn over the panel."""
    rows = ((np.arange(shape[0]) + 0.5) * panel.shape[0] / shape[0]).astype(int)
    cols = ((np.arange(shape[1]) + 0.5) * panel.shape[1] / shape[1]).astype(int)
    return panel[rows][:, cols]


def colours(plane: np.ndarray, cmap="gray", vmin: float = -1.0, vmax: float = 1.0) -> np.ndarray:
    """The RGB colours an (X, Y) slice should show in radiological display (``cmap``: a name
    or a ``Colormap``)."""
    values = (np.asarray(radiological(plane), np.float64) - vmin) / (vmax - vmin)
    cmap = colormaps[cmap] if isinstance(cmap, str) else cmap
    return cmap(np.clip(values, 0, 1))[..., :3]


def assert_shows(panel: np.ndarray, plane: np.ndarray, cmap="gray", vmin=-1.0, vmax=1.0, atol=0.02) -> None:
    """The panel shows ``plane`` (radiological display) in ``cmap`` on [vmin, vmax]."""
    expected = colours(plane, cmap, vmin, vmax)
    np.testing.assert_allclose(shown(panel, expected.shape[:2]), expected, atol=atol)


def has_colour(panel: np.ndarray, colour: str | tuple, atol: float = 0.06) -> int:
    """How many pixels of the panel have (about) this colour."""
    from matplotlib.colors import to_rgb

    return int((np.abs(panel - np.array(to_rgb(colour))).max(-1) < atol).sum())


def not_blank(panel: np.ndarray) -> bool:
    """More than a handful of pixels differ from the panel's most common colour."""
    flat = panel.reshape(-1, 3)
    _, counts = np.unique(np.round(flat, 2), axis=0, return_counts=True)
    return flat.shape[0] - counts.max() > 20
