"""The reconstruction table: per method and acceleration, mean ± std over the test slices of
PSNR, SSIM and NMSE (fastMRI's definitions) and the correlation of the std map with the error."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from radsynth.report.tables import format_table, summarise

METHOD_NAMES = {
    "zero_filled": "Zero-filled",
    "unet": "U-Net (supervised)",
    "mcddpm": "MC-DDPM",
    "diffuserecon": "DiffuseRecon",
}
# metric -> (column title, display scale, decimals)
RECON_METRICS = {
    "psnr": ("PSNR (dB) ↑", 1.0, 2),
    "ssim": ("SSIM (%) ↑", 100.0, 1),
    "nmse": ("NMSE (%) ↓", 100.0, 2),
    "error_std_correlation": ("Error–std r ↑", 1.0, 2),
}


def recon_table(metrics: pd.DataFrame, order: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(summary, table)`` for :func:`radsynth.report.tables.write_table`.

    Args:
        metrics: long-form ``case, method, setting, metric, value`` rows (setting ``<a>x``).
        order: methods in display order (absent ones skipped).

    Returns:
        The per (method, setting, metric) mean, std and n, and the display table (Method,
        Acceleration, PSNR, SSIM, NMSE, error-std correlation, Slices), grouped by acceleration.
    """
    summary = summarise(metrics)
    settings = sorted(set(metrics["setting"]), key=lambda s: int(s.rstrip("x")))
    present = set(metrics["method"])
    rows = [(m, s) for s in settings for m in order if m in present]
    labels = {"Method": [METHOD_NAMES.get(m, m) for m, _ in rows], "Acceleration": [s for _, s in rows]}
    table = format_table(summary, rows, labels, RECON_METRICS)
    psnr = summary[summary["metric"] == "psnr"].set_index(["method", "setting"])["n"]
    table["Slices"] = [int(psnr.get(row, 0)) for row in rows]
    return summary, table
