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


def check_fold_structure_scores(run, synthetic_of=None) -> None:
    """Every mask a fold's structure score is computed on is a training mask of that fold,
    never one of its test subjects: the synthetic pairs that ``metrics/synthesis/cv<f>/*.csv``
    scores (by their provenance: source subject of each scored row, and the file its sidecar
    hashed), its real rows, and the held-out masks of ``tables/structure_curve.csv``, which
    no generator of the fold trained on. Raises AssertionError naming what is wrong.

    Args:
        run: ``results/<dataset>`` of a finished run.
        synthetic_of: (fold, generator) -> the synthetic pairs to check (default: the fold's own).
    """
    import json

    import pandas as pd

    from radsynth.io import file_hash
    from radsynth.split import subjects_in

    folds = pd.read_csv(run / "cv_folds.tsv", sep="\t", dtype={"subject": str})
    curve = pd.read_csv(run / "tables" / "structure_curve.csv", dtype={"heldout_subjects": str})
    synthetic_of = synthetic_of or (lambda fold, generator: run / "synthetic" / f"cv{fold}_train" / f"{generator}.npz")
    for fold in sorted(folds["cv_fold"].unique()):
        training, test = set(subjects_in(folds, f"cv{fold}_train")), set(subjects_in(folds, f"cv{fold}_test"))
        with np.load(run / "packed" / f"cv{fold}_train.npz") as pack:
            masked = pack["subject"][pack["label"].reshape(len(pack["label"]), -1).any(axis=1)].astype(str)
        for path in sorted((run / "metrics" / "synthesis" / f"cv{fold}").glob("*.csv")):
            generator, scores = path.stem, pd.read_csv(path, dtype={"case": str})
            synthetic = synthetic_of(fold, generator)
            hashed = json.loads(path.with_name(path.name + ".provenance.json").read_text())["data_hash"]
            used = [key for key in hashed if key.endswith(f"synthetic/cv{fold}_train/{generator}.npz")]
            assert used and all(hashed[key] == file_hash(synthetic) for key in used), f"cv{fold} {generator}: scored other pairs"
            with np.load(synthetic) as pairs:
                rows = scores[(scores["method"] == generator) & (scores["metric"] == "structure_dice")]
                sources = {str(s) for s in pairs["subject"][rows["case"].astype(int)] if s}
            assert sources <= training and not sources & test, f"cv{fold} {generator}: masks of {sorted(sources - training)}"
            real = scores[(scores["method"] == "real") & (scores["metric"] == "structure_dice")]
            assert len(real) == len(masked) and set(masked) <= training, f"cv{fold}: real rows"
        fold_curve = curve[curve["fold"] == fold]
        held = {s for cell in fold_curve["heldout_subjects"].dropna() for s in cell.split(";")}
        assert held and held <= training and not held & test, f"cv{fold}: curve masks of {sorted(held - training)}"
        for generator in set(fold_curve["generator"]) - {"real"}:
            sidecar = json.loads((run / "models" / "synthesis" / f"cv{fold}_train" / f"{generator}.json").read_text())
            seen = set(sidecar["training_subjects"])
            assert not seen & test, f"cv{fold} {generator}: trained on test subjects {sorted(seen & test)}"
            if (fold_curve["heldout_by"] == "subject").all():  # every slice of them kept from training
                assert not seen & held, f"cv{fold} {generator}: trained on the curve's masks"
