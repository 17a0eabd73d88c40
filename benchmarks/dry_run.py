"""Time ``snakemake -n`` (building the whole DAG) on a large NIfTI dataset.

Usage: python benchmarks/dry_run.py [--subjects 1000] [--keep DIR]

Writes a BraTS-2021-named dataset of tiny 4-contrast NIfTI subjects to a temporary folder
(content does not matter: a dry run reads no image), then times a dry run of the default target
with that dataset, twice (the second run finds Snakemake's caches warm). Prints the job count
and seconds per run.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout, uninstalled
from radsynth.io import write_nifti  # noqa: E402

CHANNELS = ("t1", "t1ce", "t2", "flair", "seg")


def make_dataset(root: Path, subjects: int) -> None:
    volume = np.zeros((4, 4, 4), dtype=np.int16)
    for index in range(subjects):
        name = f"BraTS2021_{index:05d}"
        for channel in CHANNELS:
            write_nifti(root / name / f"{name}_{channel}.nii.gz", volume, np.eye(4))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=1000)
    parser.add_argument("--keep", type=Path, default=None, help="write the dataset and run here")
    args = parser.parse_args(argv)

    work = args.keep or Path(tempfile.mkdtemp(prefix="radsynth-dryrun-"))
    root = work / "brats"
    started = time.perf_counter()
    if not root.exists():
        make_dataset(root, args.subjects)
    print(f"dataset: {args.subjects} subjects written in {time.perf_counter() - started:.1f} s ({root})")
    config = work / "config.yaml"
    config.write_text(
        "dataset: {name: brats_dry, kind: nifti, naming: brats2021, root: %s,\n"
        "          channels: [t1, t1ce, t2, flair], label_map: {4: 3}, classes: [1, 2, 3]}\n"
        "preprocess: {size: [128, 128]}\n"
        "segmentation: {channels: [t1, t1ce, t2, flair]}\n" % root
    )
    command = ["snakemake", "-n", "--quiet", "rules", "--snakefile", str(REPO / "workflow" / "Snakefile"),
               "--directory", str(work), "--configfile", str(config), "--cores", "1"]
    for attempt in ("first", "second"):
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode:
            sys.exit(done.stdout + done.stderr)
        total = re.search(r"^total\s+(\d+)", done.stdout, re.M)
        jobs = total.group(1) if total else "?"
        print(f"snakemake -n ({attempt} run): {seconds:.2f} s for {jobs} jobs")


if __name__ == "__main__":
    main()
