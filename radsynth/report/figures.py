"""Figures for the report, drawn with matplotlib's Agg canvas (no display, no pyplot state).

Each function takes arrays or tables and a path, and writes one PNG atomically.
"""

from __future__ import annotations

import os
import textwrap

import nibabel as nib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from radsynth.io import atomic_path

# Overlay colours of tissue classes 1..5 (scalp/skull, CSF, GM, WM, lesion) and of label classes.
_TISSUE_COLOURS = ["#c8a064", "#3c8cff", "#50c850", "#e6e6e6", "#ff3c3c"]
_LABEL_COLOURS = ["#ff2020", "#ffd400", "#00e5ff", "#ff00ff", "#7cff00"]


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
        z = _slice_index(label, reference.shape[2])
        for col, channel in enumerate(channels):
            volume = np.asarray(case[channel], dtype=np.float32)
            # Window from the whole volume, so slices of one subject are comparable.
            lo, hi = np.percentile(volume, [0.5, 99.9])
            axes[row, col].imshow(_radiological(volume[:, :, z]), cmap="gray", vmin=lo,
                                  vmax=hi if hi > lo else lo + 1, interpolation="nearest")
            if row == 0:
                axes[row, col].set_title(channel, fontsize=9)
        overlay = axes[row, ncols - 1]
        if channels:
            base = np.asarray(case[channels[0]], dtype=np.float32)
            lo, hi = np.percentile(base, [0.5, 99.9])
            overlay.imshow(_radiological(base[:, :, z]), cmap="gray", vmin=lo,
                           vmax=hi if hi > lo else lo + 1, interpolation="nearest")
        if case.get("tissue") is not None:
            tissue = _radiological(np.asarray(case["tissue"])[:, :, z]).astype(float)
            tissue[tissue == 0] = np.nan  # background stays transparent
            overlay.imshow(tissue, cmap=ListedColormap(_TISSUE_COLOURS), vmin=0.5, vmax=5.5,
                           alpha=0.45, interpolation="nearest")
        if label is not None:
            slab = _radiological(np.asarray(label)[:, :, z])
            for k, value in enumerate(v for v in np.unique(slab) if v > 0):
                # Contours mark the reference label on top of the tissue colours.
                overlay.contour((slab == value).astype(float), levels=[0.5], linewidths=1.0,
                                colors=_LABEL_COLOURS[k % len(_LABEL_COLOURS)])
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


def _slice_index(label: np.ndarray | None, depth: int) -> int:
    """The axial slice with the most label voxels, or the middle one when there are none."""
    if label is not None:
        counts = (np.asarray(label) > 0).sum(axis=(0, 1))
        if counts.any():
            return int(np.argmax(counts))
    return depth // 2


def _radiological(plane: np.ndarray) -> np.ndarray:
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


def _canvas(nrows: int, ncols: int, width: float, height: float):
    fig = Figure(figsize=(width * ncols, height * nrows))
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def _save(fig: Figure, path: str | os.PathLike, dpi: int = 120) -> None:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")


