"""Helpers shared by the rules: config (scale preset + schema), paths, subject lists, runs."""

import copy
import os
import sys
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


# The checkout: workflow/Snakefile sits one level below it.
REPO = Path(workflow.basedir).parent

# The scale preset sits under the user's config: a key set in config.yaml or --config wins.
_scale = config.get("scale", "quick")
_preset_path = REPO / "config" / "scales" / f"{_scale}.yaml"
if not _preset_path.exists():
    raise ValueError(f"config: unknown scale {_scale!r} (no {_preset_path})")
_merged = deep_merge(yaml.safe_load(_preset_path.read_text()) or {}, config)


def string_label_keys(dataset):
    """YAML reads `255: 1` with an integer key; JSON Schema (and JSON sidecars) need strings."""
    if isinstance(dataset, dict):
        dataset["label_map"] = {
            str(key): value for key, value in (dataset.get("label_map") or {}).items()
        }


# The task's dataset and every pool dataset (the schema checks the rest of their shape).
string_label_keys(_merged.get("dataset"))
_pool = ((_merged.get("diffusion") or {}).get("pretrain") or {}).get("pool") or []
for _entry in _pool:
    string_label_keys(_entry.get("dataset") if isinstance(_entry, dict) else None)
config.clear()
config.update(_merged)
validate(config, "../schemas/config.schema.yaml")

# Jobs import the radsynth library from this checkout, in whatever environment they run
# (local, --sdm conda, SLURM), so results always come from the workflow's own code.
os.environ.update(
    PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
)

sys.path.insert(0, str(REPO))
from radsynth.data import discover  # noqa: E402 (needs the path above)
from radsynth.split import subjects_in  # noqa: E402
from radsynth.synthesis import GENERATORS  # noqa: E402
from radsynth.synthesis.pool import pool_channels  # noqa: E402
from radsynth.synthesis.prompts import check_terms  # noqa: E402

R = f"{config['results']}/{config['dataset']['name']}"
DATASET = config["dataset"]
if DATASET["kind"] == "phantom":
    DATASET["root"] = f"{R}/raw"  # the phantom rule writes its subjects there
TRANSLATION = config["translation"]
SEGMENTATION = config["segmentation"]
AUGMENTATION = config["augmentation"]
DIFFUSION = config["diffusion"]
POOL = {entry["dataset"]["name"]: entry for entry in DIFFUSION["pretrain"]["pool"]}
LEVELS = config["misalign"]["levels"]
LABEL_FILES = ["label", "mask"]
# Report categories, one per stage, numbered so the report lists them in workflow order.
STAGES = {
    "data": "1. Data",
    "misalignment": "2. Misalignment",
    "sdf": "3. SDF",
    "translation": "4. Translation",
    "synthesis": "5. Synthesis",
    "augmentation": "6. Augmentation",
    "segmentation": "7. Segmentation",
    "performance": "8. Performance",
}


def check_channels():
    """Every channel a stage uses is one the dataset has."""
    used = {
        "translation.source": [TRANSLATION["source"]],
        "translation.target": [TRANSLATION["target"]],
        "segmentation.channels": SEGMENTATION["channels"],
        "preprocess.register_to": [config["preprocess"].get("register_to")],
    }
    if not TRANSLATION["methods"]:
        used.pop("translation.source"), used.pop("translation.target")
    for key, names in used.items():
        unknown = [n for n in names if n is not None and n not in DATASET["channels"]]
        if unknown:
            raise ValueError(
                f"config: {key} names {unknown}, not among dataset.channels {DATASET['channels']}"
            )


check_channels()
check_terms(DATASET["prompt"])
if (
    TRANSLATION["spatial_dims"] == 3
    and len(config["preprocess"].get("size") or []) != 3
):
    raise ValueError(
        "config: translation.spatial_dims 3 trains on whole volumes, which need one shape: "
        "set preprocess.size to three values (X, Y, Z)"
    )
