"""Time and peak memory of verifying and preprocessing one large subject, as the rules do.

Usage: python benchmarks/preprocess_subject.py [--subject DIR] [--spacing 1 1 1] [--size 192 192]
       [--register-to t1]

Reads a BraTS-style subject (4 contrasts + segmentation, default the first folder of
../shared/data/brats_like, else a synthetic 240x240x155 subject written to a temporary folder),
then runs the verify and preprocess steps in a fresh process each and prints wall time and the
process's peak resident memory (ru_maxrss).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout, uninstalled
from radsynth.io import write_nifti  # noqa: E402

SHARED = REPO.parent / "shared" / "data" / "brats_like"
PATTERNS = {"t1": "*_t1[._]*nii.gz", "t1c": "*_t1c[._]*nii.gz", "t2": "*_t2[._]*nii.gz", "flair": "*_fla*.nii.gz", "label": "*_seg*.nii.gz"}

STEP = r"""
import json, resource, sys, time
sys.path.insert(0, {repo!r})
started = time.perf_counter()
from radsynth.data import discover, load_subject
from radsynth.preprocess import preprocess_subject
from radsynth.report.data import describe_subject
dataset, options, step = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
source = discover(dataset)[0]
raw = load_subject(source, dataset)
if step == "verify":
    describe_subject(raw, source.name)
else:
    subject = preprocess_subject(raw, **options)
print(json.dumps({{"seconds": time.perf_counter() - started,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def synthetic_subject(root: Path) -> Path:
    rng = np.random.default_rng(0)
    folder = root / "SYNTH_000"
    affine = np.diag([1.0, 1.0, 1.0, 1.0])
    for name in ("t1", "t1c", "t2", "fla"):
        write_nifti(folder / f"SYNTH_000_{name}.nii.gz", rng.integers(0, 1000, (240, 240, 155)).astype(np.int16), affine)
    label = np.zeros((240, 240, 155), np.uint8)
    label[100:140, 100:140, 60:90] = 1
    write_nifti(folder / "SYNTH_000_seg.nii.gz", label, affine)
    return folder


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subject", type=Path, default=None, help="a subject folder")
    parser.add_argument("--spacing", type=float, nargs="+", default=None, help="resample to (mm)")
    parser.add_argument("--size", type=int, nargs="+", default=[192, 192])
    parser.add_argument("--register-to", default=None, help="co-register the other channels to this one")
    args = parser.parse_args(argv)

    folder = args.subject
    if folder is None:
        found = sorted(p for p in SHARED.glob("*") if p.is_dir()) if SHARED.exists() else []
        folder = found[0] if found else synthetic_subject(Path(tempfile.mkdtemp()))
    # A one-subject dataset: the folder's parent with only this subject (limit by name order).
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / folder.name).symlink_to(folder.resolve())
        dataset = {"kind": "nifti", "root": tmp, "channels": ["t1", "t1c", "t2", "flair"], "patterns": PATTERNS,
                   "classes": [1, 2, 3], "label_map": {"4": 3}}
        options = {"spacing": args.spacing, "size": args.size, "foreground": "nonzero", "register_to": args.register_to}
        print(f"subject {folder} ({', '.join(dataset['channels'])} + label)")
        for step in ("verify", "preprocess"):
            done = subprocess.run([sys.executable, "-c", STEP.format(repo=str(REPO)), json.dumps(dataset),
                                   json.dumps(options), step], capture_output=True, text=True)
            if done.returncode:
                sys.exit(done.stderr)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{step:>10}: {result['seconds']:.2f} s, peak memory {result['peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()
