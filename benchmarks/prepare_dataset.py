"""Time ``snakemake prepare`` (checks, preprocessing, split, SDFs, packed train/test, data report)
for each dataset adapter on generated data of the public sets' real size, and print subjects/s.

Usage: python benchmarks/prepare_dataset.py [--adapter busi la lgg] [--cores 2] [--keep DIR]

The datasets are written to a temporary folder in the layout and at the size of the full public
sets (content is procedural: a textured field of view with a lesion, so every check and every
preprocessing step has real work to do):

- busi: 647 breast-ultrasound PNG pairs (image_pairs), grey pictures of 450-600 x 500-650
  pixels, masks 0/255, 17 of them with a second mask ``<name>_mask_1.png`` as in the release;
- la: 100 Left Atrium h5 volumes (h5, DTC's layout), 148-244 x 132-160 x 88 float32;
- lgg: 110 LGG patients (multichannel_slices), 3,929 256 x 256 RGB TIF slices with masks.

Each is prepared with its preset (config/experiments/busi.yaml, la2018_h5.yaml,
lgg_slices.yaml; lists and pools dropped) from a clean results folder, then, for the NIfTI
adapter, ``benchmarks/dry_run.py`` builds the DAG of 1,000 subjects. Prints one line per adapter.
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
import yaml

REPO = Path(__file__).resolve().parents[1]


def _field(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """A smooth textured field of view and a round lesion inside it: (image in 0..1, mask)."""
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij"))
    centre = rng.uniform(-0.4, 0.4, len(shape)).reshape((-1,) + (1,) * len(shape))
    lesion = ((grid - centre) ** 2).sum(0) < rng.uniform(0.05, 0.2) ** 2
    image = 0.5 + 0.2 * np.sin(3 * grid[0] + rng.uniform(0, 6)) * np.cos(2 * grid[1]) + 0.05 * rng.random(shape)
    image[lesion] *= 0.4
    return image.astype(np.float32), lesion


def make_busi(root: Path, rng: np.random.Generator, count: int = 647, second_masks: int = 17) -> None:
    from skimage.io import imsave

    for folder in ("images", "masks"):
        (root / folder).mkdir(parents=True)
    for i in range(count):
        name = f"{('benign', 'malignant', 'normal')[i % 3]} ({i + 1})"
        image, lesion = _field(rng, (int(rng.integers(450, 600)), int(rng.integers(500, 650))))
        imsave(root / "images" / f"{name}.png", (255 * image).astype(np.uint8), check_contrast=False)
        imsave(root / "masks" / f"{name}.png", (255 * lesion).astype(np.uint8), check_contrast=False)
        if i < second_masks:  # the release's images with two lesions
            imsave(root / "masks" / f"{name}_1.png", np.zeros_like(lesion, np.uint8), check_contrast=False)


def make_la(root: Path, rng: np.random.Generator, count: int = 100) -> None:
    import h5py

    for i in range(count):
        shape = (int(rng.integers(148, 245)), int(rng.integers(132, 161)), 88)
        image, lesion = _field(rng, shape)
        (root / f"CASE{i:03d}").mkdir(parents=True)
        with h5py.File(root / f"CASE{i:03d}" / "mri_norm2.h5", "w") as file:
            file["image"] = (image - image.mean()) / image.std()
            file["label"] = lesion.astype(np.uint8)
    (root / "cases.list").write_text("".join(f"CASE{i:03d}\n" for i in range(count)))


def make_lgg(root: Path, rng: np.random.Generator, patients: int = 110, slices: int = 3929) -> None:
    import tifffile

    counts = np.full(patients, slices // patients)
    counts[: slices % patients] += 1
    for p, count in enumerate(counts):
        patient = f"TCGA_XX_{p:04d}_19990101"
        (root / patient).mkdir(parents=True)
        for s in range(1, count + 1):
            planes = [_field(rng, (256, 256)) for _ in range(3)]
            image = np.stack([(255 * plane).astype(np.uint8) for plane, _ in planes], axis=-1)
            tifffile.imwrite(root / patient / f"{patient}_{s}.tif", image)
            tifffile.imwrite(root / patient / f"{patient}_{s}_mask.tif", (255 * planes[0][1]).astype(np.uint8))


ADAPTERS = {"busi": ("busi", make_busi), "la": ("la2018_h5", make_la), "lgg": ("lgg_slices", make_lgg)}


def prepare(adapter: str, folder: Path, cores: int) -> tuple[int, float, int]:
    """Generate one dataset, prepare it; (subjects, seconds, jobs)."""
    preset, make = ADAPTERS[adapter]
    make(folder / "data", np.random.default_rng(0))
    config = yaml.safe_load((REPO / "config" / "experiments" / f"{preset}.yaml").read_text())
    config["dataset"]["root"] = str(folder / "data")
    config.get("split", {}).pop("lists", None)
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "Snakefile"), "prepare",
               "--cores", str(cores), "--configfile", str(folder / "config.yaml"), "--directory", str(folder)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{adapter}: prepare failed\n{done.stderr[-3000:]}")
    steps = re.findall(r"\d+ of (\d+) steps", done.stderr)
    jobs = int(steps[-1]) if steps else -1
    subjects = len(list((folder / "results").glob("*/preprocessed/*/")))
    return subjects, seconds, jobs


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", nargs="+", choices=sorted(ADAPTERS), default=sorted(ADAPTERS))
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="generate and keep the datasets here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        for adapter in args.adapter:
            subjects, seconds, jobs = prepare(adapter, base / adapter, args.cores)
            print(f"{adapter:5s} {subjects:4d} subjects prepared in {seconds:6.1f} s with {jobs} jobs "
                  f"({subjects / seconds:.2f} subjects/s, --cores {args.cores})", flush=True)
    dry = subprocess.run([sys.executable, str(REPO / "benchmarks" / "dry_run.py"), "--subjects", "1000"],
                         capture_output=True, text=True)
    print(dry.stdout.strip() or dry.stderr[-2000:])


if __name__ == "__main__":
    main()