if sorted(DATASET["classes"]) != list(range(1, len(DATASET["classes"]) + 1)):
    raise ValueError(
        f"config: dataset.classes {DATASET['classes']} must be 1..K; map other label values "
        "with dataset.label_map (BraTS: {4: 3})"
    )
# Subjects come from the folder layout (no image is read here), so the DAG is built fast;
# a broken subject fails its own verify job, not the whole workflow.
SOURCES = {source.subject: source for source in discover(DATASET)}


def log_path(rule, pattern=""):
    return f"{R}/logs/{rule}/{pattern}.log" if pattern else f"{R}/logs/{rule}.log"


def bench_path(rule, pattern=""):
    return (
        f"{R}/benchmarks/{rule}/{pattern}.tsv"
        if pattern
        else f"{R}/benchmarks/{rule}.tsv"
    )


def resume_path(rule, pattern=""):
    """Where a training job keeps its resumable state: not an output, so a failed job keeps it."""
    return f"{R}/resume/{rule}/{pattern}.pt" if pattern else f"{R}/resume/{rule}.pt"


def all_subjects():
    """Subject identifiers of the dataset, sorted."""
    return list(SOURCES)


def subject_index(subject):
    return int(subject.rsplit("_", 1)[1])


def source_files(wildcards):
    """The user's files of one subject (rule inputs, so edits trigger a re-run)."""
    return list(SOURCES[wildcards.subject].files)


def split_inputs():
    """Files the split depends on: case lists and a stratification table, if any."""
    split = config["split"]
    files = list((split.get("lists") or {}).values())
    if (split.get("stratify") or {}).get("table"):
        files.append(split["stratify"]["table"])
    return files


def subjects_of(split):
    """Subjects of one split (train/val/test, or cv<f>_train / cv<f>_test of the comparison's
    folds), read from splits.tsv once the split checkpoint has run."""
    return subjects_in(pd.read_csv(checkpoints.split.get().output[0], sep="\t"), split)


def nnunet_dir(synthetic=False):
    number = config["export"]["nnunet_id"] + int(synthetic)
    suffix = "Synthetic" if synthetic else ""
    return f"{R}/nnunet/Dataset{number:03d}_{DATASET['name']}{suffix}"


def mode_level():
    """The misalignment level of the mode table."""
    level = TRANSLATION["mode_level"]
    return max(LEVELS) if level is None else level


def translation_runs():
    """Runs named method_setting: every method at every level (noise table), every mode at
    the mode level (mode table) and the unpaired runs; none when translation is off."""
    if not TRANSLATION["methods"]:
        return []
    runs = [f"{m}_level{level}" for m in TRANSLATION["methods"] for level in LEVELS]
    runs += [f"{m}_level{mode_level()}" for m in TRANSLATION["modes"]]
    runs += [f"{m}_unpaired" for m in TRANSLATION["unpaired"]]
    return list(dict.fromkeys(runs))


def aligned(split):
    """Packed aligned images of a split as translation uses them: slices, or volumes in 3D."""
    if TRANSLATION["spatial_dims"] == 3:
        return f"{R}/packed/volumes/{split}.npz"
    return f"{R}/packed/{split}.npz"


def translation_pairs(wildcards):
    """Training data of a run: the stored misaligned pairs of its level, or the aligned
    images when pairs are redrawn per batch or the run is unpaired."""
    if wildcards.setting == "unpaired" or config["misalign"]["redraw"]:
        return aligned("train")
    return f"{R}/packed/{wildcards.setting}/train.npz"


def translation_validation(wildcards):
    """The aligned val images that select a run's iteration (none when selection is off)."""
    if not TRANSLATION["validate_every"] or not subjects_of("val"):
        return []
    return aligned("val")


def misaligned_test(wildcards):
    """The misaligned test pairs whose true fields measure R (none for unpaired runs)."""
    if wildcards.setting == "unpaired":
        return []
    return f"{R}/packed/{wildcards.setting}/test.npz"


