"""Helpers shared by the rules: config (scale preset + schema), paths, subject lists, runs."""

import copy
import os
from pathlib import Path

import pandas as pd
import yaml
from snakemake.utils import validate


def deep_merge(base, override):
    """``override`` on top of ``base``, recursively for dicts (new dict, inputs untouched)."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


# The scale preset sits under the user's config: a key set in config.yaml or --config wins.
_scale = config.get("scale", "quick")
_preset_path = Path(workflow.basedir) / "config" / "scales" / f"{_scale}.yaml"
if not _preset_path.exists():
    raise ValueError(f"config: unknown scale {_scale!r} (no {_preset_path})")
_merged = deep_merge(yaml.safe_load(_preset_path.read_text()) or {}, config)
config.clear()
config.update(_merged)
validate(config, "../schemas/config.schema.yaml")

# Jobs import the radsynth library from this checkout, in whatever environment they run
# (local, --sdm conda, SLURM), so results always come from the workflow's own code.
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        filter(None, [workflow.basedir, os.environ.get("PYTHONPATH")])
    )
)

R = f"{config['results']}/{config['dataset']['name']}"
DATASET = config["dataset"]
TRANSLATION = config["translation"]
SEGMENTATION = config["segmentation"]
LEVELS = config["misalign"]["levels"]
LABEL_FILES = ["label", "mask"]


def log_path(rule, pattern=""):
    return f"{R}/logs/{rule}/{pattern}.log" if pattern else f"{R}/logs/{rule}.log"


def bench_path(rule, pattern=""):
    return (
        f"{R}/benchmarks/{rule}/{pattern}.tsv"
        if pattern
        else f"{R}/benchmarks/{rule}.tsv"
    )


def all_subjects():
    """Subjects of the dataset (the phantom names them phantom_000, phantom_001, ...)."""
    return [f"phantom_{index:03d}" for index in range(DATASET["subjects"])]


def subject_index(subject):
    return int(subject.rsplit("_", 1)[1])


def subjects_of(split):
    """Subjects of one split, read from splits.tsv once the split checkpoint has run."""
    splits = pd.read_csv(checkpoints.split.get().output[0], sep="\t")
    return sorted(splits.loc[splits["split"] == split, "subject"])


def translation_runs():
    return [
        f"{method}_level{level}"
        for method in TRANSLATION["methods"]
        for level in LEVELS
    ]


def segmentation_runs():
    """Runs named method-augmentation-labelled%: the augmentation comparison uses every
    training label; the semi-supervised comparison uses ``labelled_fraction`` of them.
    """
    low = round(100 * SEGMENTATION["labelled_fraction"])
    runs = [
        f"supervised-{augmentation}-100"
        for augmentation in SEGMENTATION["augmentations"]
    ]
    runs += [f"{method}-none-{low}" for method in SEGMENTATION["methods"]]
    return list(dict.fromkeys(runs))


def synthetic_input(wildcards):
    """The synthetic pairs, for the runs that mix them into training."""
    return (
        f"{R}/synthetic/diffusion.npz" if wildcards.augmentation == "diffusion" else []
    )


def final_outputs():
    tables = ["translation", "segmentation", "augmentation"]
    figures = ["phantom", "translation", "synthetic", "losses", "dice"]
    return expand(
        f"{R}/tables/{{table}}.{{ext}}", table=tables, ext=["csv", "md", "tex"]
    ) + expand(f"{R}/figures/{{figure}}.png", figure=figures)
