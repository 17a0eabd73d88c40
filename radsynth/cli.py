"""``radsynth`` command line: the workflow's steps for use outside Snakemake.

    radsynth run [snakemake options]        run the workflow of this checkout
    radsynth phantom OUT --subjects 4       write phantom subjects as NIfTI
    radsynth sdf LABEL OUT                  DTC signed distance map of a label NIfTI
    radsynth seg-metrics PRED REF           Dice, Jaccard, HD95, ASD of two label NIfTIs
    radsynth verify CONFIG.yaml             check every subject of a dataset, list all problems
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

WORKFLOW = Path(__file__).resolve().parents[1]


def _run(args: argparse.Namespace, extra: list[str]) -> int:
    snakefile = WORKFLOW / "workflow" / "Snakefile"
    if not snakefile.exists():
        sys.exit(f"radsynth run needs a checkout of the workflow; no {snakefile}")
    return subprocess.call([sys.executable, "-m", "snakemake", "-s", str(snakefile), *extra])


def _phantom(args: argparse.Namespace, extra: list[str]) -> int:
    from radsynth.data.phantom import make_subject
    from radsynth.io import write_nifti

    for index in range(args.subjects):
        subject = make_subject(index, args.seed, shape=tuple(args.shape), contrasts=tuple(args.channels))
        folder = Path(args.out) / subject.name
        for channel, image in subject.images.items():
            write_nifti(folder / f"{channel}.nii.gz", image.astype(np.float32), subject.affine)
        for name in ("lesion", "tissue", "mask"):
            target = "label" if name == "lesion" else name
            write_nifti(folder / f"{target}.nii.gz", getattr(subject, name).astype(np.uint8), subject.affine)
        print(folder)
    return 0


def _sdf(args: argparse.Namespace, extra: list[str]) -> int:
    from radsynth.io import read_nifti, write_nifti
    from radsynth.segmentation.sdf import label_sdf

    label, affine = read_nifti(args.label, np.uint8)
    classes = args.classes or sorted(int(c) for c in np.unique(label) if c > 0) or [1]
    write_nifti(args.out, label_sdf(label, classes, slice_axis=args.slice_axis), affine)
    return 0


def _seg_metrics(args: argparse.Namespace, extra: list[str]) -> int:
    from radsynth.io import read_nifti, spacing_of
    from radsynth.segmentation.metrics import segmentation_metrics

    pred, affine = read_nifti(args.pred, np.uint8)
    ref, _ = read_nifti(args.ref, np.uint8)
    classes = args.classes or sorted(int(c) for c in np.unique(ref) if c > 0) or [1]
    rows = segmentation_metrics(pred, ref, spacing_of(affine), classes, convention=args.convention)
    print(json.dumps(rows, indent=2))
    return 0


def _verify(args: argparse.Namespace, extra: list[str]) -> int:
    """nnU-Net-style integrity check of a whole dataset: every problem listed, not the first."""
    import yaml
    from tqdm import tqdm

    from radsynth.data import discover, load_subject
    from radsynth.io import InputError

    dataset = (yaml.safe_load(Path(args.config).read_text()) or {}).get("dataset") or {}
    if dataset.get("kind", "phantom") == "phantom":
        sys.exit(f"{args.config}: dataset.kind is phantom (generated, nothing to verify)")
    dataset = {"channels": ["t1", "t2", "flair"], "classes": [1], **dataset}
    dataset["label_map"] = {str(k): v for k, v in (dataset.get("label_map") or {}).items()}
    try:
        sources = discover(dataset)
    except (InputError, ValueError, KeyError) as err:
        sys.exit(f"{args.config}: {err}")
    problems = []
    for source in tqdm(sources, desc="verify", unit="subject"):
        try:
            load_subject(source, dataset)
        except InputError as err:
            problems.append(f"{source.name}: {err}")
    for problem in problems:
        print(problem)
    print(f"{len(sources) - len(problems)} of {len(sources)} subjects passed")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="radsynth", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("run", help="run the workflow (options go to snakemake)").set_defaults(func=_run)

    phantom = commands.add_parser("phantom", help="write phantom subjects as NIfTI")
    phantom.add_argument("out")
    phantom.add_argument("--subjects", type=int, default=4)
    phantom.add_argument("--seed", type=int, default=0)
    phantom.add_argument("--shape", type=int, nargs=3, default=[128, 128, 64])
    phantom.add_argument("--channels", nargs="+", default=["t1", "t2", "flair"])
    phantom.set_defaults(func=_phantom)

    sdf = commands.add_parser("sdf", help="DTC signed distance map of a label NIfTI")
    sdf.add_argument("label")
    sdf.add_argument("out")
    sdf.add_argument("--classes", type=int, nargs="+")
    sdf.add_argument("--slice-axis", type=int, default=None, help="2D maps per slice along this axis")
    sdf.set_defaults(func=_sdf)

    metrics = commands.add_parser("seg-metrics", help="segmentation metrics of two label NIfTIs")
    metrics.add_argument("pred")
    metrics.add_argument("ref")
    metrics.add_argument("--classes", type=int, nargs="+")
    metrics.add_argument("--convention", choices=["dtc", "monai"], default="dtc")
    metrics.set_defaults(func=_seg_metrics)

    verify = commands.add_parser("verify", help="check every subject of a dataset config")
    verify.add_argument("config", help="a YAML file with a dataset section (as config/experiments/*.yaml)")
    verify.set_defaults(func=_verify)

    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "run":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args.func(args, extra)


if __name__ == "__main__":
    sys.exit(main())