def labelled_token(amount):
    """Run-name token of a labelled amount: ``n8`` for 8 subjects, ``25`` for 25 %."""
    if isinstance(amount, int):
        return f"n{amount}"
    if not 0 < amount <= 1:
        raise ValueError(
            f"config: segmentation.labelled {amount} is neither a count nor a fraction in (0, 1]"
        )
    return str(round(100 * amount))


def segmentation_seeds():
    return SEGMENTATION["seeds"] or [config["seed"]]


def segmentation_runs():
    """Runs named method-augmentation-labelled-s<seed> of the semi-supervised (DTC) table:
    each method at each ``labelled`` amount, and supervised with every label (the bound).
    """
    runs = ["supervised-none-100"]
    runs += [
        f"{method}-none-{labelled_token(amount)}"
        for method in SEGMENTATION["methods"]
        for amount in SEGMENTATION["labelled"]
    ]
    seeds = segmentation_seeds()
    return [f"{run}-s{seed}" for run in dict.fromkeys(runs) for seed in seeds]


def segmentation_train():
    """Packed training data of the segmenters: slices, or volumes in 3D."""
    if SEGMENTATION["spatial_dims"] == 3:
        return f"{R}/packed/volumes/train.npz"
    return f"{R}/packed/train.npz"


def cv_folds():
    """Folds of the augmentation comparison (none when it is off)."""
    if not AUGMENTATION["methods"] or not AUGMENTATION["folds"]:
        return []
    return list(range(AUGMENTATION["folds"]))


def generators():
    """The generators the augmentation comparison uses."""
    return [g for g in GENERATORS if g in AUGMENTATION["methods"]]


def augmentation_runs():
    """cv<fold>/<method> of the comparison; ``none`` always, as the real-data segmenter that
    scores the generators' structure consistency."""
    methods = list(dict.fromkeys(["none", *AUGMENTATION["methods"]]))
    return [f"cv{fold}/{method}" for fold in cv_folds() for method in methods]


def synthetic_input(wildcards):
    """The synthetic pairs of the fold's training subjects, for generator augmentations."""
    if wildcards.method in GENERATORS:
        return f"{R}/synthetic/cv{wildcards.fold}_train/{wildcards.method}.npz"
    return []


def autoencoder_input(wildcards):
    """The latent autoencoder, when diffusion runs in latent space: the pool's when there is
    one (like a pretrained VAE, shared by every fold), else each training set's own."""
    if not DIFFUSION["latent"]:
        return []
    pack = "pool" if POOL else wildcards.pack
    return f"{R}/models/synthesis/{pack}/autoencoder.pt"


def pretrained_input(wildcards):
    """What the text-conditioned UNet is fine-tuned from: the model pretrained on the pool,
    or a local checkpoint (diffusion.pretrained), or nothing (trained from scratch)."""
    if POOL:
        return f"{R}/models/synthesis/pool/diffusion.pt"
    return DIFFUSION["pretrained"] or []


def pretrained_splits(wildcards):
    """The split, when a local checkpoint (diffusion.pretrained) is fine-tuned: the job refuses
    one trained on a subject that some fold tests on. The pool's model is not checked by
    subject name (other datasets may share names): pool_slices refuses task files."""
    if not POOL and DIFFUSION["pretrained"]:
        return f"{R}/splits.tsv"
    return []


def pool_files(wildcards):
    """The source files of one pool dataset (rule inputs, so edits trigger a re-run)."""
    return [
        f for source in discover(POOL[wildcards.name]["dataset"]) for f in source.files
    ]


def check_pool():
    """Pool datasets have unique names other than the task's and fit its channels."""
    if DATASET["name"] in POOL or len(POOL) != len(DIFFUSION["pretrain"]["pool"]):
        raise ValueError(
            "config: diffusion.pretrain.pool datasets need unique names, not the task's"
        )
    for name, entry in POOL.items():
        if entry["dataset"]["kind"] == "phantom":
            raise ValueError(
                f"config: pool dataset {name}: a pool reads files (any kind but phantom)"
            )
        pool_channels(
            entry["dataset"]["channels"],
            entry["channels"],
            len(SEGMENTATION["channels"]),
        )
        check_terms(entry["dataset"]["prompt"])


