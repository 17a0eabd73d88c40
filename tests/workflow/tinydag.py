"""Helpers of the workflow tests: run Snakemake on the repository's workflow, make test data."""

import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SNAKEFILE = REPO / "workflow" / "Snakefile"


def make_picture_pairs(root, count: int) -> None:
    """BUSI-like grey PNG pairs ("benign (i).png" / "malignant (i).png", masks 0/255)."""
    from skimage.io import imsave

    rng = np.random.default_rng(0)
    for folder in ("images", "masks"):
        (root / folder).mkdir(parents=True)
    for i in range(count):
        name = f"{'benign' if i % 2 else 'malignant'} ({i + 1}).png"
        image = rng.integers(0, 255, (70 + i, 90), dtype=np.uint8)
        mask = np.zeros(image.shape, np.uint8)
        mask[20:40, 30:60] = 255
        imsave(root / "images" / name, image, check_contrast=False)
        imsave(root / "masks" / name, mask, check_contrast=False)


def snakemake(workdir, *args, timeout=1800):
    command = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--directory", str(workdir)]
    return subprocess.run(
        command + list(args), capture_output=True, text=True, timeout=timeout, cwd=workdir
    )
