"""RegGAN's figures: the noise-level curves, a test slice per method (with the learned vs true
field of R) and the stored misalignment of one subject per level."""

from __future__ import annotations

import os

import numpy as np

from radsynth.report.figures import canvas, radiological, save_figure, show_image


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
    fig, axes = canvas(1, len(panels), 3.2, 2.8)
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
    save_figure(fig, path)


def _quiver(ax, field: np.ndarray, colour: str, step: int) -> None:
    """Arrows of a (2, X, Y) displacement field (pixels) in the radiological display frame."""
    shown = np.stack([radiological(field[0]), radiological(field[1])])
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
    fig, axes = canvas(len(examples), len(titles), 1.9, 2.0)
    for row, (method, ex) in enumerate(examples.items()):
        show_image(axes[row, 0], ex["source"][0])
        show_image(axes[row, 1], ex["target"][0])
        show_image(axes[row, 2], ex["output"][0])
        show_image(axes[row, 3], np.abs(ex["output"][0] - ex["target"][0]) / 2, cmap="magma", vmin=0, vmax=0.5)
        if "field" in ex:
            show_image(axes[row, 4], ex["moved_target"][0])
            show_image(axes[row, 5], ex["registered"][0])
            show_image(axes[row, 6], ex["moved_target"][0])
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
    save_figure(fig, path)


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
    fig, axes = canvas(max(len(levels), 1), len(titles), 2.0, 2.1)
    for row, level in enumerate(levels):
        pair = pairs[level]
        z = pair["source"].shape[2] // 2
        source, target = pair["source"][:, :, z], pair["target"][:, :, z]
        field = np.moveaxis(np.asarray(pair["field"])[:, :, z, :2], -1, 0)  # (2, X, Y)
        show_image(axes[row, 0], source)
        show_image(axes[row, 1], target)
        show_image(axes[row, 2], _checkerboard(source, target))
        magnitude = np.linalg.norm(field, axis=0)
        show_image(axes[row, 3], magnitude, cmap="viridis", vmin=0, vmax=max(float(magnitude.max()), 1e-3))
        _quiver(axes[row, 3], field, "#ffffff", max(2, field.shape[-1] // 12))
        axes[row, 0].set_ylabel(f"level {level}\nmax {magnitude.max():.1f} px", fontsize=8)
    for col, title in enumerate(titles):
        axes[0, col].set_title(title, fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"stored test pair of {subject}, middle slice", fontsize=8)
    save_figure(fig, path)