check_pool()


def export_generator():
    """The generator whose pairs go into the synthetic nnU-Net export (EMIT-Diff's first)."""
    return "controlnet" if "controlnet" in generators() else generators()[0]


def subject_names():
    """Subject -> dataset name (prompts take the pathology from the name)."""
    return {subject: source.name for subject, source in SOURCES.items()}


def translation_tables():
    """The RegGAN tables this config makes: noise levels, modes, unpaired."""
    tables = ["translation"]
    if TRANSLATION["modes"]:
        tables.append("translation_modes")
    if TRANSLATION["unpaired"]:
        tables.append("translation_unpaired")
    return tables


def generator_losses():
    """Loss logs of the first fold's generators (a list either way)."""
    if not cv_folds():
        return []
    models = [g if g != "controlnet" else "diffusion" for g in generators()]
    models += ["controlnet"] if "controlnet" in generators() else []
    return [f"{R}/models/synthesis/cv0_train/{m}.loss.tsv" for m in models]


def sdf_examples(wildcards):
    """Labels and SDF maps of the training subjects for the report's SDF figure (which
    shows the most labelled ones): the maps the segmenters regress, 2D or 3D."""
    subjects = subjects_of("train")
    folder = "sdf3d" if SEGMENTATION["spatial_dims"] == 3 else "sdf"
    return {
        "labels": expand(
            f"{R}/preprocessed/{{subject}}/label.nii.gz", subject=subjects
        ),
        "sdf": expand(f"{R}/{folder}/{{subject}}.nii.gz", subject=subjects),
    }


def final_outputs():
    """Tables, figures and the data report of the stages this config runs."""
    tables = ["segmentation"]
    figures = ["data", "sdf", "losses", "dice"]
    if DATASET["kind"] == "phantom":
        figures.append("phantom")
    if TRANSLATION["methods"]:
        tables += translation_tables()
        figures += ["misalignment", "translation", "noise_curve"]
    if cv_folds():
        tables.append("augmentation")
    if cv_folds() and generators():
        tables.append("synthesis")
        figures.append("synthetic")
    outputs = expand(
        f"{R}/tables/{{table}}.{{ext}}", table=tables, ext=["csv", "md", "tex"]
    )
    outputs += expand(f"{R}/figures/{{figure}}.png", figure=figures)
    outputs.append(f"{R}/data/subjects.tsv")
    if config["export"]["nnunet"]:
        outputs.append(nnunet_dir())
        if generators():
            outputs.append(nnunet_dir(synthetic=True))
    outputs += [f"{R}/tables/benchmarks.csv", f"{R}/figures/benchmarks.png"]
    return outputs


# The jobs of the default target, listed from the config and the split like the rules'
# inputs list them: benchmark_table reads exactly their benchmark files (never a glob, which
# would pick up files of jobs that are no longer part of the workflow). Keep in step with
# final_outputs() and the rules' input functions; the tiny-DAG test compares these lists
# with the jobs of Snakemake's own DAG.


def translation_levels():
    """Misalignment levels of the translation runs (their settings level<L>)."""
    return sorted(
        {
            int(run.rsplit("_level", 1)[1])
            for run in translation_runs()
            if "_level" in run
        }
    )


def aligned_splits():
    """Splits whose aligned images translation reads (aligned()), none when it is off."""
    if not TRANSLATION["methods"]:
        return []
    splits = ["test"]
    if TRANSLATION["unpaired"] or config["misalign"]["redraw"]:
        splits.append("train")
    if TRANSLATION["validate_every"] and subjects_of("val"):
        splits.append("val")
    return splits


def generator_models():
    """(pack, generator) of every generator trained: each fold's training set for the
    augmentation comparison, the train split for the synthetic nnU-Net export."""
    models = [(f"cv{fold}_train", g) for fold in cv_folds() for g in generators()]
    if config["export"]["nnunet"] and generators():
        models.append(("train", export_generator()))
    return models