def loss_figure(histories: dict[str, "pd.DataFrame"], path: str | os.PathLike) -> None:
    """One panel per trained model: every logged loss against the iteration (log scale).

    Args:
        histories: model name -> DataFrame with an ``iteration`` column and one column per loss.
        path: PNG to write.
    """
    names = list(histories)
    ncols = min(4, max(1, len(names)))
    nrows = max(1, -(-len(names) // ncols))
    fig, axes = _canvas(nrows, ncols, 3.2, 2.4)
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
    _save(fig, path)


def dice_figure(metrics: "pd.DataFrame", path: str | os.PathLike, metric: str = "dice") -> None:
    """Box plot (with the individual cases) of a per-case metric for each segmentation run.

    Args:
        metrics: long-form ``case, method, setting, metric, value`` rows.
        path: PNG to write.
        metric: which metric to plot.
    """
    rows = metrics[metrics["metric"] == metric]
    runs = list(dict.fromkeys(rows["method"] + "-" + rows["setting"].astype(str)))
    values = [rows.loc[(rows["method"] + "-" + rows["setting"].astype(str)) == run, "value"] for run in runs]
    fig, axes = _canvas(1, 1, max(4.0, 1.1 * len(runs)), 3.6)
    ax = axes[0, 0]
    ax.boxplot([v.to_numpy(dtype=float) for v in values], showfliers=False)
    for position, value in enumerate(values, start=1):
        jitter = np.linspace(-0.12, 0.12, len(value)) if len(value) > 1 else np.zeros(1)
        ax.scatter(position + jitter, value, s=10, alpha=0.7, color="#1f77b4", zorder=3)
    ax.set_xticks(range(1, len(runs) + 1), runs, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel(f"{metric} per test subject")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(axis="y", alpha=0.3)
    _save(fig, path)


def noise_curve_figure(metrics: "pd.DataFrame", path: str | os.PathLike, names: dict[str, str] | None = None) -> None:
    """RegGAN's noise-level curves: MAE, PSNR and SSIM (mean ± std over test slices) against
    the misalignment level of the training pairs, one line per method.

    Args:
        metrics: long-form translation metrics with settings ``level<L>``.
        path: PNG to write.
        names: method -> display name.
    """
    rows = metrics[metrics["setting"].astype(str).str.fullmatch(r"level\d+")].copy()
    rows["level"] = rows["setting"].str.removeprefix("level").astype(int)
    panels = [m for m in ("mae", "psnr", "ssim") if m in set(rows["metric"])]
    fig, axes = _canvas(1, len(panels), 3.2, 2.8)
    for ax, metric in zip(axes[0], panels):
        stats = rows[rows["metric"] == metric].groupby(["method", "level"])["value"].agg(["mean", "std"])
        for method in dict.fromkeys(rows["method"]):
            if method in stats.index.get_level_values(0):
                curve = stats.loc[method].sort_index()
                label = (names or {}).get(method, method)
                ax.errorbar(curve.index, curve["mean"], yerr=curve["std"], marker="o", capsize=2, label=label)
        ax.set_xlabel("misalignment level of the training pairs")
        ax.set_title(metric.upper(), fontsize=9)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    _save(fig, path)


def _image(ax, plane: np.ndarray, title: str | None = None, cmap: str = "gray", vmin=-1.0, vmax=1.0) -> None:
    ax.imshow(_radiological(plane), cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    if title:
        ax.set_title(title, fontsize=8)


def _quiver(ax, field: np.ndarray, colour: str, step: int) -> None:
    """Arrows of a (2, X, Y) displacement field (pixels) in the radiological display frame."""
    shown = np.stack([_radiological(field[0]), _radiological(field[1])])
    rows, cols = np.mgrid[0 : shown.shape[1] : step, 0 : shown.shape[2] : step]
    # Display columns run along -X (channel 0) and rows along -Y (channel 1); imshow's y axis
    # points down, so both components change sign on screen.
    ax.quiver(cols, rows, -shown[0][::step, ::step], -shown[1][::step, ::step], color=colour,
              angles="xy", scale_units="xy", scale=1.0, width=0.006)


def translation_figure(examples: dict[str, dict[str, np.ndarray]], path: str | os.PathLike, level: int) -> None:
    """One row per method: source, target and output on an aligned test slice; for methods
    with a registration network, the misaligned test pair, the registered output and the
    learned (red) vs true (green) displacement field.

    Args:
        examples: method name -> arrays saved by ``evaluate_translation`` (slice 0 is shown).
        path: PNG to write.
        level: the misalignment level the models were trained at (for the title).
    """
    titles = ["source", "target", "output", "|output - target|", "moved target", "registered output",
              "field: R (red), truth (green)"]
    fig, axes = _canvas(len(examples), len(titles), 1.9, 2.0)
    for row, (method, ex) in enumerate(examples.items()):
        _image(axes[row, 0], ex["source"][0])
        _image(axes[row, 1], ex["target"][0])
        _image(axes[row, 2], ex["output"][0])
        _image(axes[row, 3], np.abs(ex["output"][0] - ex["target"][0]) / 2, cmap="magma", vmin=0, vmax=0.5)
        if "field" in ex:
            _image(axes[row, 4], ex["moved_target"][0])
            _image(axes[row, 5], ex["registered"][0])
            _image(axes[row, 6], ex["moved_target"][0])
            step = max(2, ex["field"].shape[-1] // 12)
            _quiver(axes[row, 6], ex["true_field"][0], "#40ff40", step)
            _quiver(axes[row, 6], ex["field"][0], "#ff3030", step)
        else:
            for col in (4, 5, 6):
                axes[row, col].text(0.5, 0.5, "no registration\nnetwork", ha="center", va="center",
                                    fontsize=7, transform=axes[row, col].transAxes)
        axes[row, 0].set_ylabel(method, fontsize=9)
    for col, title in enumerate(titles):
        axes[0, col].set_title(title, fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"trained at misalignment level {level}; test slice {examples[next(iter(examples))]['case'][0]}",
                 fontsize=8)
    _save(fig, path)


def _contours(ax, label: np.ndarray) -> None:
    """Each foreground class of an (H, W) label map as a contour in its label colour."""
    shown = _radiological(label)
    for value in (v for v in np.unique(shown) if v > 0):
        ax.contour((shown == value).astype(float), levels=[0.5], linewidths=0.6,
                   colors=_LABEL_COLOURS[(int(value) - 1) % len(_LABEL_COLOURS)])


def generator_figure(
    real: np.ndarray,
    labels: np.ndarray,
    samples: dict[str, dict[str, np.ndarray]],
    channels: list[str],
    path: str | os.PathLike,
    prompts: dict[str, str] | None = None,
) -> None:
    """Each generator's samples beside the real slice whose mask conditioned them.

    One row per source slice: the real image (first channel), its mask over it, then each
    generator's K samples (first channel) with the contours of the sample's own label (for an
    unconditional generator such as the DDPM, the mask it drew with the image).

    Args:
        real: (N, C, H, W) real slices in [-1, 1].
        labels: (N, H, W) their masks.
        samples: generator -> ``image`` (N, K, C, H, W) in [-1, 1] and ``label`` (N, K, H, W).
        channels: channel names (C,); the first is shown.
        path: PNG to write.
        prompts: generator -> text prompt, printed under that generator's first column title.
    """
    columns = [(None, 0), (None, 1)] + [(g, k) for g, s in samples.items() for k in range(s["image"].shape[1])]
    fig, axes = _canvas(len(real), len(columns), 1.6, 1.7)
    for row in range(len(real)):
        _image(axes[row, 0], real[row, 0])
        _image(axes[row, 1], real[row, 0])
        mask = _radiological(labels[row]).astype(float)
        mask[mask == 0] = np.nan  # background stays transparent
        axes[row, 1].imshow(mask, cmap=ListedColormap(_LABEL_COLOURS), vmin=0.5, vmax=len(_LABEL_COLOURS) + 0.5,
                            alpha=0.45, interpolation="nearest")
        for col, (generator, k) in enumerate(columns[2:], start=2):
            _image(axes[row, col], samples[generator]["image"][row, k, 0])
            _contours(axes[row, col], samples[generator]["label"][row, k])
    titles = [f"real {channels[0]}", "real mask"] + [f"{g} {k + 1}" for g, k in columns[2:]]
    for col, ((generator, k), title) in enumerate(zip(columns, titles)):
        prompt = (prompts or {}).get(generator) if k == 0 else None
        # Prompts are long: wrapped, in small type, under the generator's first column only.
        axes[0, col].set_title(title + ("\n" + textwrap.fill(prompt, 28) if prompt else ""), fontsize=6)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    _save(fig, path)


def _checkerboard(a: np.ndarray, b: np.ndarray, tiles: int = 4) -> np.ndarray:
    """``a`` and ``b`` (same shape, 2D) in alternating square tiles: edges that jump at tile
    borders show a misalignment whatever the two contrasts."""
    rows, cols = np.indices(a.shape)
    size = max(1, max(a.shape) // (2 * tiles))
    return np.where((rows // size + cols // size) % 2 == 0, a, b)


def misalignment_figure(pairs: dict[int, dict[str, np.ndarray]], path: str | os.PathLike, subject: str,
                        names: tuple[str, str] = ("source", "target")) -> None:
    """One row per misalignment level of one subject's stored pair: the source, the moved
    target, both as a checkerboard, and the true displacement (magnitude in pixels, arrows of
    the in-plane components).

    Args:
        pairs: level -> ``source`` and ``target`` (X, Y, Z) volumes in [-1, 1] and ``field``
            (X, Y, Z, C) as written by the misalign rule (C = 2 per slice, 3 per volume).
        path: PNG to write.
        subject: named in the title.
        names: channel names of source and target, for the column titles.
    """
    titles = [names[0], f"{names[1]} (moved)", "checkerboard", "|displacement| (px)"]
    levels = sorted(pairs)
    fig, axes = _canvas(max(len(levels), 1), len(titles), 2.0, 2.1)
    for row, level in enumerate(levels):
        pair = pairs[level]
        z = pair["source"].shape[2] // 2
        source, target = pair["source"][:, :, z], pair["target"][:, :, z]
        field = np.moveaxis(np.asarray(pair["field"])[:, :, z, :2], -1, 0)  # (2, X, Y)
        _image(axes[row, 0], source)
        _image(axes[row, 1], target)
        _image(axes[row, 2], _checkerboard(source, target))
        magnitude = np.linalg.norm(field, axis=0)
        _image(axes[row, 3], magnitude, cmap="viridis", vmin=0, vmax=max(float(magnitude.max()), 1e-3))
        _quiver(axes[row, 3], field, "#ffffff", max(2, field.shape[-1] // 12))
        axes[row, 0].set_ylabel(f"level {level}\nmax {magnitude.max():.1f} px", fontsize=8)
    for col, title in enumerate(titles):
        axes[0, col].set_title(title, fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"stored test pair of {subject}, middle slice", fontsize=8)
    _save(fig, path)


def sdf_figure(labels: list[np.ndarray], maps: list[np.ndarray], names: list[str], classes: list[int],
               path: str | os.PathLike) -> None:
    """One row per subject: the label on its most labelled slice, then each class's signed
    distance map on that slice (negative inside, zero on the boundary, positive outside) with
    the class boundary drawn over it.

    Args:
        labels: (X, Y, Z) label maps.
        maps: (X, Y, Z, K) SDF maps in [-1, 1], one channel per class of ``classes``.
        names: row titles, one per subject.
        classes: the class value of each SDF channel.
        path: PNG to write.
    """
    fig, axes = _canvas(max(len(labels), 1), len(classes) + 1, 2.0, 2.1)
    for row, (label, sdf, name) in enumerate(zip(labels, maps, names)):
        z = _slice_index(label, label.shape[2])
        plane = label[:, :, z]
        axes[row, 0].imshow(_radiological(plane), cmap=ListedColormap(["black", *_LABEL_COLOURS]),
                            vmin=-0.5, vmax=len(_LABEL_COLOURS) + 0.5, interpolation="nearest")
        axes[row, 0].set_ylabel(f"{name}\nslice {z}", fontsize=8)
        for k, value in enumerate(classes):
            ax = axes[row, k + 1]
            image = ax.imshow(_radiological(sdf[:, :, z, k]), cmap="RdBu_r", vmin=-1, vmax=1,
                              interpolation="nearest")
            if (plane == value).any():
                _contours(ax, (plane == value).astype(np.uint8) * int(value))
    axes[0, 0].set_title("label", fontsize=8)
    for k, value in enumerate(classes):
        axes[0, k + 1].set_title(f"SDF of class {value}", fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout(rect=(0, 0, 0.84, 1))
    if labels and classes:
        colorbar = fig.colorbar(image, cax=fig.add_axes((0.86, 0.2, 0.02, 0.6)))
        colorbar.ax.tick_params(labelsize=6)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
