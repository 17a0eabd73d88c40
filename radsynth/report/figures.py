"""Figures shared by the report of every task family, drawn with matplotlib's Agg canvas (no
display, no pyplot state), and the building blocks of each family's own figures
(``radsynth.<family>.figures``): the canvas, radiological display, label contours, saving.

Each figure function takes arrays or tables and a path, and writes one PNG atomically.
"""

from __future__ import annotations

import os

import nibabel as nib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from radsynth.io import atomic_path

# Overlay colours of tissue classes 1..5 (scalp/skull, CSF, GM, WM, lesion) and of label classes.
_TISSUE_COLOURS = ["#c8a064", "#3c8cff", "#50c850", "#e6e6e6", "#ff3c3c"]
LABEL_COLOURS = ["#ff2020", "#ffd400", "#00e5ff", "#ff00ff", "#7cff00"]


def phantom_figure(cases: list[dict[str, np.ndarray]], names: list[str], path: str | os.PathLike,
                   channels: list[str]) -> None:
    """One row per subject: an axial slice of each channel, then the tissue/label overlay.

    The slice is the one with the most label voxels when the case has a label, else the
    middle one. Slices are shown in radiological orientation: anterior up, the subject's
    right on the viewer's left (arrays are (X, Y, Z) in RAS).

    Args:
        cases: per subject, 3D arrays keyed by channel name, plus "label" (lesion or class
            map) and optionally "tissue" (phantom tissue classes 0..5).
        names: row titles, one per case.
        path: PNG to write.
        channels: channel keys to show, in order.
    """
    ncols = len(channels) + 1
    nrows = max(len(cases), 1)
    fig = Figure(figsize=(2.1 * ncols, 2.2 * nrows))
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for row, (case, name) in enumerate(zip(cases, names)):
        label = case.get("label")
        reference = case[channels[0]] if channels else label
        z = most_labelled_slice(label, reference.shape[2])
        for col, channel in enumerate(channels):
            volume = np.asarray(case[channel], dtype=np.float32)
            # Window from the whole volume, so slices of one subject are comparable.
            lo, hi = np.percentile(volume, [0.5, 99.9])
            axes[row, col].imshow(radiological(volume[:, :, z]), cmap="gray", vmin=lo,
                                  vmax=hi if hi > lo else lo + 1, interpolation="nearest")
            if row == 0:
                axes[row, col].set_title(channel, fontsize=9)
        overlay = axes[row, ncols - 1]
        if channels:
            base = np.asarray(case[channels[0]], dtype=np.float32)
            lo, hi = np.percentile(base, [0.5, 99.9])
            overlay.imshow(radiological(base[:, :, z]), cmap="gray", vmin=lo,
                           vmax=hi if hi > lo else lo + 1, interpolation="nearest")
        if case.get("tissue") is not None:
            tissue = radiological(np.asarray(case["tissue"])[:, :, z]).astype(float)
            tissue[tissue == 0] = np.nan  # background stays transparent
            overlay.imshow(tissue, cmap=ListedColormap(_TISSUE_COLOURS), vmin=0.5, vmax=5.5,
                           alpha=0.45, interpolation="nearest")
        if label is not None:
            slab = radiological(np.asarray(label)[:, :, z])
            for k, value in enumerate(v for v in np.unique(slab) if v > 0):
                # Contours mark the reference label on top of the tissue colours.
                overlay.contour((slab == value).astype(float), levels=[0.5], linewidths=1.0,
                                colors=LABEL_COLOURS[k % len(LABEL_COLOURS)])
        if row == 0:
            overlay.set_title("tissue + label" if "tissue" in case else "label", fontsize=9)
        axes[row, 0].set_ylabel(f"{name}\nz={z}", fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    if cases:
        # Orientation marks on the first panel: the subject's right is on the left.
        axes[0, 0].text(0.02, 0.5, "R", color="yellow", fontsize=7, transform=axes[0, 0].transAxes,
                        va="center")
        axes[0, 0].text(0.5, 0.97, "A", color="yellow", fontsize=7, transform=axes[0, 0].transAxes,
                        ha="center", va="top")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")


def most_labelled_slice(label: np.ndarray | None, depth: int) -> int:
    """The axial slice with the most label voxels, or the middle one when there are none."""
    if label is not None:
        counts = (np.asarray(label) > 0).sum(axis=(0, 1))
        if counts.any():
            return int(np.argmax(counts))
    return depth // 2


def radiological(plane: np.ndarray) -> np.ndarray:
    """An (X, Y) RAS slice as an image: rows anterior to posterior, columns right to left."""
    return np.asarray(plane).T[::-1, ::-1]


def display_plane(plane: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """An (X, Y) slice as an image in radiological convention, whatever the array's axes:
    columns run right to left (or anterior to posterior), rows anterior to posterior (or
    superior to inferior). Pictures (LPS-coded, x = column, y = row) come out as drawn."""
    codes = nib.aff2axcodes(affine)
    image = np.asarray(plane).T
    if codes[0] in "RA":
        image = image[:, ::-1]
    if codes[1] in "AS":
        image = image[::-1]
    return image


def canvas(nrows: int, ncols: int, width: float, height: float):
    """A figure of ``nrows`` x ``ncols`` panels, each ``width`` x ``height`` inches, and its axes (2D array)."""
    fig = Figure(figsize=(width * ncols, height * nrows))
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 120) -> None:
    """Lay the figure out tightly and write it as a PNG, atomically."""
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")


def show_image(ax, plane: np.ndarray, title: str | None = None, cmap: str = "gray", vmin=-1.0, vmax=1.0) -> None:
    """An (X, Y) slice in radiological display, on [-1, 1] unless told otherwise."""
    ax.imshow(radiological(plane), cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    if title:
        ax.set_title(title, fontsize=8)


def draw_contours(ax, label: np.ndarray) -> None:
    """Each foreground class of an (H, W) label map as a contour in its label colour."""
    shown = radiological(label)
    for value in (v for v in np.unique(shown) if v > 0):
        ax.contour((shown == value).astype(float), levels=[0.5], linewidths=0.6,
                   colors=LABEL_COLOURS[(int(value) - 1) % len(LABEL_COLOURS)])


def loss_figure(histories: dict[str, "pd.DataFrame"], path: str | os.PathLike) -> None:
    """One panel per trained model: every logged loss against the iteration (log scale).

    Args:
        histories: model name -> DataFrame with an ``iteration`` column and one column per loss.
        path: PNG to write.
    """
    names = list(histories)
    ncols = min(4, max(1, len(names)))
    nrows = max(1, -(-len(names) // ncols))
    fig, axes = canvas(nrows, ncols, 3.2, 2.4)
    for ax, name in zip(axes.flat, names):
        history = histories[name]
        for column in history.columns.drop(["iteration", "lr"], errors="ignore"):
            values = history[column].to_numpy(dtype=float)
            if np.isfinite(values).any():
                ax.plot(history["iteration"], np.abs(values), label=column, linewidth=1.0)
        ax.set_yscale("log")
        ax.set_title(name, fontsize=8)
        ax.set_xlabel("iteration", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.legend(fontsize=5, loc="upper right")
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    save_figure(fig, path)