def packed_splits():
    """Splits packed as slices (rule pack) and as volumes (rule pack_volumes)."""
    packs = {"slices": [], "volumes": []}
    volumetric = {2: "slices", 3: "volumes"}
    packs[volumetric[SEGMENTATION["spatial_dims"]]].append("train")
    packs[volumetric[TRANSLATION["spatial_dims"]]].extend(aligned_splits())
    slices, volumes = packs["slices"], packs["volumes"]
    slices += [f"cv{fold}_train" for fold in cv_folds()]
    slices += [pack for pack, _ in generator_models()]
    return list(dict.fromkeys(slices)), list(dict.fromkeys(volumes))


def subjects_of_splits(splits):
    return sorted({subject for split in splits for subject in subjects_of(split)})


def job_patterns():
    """Rule -> benchmark patterns of its jobs in the default target (benchmark_table aside)."""
    phantom = DATASET["kind"] == "phantom"
    slices, volumes = packed_splits()
    pair_splits = ["test"] if config["misalign"]["redraw"] else ["train", "test"]
    levels = translation_levels()
    translation = bool(TRANSLATION["methods"])
    models = generator_models()
    diffusion_packs = [pack for pack, g in models if g == "controlnet"]
    latent = bool(DIFFUSION["latent"]) and bool(diffusion_packs)
    folds = cv_folds()
    jobs = {
        "phantom": all_subjects() if phantom else [],
        "verify": all_subjects(),
        "preprocess": all_subjects(),
        "data_report": [""],
        "phantom_figure": [""] if phantom else [],
        "split": [""],
        "pack": slices,
        "pack_volumes": volumes,
        "sdf": subjects_of_splits(slices),
        "sdf_volume": subjects_of_splits(volumes),
        "sdf_figure": [""],
        "misalign": [
            f"{subject}_level{level}"
            for subject in subjects_of_splits(pair_splits)
            for level in levels
        ],
        "pack_pairs": [f"level{level}_{s}" for level in levels for s in pair_splits],
        "misalign_figure": [""] if translation else [],
        "train_translation": translation_runs(),
        "evaluate_translation": translation_runs(),
        "translation_tables": [""] if translation else [],
        "noise_curve": [""] if translation else [],
        "translation_figure": [""] if translation else [],
        "pool_slices": list(POOL) if POOL and diffusion_packs else [],
        "train_pool_autoencoder": [""] if latent and POOL else [],
        "pretrain_diffusion": [""] if POOL and diffusion_packs else [],
        "train_autoencoder": diffusion_packs if latent and not POOL else [],
        "train_diffusion": diffusion_packs,
        "train_controlnet": diffusion_packs,
        "train_ddpm": [pack for pack, g in models if g == "ddpm"],
        "train_gan": [pack for pack, g in models if g == "gan"],
        "synthesize": [f"{pack}/{g}" for pack, g in models],
        "train_augmented": augmentation_runs(),
        "evaluate_augmented": augmentation_runs(),
        "synthesis_metrics": [f"cv{fold}/{g}" for fold in folds for g in generators()],
        "augmentation_tables": [""] if folds else [],
        "synthetic_figure": [""] if folds and generators() else [],
        "train_segmentation": segmentation_runs(),
        "evaluate_segmentation": segmentation_runs(),
        "segmentation_tables": [""],
        "dice_figure": [""],
        "loss_figure": [""],
        "export_nnunet": [""] if config["export"]["nnunet"] else [],
        "export_nnunet_synthetic": (
            [""] if config["export"]["nnunet"] and generators() else []
        ),
    }
    return {name: patterns for name, patterns in jobs.items() if patterns}


def benchmark_files(wildcards):
    """Rule -> benchmark files of its jobs (an input function: the split decides some)."""
    # One rule writes its benchmark under another rule's folder.
    folder = {"train_pool_autoencoder": ("train_autoencoder", "pool")}
    return {
        name: [bench_path(*folder.get(name, (name, pattern))) for pattern in patterns]
        for name, patterns in job_patterns().items()
    }
