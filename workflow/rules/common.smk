"""Helpers shared by the rules: config (scale preset + schema), paths, subject lists, runs."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# The checkout: workflow/Snakefile sits one level below it.
REPO = Path(workflow.basedir).parent
# Jobs import the radsynth library from this checkout, in whatever environment they run
# (local, --sdm conda, SLURM), so results always come from the workflow's own code.
os.environ.update(
    PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
)
sys.path.insert(0, str(REPO))
from radsynth.batch import batches  # noqa: E402 (needs the path above)
from radsynth.data import discover  # noqa: E402
from radsynth.scales import apply_limits, deep_merge  # noqa: E402
from radsynth.split import subjects_in  # noqa: E402
from radsynth.synthesis import GENERATORS  # noqa: E402
from radsynth.synthesis.pool import pool_channels  # noqa: E402
from radsynth.synthesis.prompts import check_terms  # noqa: E402
from radsynth.warm import SOCKET_ENV, usage_path  # noqa: E402

# The scale preset sits under the user's config: a key set in config.yaml or --config wins,
# within the preset's limits (tiny: sizes and schedules bounded whatever the config says).
_scale = config.get("scale", "quick")
_preset_path = REPO / "config" / "scales" / f"{_scale}.yaml"
if not _preset_path.exists():
    raise ValueError(f"config: unknown scale {_scale!r} (no {_preset_path})")
_preset = yaml.safe_load(_preset_path.read_text()) or {}
_limits = _preset.pop("limits", {})
_merged = deep_merge(_preset, config)


def string_label_keys(dataset):
    """YAML reads `255: 1` with an integer key; JSON Schema (and JSON sidecars) need strings."""
    if isinstance(dataset, dict):
        dataset["label_map"] = {
            str(key): value for key, value in (dataset.get("label_map") or {}).items()
        }


# The task's dataset and every pool dataset (the schema checks the rest of their shape).
string_label_keys(_merged.setdefault("dataset", {}))
_pool = ((_merged.get("diffusion") or {}).get("pretrain") or {}).get("pool") or []
for _entry in _pool:
    string_label_keys(_entry.get("dataset") if isinstance(_entry, dict) else None)
validate(_merged, "../schemas/config.schema.yaml")
_merged, _limited = apply_limits(_merged, _limits)
if _limited:
    print(f"radsynth: scale {_scale} limits {'; '.join(_limited)}", file=sys.stderr)
config.clear()
config.update(_merged)

R = f"{config['results']}/{config['dataset']['name']}"
DATASET = config["dataset"]
# What only the phantom's generator reads: the scale presets set some of them, so on a real
# dataset they would change the preprocessing jobs' params with the scale; they are dropped.
PHANTOM_KEYS = ("subjects", "shape", "fov_mm", "lesion_probability", "noise", "bias")
if DATASET["kind"] == "phantom":
    DATASET["root"] = f"{R}/raw"  # the phantom rule writes its subjects there
else:
    for _key in PHANTOM_KEYS:
        DATASET.pop(_key, None)
LABELLED = DATASET["labels"]  # a dataset without labels runs the stages that need none
TRANSLATION = config["translation"]
SEGMENTATION = config["segmentation"]
AUGMENTATION = config["augmentation"]
DIFFUSION = config["diffusion"]
ANOMALY = config["anomaly"]
RECON = config["recon"]
TEMPORAL = config["temporal"]


# A per-subject batch job's pool: at most half the cores (up to 4), so that it never waits for
# every core while a training started beside it holds one (on 2 cores: 1 thread; the quick
# demo's first 3 minutes once ran one training alone while preprocessing waited for 2 cores).
def batch_threads():
    try:
        cores = workflow.cores
    except WorkflowError:  # a cluster run sets no total
        cores = 8
    return max(1, min(4, cores // 2))


BATCH_THREADS = batch_threads()
# Job priorities (Snakemake starts the highest ready job first), for runs on a few cores:
# - data: the data stages everything waits on (priority does not pass to a job's inputs: the
#   generators once waited 4 minutes for their packed slices behind long jobs);
# - generator, synthesis, comparison: the longest chain, generator -> samples -> the
#   comparison's segmenters -> its tables, started first so that it never runs alone at the end;
# - long: long jobs that nothing else waits on, started before the short ones, which fill the
#   cores at the end (the rest: priority 0).
PRIORITY = {"data": 50, "generator": 20, "synthesis": 15, "comparison": 10, "long": 5}
WARM_WORKER = {}  # the running warm worker's process and folder (start_warm_worker)
POOL = {entry["dataset"]["name"]: entry for entry in DIFFUSION["pretrain"]["pool"]}
LEVELS = config["misalign"]["levels"]
# Report categories, one per stage, numbered (two digits: the report sorts them as text) so the
# report lists them in workflow order.
STAGES = {
    "data": "01. Data",
    "misalignment": "02. Misalignment",
    "sdf": "03. SDF",
    "translation": "04. Translation",
    "synthesis": "05. Synthesis",
    "augmentation": "06. Augmentation",
    "segmentation": "07. Segmentation",
    "anomaly": "08. Anomaly detection",
    "recon": "09. Reconstruction",
    "temporal": "10. Temporal generation",
    "performance": "11. Performance",
}


def check_channels():
    """Every channel a stage uses is one the dataset has."""
    used = {
        "translation.source": [TRANSLATION["source"]],
        "translation.target": [TRANSLATION["target"]],
        "segmentation.channels": SEGMENTATION["channels"],
        "preprocess.register_to": [config["preprocess"].get("register_to")],
        "anomaly.channels": ANOMALY["channels"] or [],
        "recon.channel": (
            [RECON["channel"]]
            if RECON["methods"] and RECON["channel"] and not RECON["fastmri"]
            else []
        ),
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
if "classifier_free" in ANOMALY["methods"] and not ANOMALY["ddpm"]["label_dropout"]:
    raise ValueError(
        "config: anomaly.methods lists classifier_free, whose guidance needs the DDPM's "
        "unconditional prediction: set anomaly.ddpm.label_dropout above 0 (e.g. 0.1)"
    )
if not LABELLED:
    print(
        "radsynth: dataset.labels is false - SDFs, segmentation, the generators, the "
        "augmentation comparison and the nnU-Net export need labels and are left out",
        file=sys.stderr,
    )
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
# a broken subject is recorded by its preprocess batch job, not the whole workflow.
SOURCES = {source.subject: source for source in discover(DATASET)}
# The per-subject stages run in batches of subjects, one job each (radsynth.batch); a
# subject's batch depends only on its name and the number of batches.
BATCHES = batches(SOURCES, config["batch_size"])
BATCH_OF = {subject: batch for batch, members in BATCHES.items() for subject in members}


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


def warn_failed_subjects():
    """After a run: name the subjects whose checks failed (the data report has the reasons)."""
    failed = []
    for batch in BATCHES:
        path = Path(f"{R}/records/preprocess/{batch}.json")
        if path.exists():
            failed += [
                r
                for r in json.loads(path.read_text())["subjects"]
                if r["status"] != "ok"
            ]
    if failed:
        names = ", ".join(r["subject"] for r in failed[:10]) + (
            ", ..." if len(failed) > 10 else ""
        )
        print(
            f"radsynth: {len(failed)} subjects failed their checks and were left out ({names}); "
            f"see {R}/data/subjects.tsv (status, file, reason)",
            file=sys.stderr,
        )


def start_warm_worker():
    """Local runs: start the warm worker (radsynth.warm) that the jobs' scripts fork from."""
    if not (config["warm_worker"] and workflow.local_exec and workflow.is_main_process):
        return
    # mkdtemp's folder is private (0700): only this user reaches the socket.
    folder = tempfile.mkdtemp(prefix="radsynth-warm-")
    path = os.path.join(folder, "socket")
    WARM_WORKER["process"] = subprocess.Popen(
        [sys.executable, "-m", "radsynth.warm", path, str(os.getpid())],
        start_new_session=True,  # Ctrl-C reaches the jobs through their own processes
    )
    WARM_WORKER["folder"] = folder
    os.environ[SOCKET_ENV] = path  # the jobs Snakemake starts from here on inherit it


def stop_warm_worker():
    process = WARM_WORKER.pop("process", None)
    if process is not None:
        process.terminate()
        process.wait()
        shutil.rmtree(WARM_WORKER.pop("folder"), ignore_errors=True)
        os.environ.pop(SOCKET_ENV, None)


def reading_config():
    """The dataset config as the jobs that read the subjects' files need it."""
    return {key: value for key, value in DATASET.items() if key not in PHANTOM_KEYS}


def source_files(wildcards):
    """The user's files of one batch's subjects (rule inputs, so edits trigger a re-run);
    for the phantom, the record of the job that generated them."""
    if DATASET["kind"] == "phantom":
        return f"{R}/records/phantom/{wildcards.batch}.json"
    return [f for subject in BATCHES[wildcards.batch] for f in SOURCES[subject].files]


def records(stage, subjects, level=None):
    """The batch records of a per-subject stage that cover ``subjects``: a job that reads
    those subjects' files takes these as inputs (the files themselves are written by the
    batch job, a subject folder at a time, and tracked through its record).

    Args:
        stage: ``phantom``, ``preprocess``, ``sdf``, ``sdf3d`` or ``misalign``.
        subjects: subject identifiers.
        level: the misalignment level (``misalign`` only).
    """
    folder = (
        f"{R}/records/{stage}" if level is None else f"{R}/records/{stage}/level{level}"
    )
    return [
        f"{folder}/{batch}.json" for batch in sorted({BATCH_OF[s] for s in subjects})
    ]


def subject_dirs(subjects, folder="preprocessed"):
    """Per-subject folders under results, in the order of ``subjects``."""
    return [f"{R}/{folder}/{subject}" for subject in subjects]


def segmentation_test(split, method, setting, slices=False):
    """What a segmentation job scores its model on, after training it: keyword arguments of
    ``radsynth.segmentation.scoring.score_segmenter``.

    Args:
        split: ``test``, or ``cv<f>_test`` of the augmentation comparison.
        method, setting: the metric rows' method and setting columns.
        slices: a 2D slice segmenter of the comparison, scored slice by slice on whole volumes.
    """
    task = None if split.startswith("cv") else "segmentation"
    return {
        "subject_dirs": subject_dirs(subjects_of(split, task)),
        "method": method,
        "setting": setting,
        "channels": SEGMENTATION["channels"],
        "classes": DATASET["classes"],
        "spatial_dims": 2 if slices else SEGMENTATION["spatial_dims"],
        "patch_size": None if slices else SEGMENTATION["patch_size"],
        "stride": None if slices else SEGMENTATION["stride"],
        "lcc": False if slices else SEGMENTATION["lcc"],
        "evaluation": SEGMENTATION["evaluation"],
    }


def split_inputs():
    """Files the split depends on: case lists and a stratification table, if any."""
    split = config["split"]
    files = list((split.get("lists") or {}).values())
    if (split.get("stratify") or {}).get("table"):
        files.append(split["stratify"]["table"])
    return files


def subjects_of(split, task=None):
    """Subjects of one split (train/val/test, read from splits.tsv once the split
    checkpoint has run), or cv<f>_train / cv<f>_test of the comparison's folds (cv_folds.tsv,
    the augmentation stage's own checkpoint, so the data stages never depend on the folds).
    With a task (translation, segmentation), without the subjects excluded from it.
    """
    if split.startswith("cv"):
        folds = checkpoints.comparison_folds.get().output[0]
        return subjects_in(pd.read_csv(folds, sep="\t"), split)
    splits = pd.read_csv(
        checkpoints.split.get().output[0], sep="\t", keep_default_na=False
    )
    return subjects_in(splits, split, task)


def pack_subjects(split):
    """The subjects packed as a split's slices or volumes: the segmentation task's when the
    dataset has labels (segmenters, generators and the comparison read the packs), else the
    translation task's."""
    return subjects_of(split, "segmentation" if LABELLED else "translation")


def task_channels():
    """The channels each task of this config reads (for dropping subjects with copies)."""
    tasks = {}
    if TRANSLATION["methods"]:
        tasks["translation"] = [TRANSLATION["source"], TRANSLATION["target"]]
    if LABELLED:
        tasks["segmentation"] = list(SEGMENTATION["channels"])
    return tasks


def split_table(wildcards):
    """The table that defines a pack's subjects: cv_folds.tsv for a comparison fold's
    training set, splits.tsv otherwise."""
    if wildcards.pack.startswith("cv"):
        return f"{R}/cv_folds.tsv"
    return f"{R}/splits.tsv"


def nnunet_dir(synthetic=False):
    number = config["export"]["nnunet_id"] + int(synthetic)
    suffix = "Synthetic" if synthetic else ""
    return f"{R}/nnunet/Dataset{number:03d}_{DATASET['name']}{suffix}"


def mode_level():
    """The misalignment level of the mode table."""
    level = TRANSLATION["mode_level"]
    return max(LEVELS) if level is None else level


def figure_methods():
    """The translation figure's rows: the noise table's methods at the highest level, then the
    mode table's when that is their level (the quick scale's NC+R is a mode only)."""
    modes = TRANSLATION["modes"] if mode_level() == max(LEVELS) else []
    return list(dict.fromkeys(TRANSLATION["methods"] + modes))


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
    if not LABELLED:
        return []
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
    """Folds of the augmentation comparison (none when it is off or there are no labels)."""
    if not LABELLED or not AUGMENTATION["methods"] or not AUGMENTATION["folds"]:
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


def controlnet_base(wildcards):
    """The base UNet a training set's ControlNet steers: its own, fine-tuned, or with
    diffusion.finetune_base false the pool's, locked (EMIT-Diff)."""
    if DIFFUSION["finetune_base"]:
        return f"{R}/models/synthesis/{wildcards.pack}/diffusion.pt"
    return f"{R}/models/synthesis/pool/diffusion.pt"


def ddpm_init(wildcards):
    """What a training set's joint DDPM starts from: the DDPM pretrained on the pool, or nothing."""
    if DIFFUSION["pretrain"]["ddpm"]["iterations"]:
        return f"{R}/models/synthesis/pool/ddpm.pt"
    return []


def controlnet_init(wildcards):
    """What a training set's ControlNet starts from: the pool's ControlNet (EMIT-Diff) or nothing."""
    if DIFFUSION["controlnet"]["init"] == "pool":
        return f"{R}/models/synthesis/pool/controlnet.pt"
    return []


def pretrained_splits(wildcards):
    """The split, when a local checkpoint (diffusion.pretrained) is fine-tuned: the job refuses
    one trained on a subject that some fold tests on. The pool's model is not checked by
    subject name (other datasets may share names): pool_slices refuses task files."""
    if not POOL and DIFFUSION["pretrained"]:
        return [f"{R}/splits.tsv"] + ([f"{R}/cv_folds.tsv"] if cv_folds() else [])
    return []


def pool_files(wildcards):
    """The source files of one pool dataset (rule inputs, so edits trigger a re-run)."""
    dataset = POOL[wildcards.name]["dataset"]
    if dataset["kind"] == "phantom":  # rendered by the job itself from its seed
        return []
    return [f for source in discover(dataset) for f in source.files]


def check_pool():
    """Pool datasets have unique names other than the task's and fit its channels."""
    if DATASET["name"] in POOL or len(POOL) != len(DIFFUSION["pretrain"]["pool"]):
        raise ValueError(
            "config: diffusion.pretrain.pool datasets need unique names, not the task's"
        )
    for name, entry in POOL.items():
        if entry["dataset"]["kind"] == "phantom" and entry.get("seed") in (
            None,
            config["seed"],
        ):
            raise ValueError(
                f"config: pool dataset {name}: a phantom pool needs a seed of its own (not the "
                f"run's seed {config['seed']}, which renders the task's subjects)"
            )
        pool_channels(
            entry["dataset"]["channels"],
            entry["channels"],
            len(SEGMENTATION["channels"]),
        )
        check_terms(entry["dataset"]["prompt"])
    official = (
        not DIFFUSION["finetune_base"] or DIFFUSION["controlnet"]["init"] == "pool"
    )
    if official and not POOL:
        raise ValueError(
            "config: diffusion.finetune_base false and diffusion.controlnet.init pool (EMIT-Diff's "
            "transfer) need a pool to pretrain on: set diffusion.pretrain.pool"
        )
    if DIFFUSION["pretrain"]["ddpm"]["iterations"] and not POOL:
        raise ValueError(
            "config: diffusion.pretrain.ddpm.iterations needs a pool to pretrain on: set "
            "diffusion.pretrain.pool"
        )


check_pool()


def curve_on():
    """Whether the generators of the comparison are followed by a structure curve."""
    return bool(cv_folds() and generators() and config["synthesis"]["curve_every"] > 0)


def curve_settings(wildcards):
    """What a training set's generators hold out for the structure curve, and how often they
    save their weights: only a fold's training set (cv<f>_train), only with a curve."""
    curve = config["synthesis"]
    if curve_on() and wildcards.pack.startswith("cv"):
        return {
            "every": curve["curve_every"],
            "subjects": curve["curve_subjects"],
            "masks": curve["curve_masks"],
        }
    return {"every": 0, "subjects": 0, "masks": 0}


def curve_runs():
    """[fold, generator] of each generator the structure curve samples, in input order."""
    return (
        [[fold, g] for fold in cv_folds() for g in generators()] if curve_on() else []
    )


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
    logs = [f"{R}/models/synthesis/cv0_train/{m}.loss.tsv" for m in models]
    if not DIFFUSION["finetune_base"]:  # the folds steer the pool's base
        base = f"{R}/models/synthesis/cv0_train/diffusion.loss.tsv"
        logs = [
            log.replace("cv0_train", "pool") if log == base else log for log in logs
        ]
    return logs


def sdf_folder():
    """The SDF maps the segmenters regress: per slice (2D) or per volume (3D)."""
    return "sdf3d" if SEGMENTATION["spatial_dims"] == 3 else "sdf"


def sdf_examples(wildcards):
    """Records of the training subjects' labels and SDF maps, for the report's SDF figure
    (which shows the most labelled ones)."""
    subjects = pack_subjects("train")
    return {
        "prepared": records("preprocess", subjects),
        "sdf": records(sdf_folder(), subjects),
    }


def anomaly_on():
    """Whether the anomaly stage runs: methods listed, and labels to score them with."""
    return bool(ANOMALY["methods"]) and LABELLED


def anomaly_channels():
    """Channels of the anomaly models (anomaly.channels, else the segmentation's)."""
    return ANOMALY["channels"] or SEGMENTATION["channels"]


def anomaly_models(wildcards):
    """The trained models the listed anomaly methods use."""
    methods = set(ANOMALY["methods"])
    models = {"ddpm": bool(methods - {"autoencoder"})}
    models["classifier"] = "guided" in methods
    models["autoencoder"] = "autoencoder" in methods
    return {m: f"{R}/models/anomaly/{m}.pt" for m, used in models.items() if used}


def anomaly_detection():
    """The anomaly keys the detect job reads (the models' own keys retrain only them)."""
    keys = ("methods", "ddim_steps", "noise_levels", "scales", "weights", "batch_size")
    return {key: ANOMALY[key] for key in keys}


def anomaly_val(wildcards):
    """The val slices that choose L and the scale (none without val subjects: the job then
    takes the first value of each list)."""
    return f"{R}/packed/val.npz" if subjects_of("val") else []


def recon_on():
    """Whether the reconstruction stage runs (recon.methods listed)."""
    return bool(RECON["methods"])


def recon_channel():
    """The channel whose k-space is simulated (recon.channel, else the segmentation's first)."""
    return RECON["channel"] or SEGMENTATION["channels"][0]


def recon_split(split):
    """The files a reconstruction job reads for a split: the packed slices, or the fastMRI
    files of singlecoil_train (train) and singlecoil_val (test)."""
    if not RECON["fastmri"]:
        return f"{R}/packed/{split}.npz"
    folder = (
        Path(RECON["fastmri"])
        / {"train": "singlecoil_train", "test": "singlecoil_val"}[split]
    )
    files = sorted(str(p) for p in folder.glob("*.h5"))
    if not files:
        raise ValueError(f"config: recon.fastmri - {folder} holds no .h5 file")
    return files


def recon_models(wildcards):
    """The trained networks the listed reconstruction methods use."""
    return {
        m: f"{R}/models/recon/{m}.pt" for m in RECON["methods"] if m != "zero_filled"
    }


def recon_sampling():
    """The sampling keys of the reconstruct job (training keys retrain only the models)."""
    keys = {
        "mcddpm": ("train_timesteps", "steps", "samples", "variance", "clip_image"),
        "diffuserecon": (
            "train_timesteps",
            "steps",
            "samples",
            "variance",
            "refine_chain",
            "refine_steps",
        ),
    }
    return {
        m: {k: RECON[m][k] for k in ks}
        for m, ks in keys.items()
        if m in RECON["methods"]
    }


def temporal_on():
    """Whether the temporal stage runs (temporal.methods listed)."""
    return bool(TEMPORAL["methods"])


def temporal_models(wildcards):
    """The trained networks the listed temporal methods use."""
    return {
        m: f"{R}/models/temporal/{m}.pt" for m in TEMPORAL["methods"] if m != "linear"
    }


def final_outputs():
    """Tables, figures and the data report of the stages this config runs."""
    tables = ["segmentation"] if LABELLED else []
    figures = ["data", "sdf", "losses", "dice"] if LABELLED else ["data"]
    if DATASET["kind"] == "phantom":
        figures.append("phantom")
    if TRANSLATION["methods"]:
        tables += translation_tables()
        figures += ["misalignment", "translation", "noise_curve"]
        figures += [] if LABELLED else ["losses"]
    if cv_folds():
        tables.append("augmentation")
    if cv_folds() and generators():
        tables.append("synthesis")
        figures.append("synthetic")
    if curve_on():
        figures.append("structure_curve")
    if anomaly_on():
        tables.append("anomaly")
        figures += ["anomaly", "anomaly_sweep"]
    if recon_on():
        tables.append("recon")
        figures.append("recon")
    if temporal_on():
        tables.append("temporal")
        figures.append("temporal")
    outputs = expand(
        f"{R}/tables/{{table}}.{{ext}}", table=tables, ext=["csv", "md", "tex"]
    )
    outputs += expand(f"{R}/figures/{{figure}}.png", figure=figures)
    if temporal_on():
        outputs.append(f"{R}/figures/temporal_cycle.gif")
    outputs.append(f"{R}/data/subjects.tsv")
    if config["export"]["nnunet"] and LABELLED:
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
    if config["export"]["nnunet"] and LABELLED and generators():
        models.append(("train", export_generator()))
    return models


def packed_splits():
    """Splits packed as slices (rule pack) and as volumes (rule pack_volumes)."""
    packs = {"slices": [], "volumes": []}
    volumetric = {2: "slices", 3: "volumes"}
    if LABELLED:
        packs[volumetric[SEGMENTATION["spatial_dims"]]].append("train")
    packs[volumetric[TRANSLATION["spatial_dims"]]].extend(aligned_splits())
    slices, volumes = packs["slices"], packs["volumes"]
    slices += [f"cv{fold}_train" for fold in cv_folds()]
    slices += [pack for pack, _ in generator_models()]
    if anomaly_on():
        slices += ["train", "val", "test"] if subjects_of("val") else ["train", "test"]
    if recon_on() and not RECON["fastmri"]:
        slices += ["train", "test"]
    return list(dict.fromkeys(slices)), list(dict.fromkeys(volumes))


def subjects_of_splits(splits, task=None):
    return sorted({s for split in splits for s in subjects_of(split, task)})


def batches_of(subjects):
    """The batches holding these subjects, sorted."""
    return sorted({BATCH_OF[subject] for subject in subjects})


def job_patterns():
    """Rule -> benchmark patterns of its jobs in the default target (benchmark_table aside)."""
    phantom = DATASET["kind"] == "phantom"
    slices, volumes = packed_splits()
    pair_splits = ["test"] if config["misalign"]["redraw"] else ["train", "test"]
    levels = translation_levels()
    translation = bool(TRANSLATION["methods"])
    models = generator_models()
    diffusion_packs = [pack for pack, g in models if g == "controlnet"]
    pool_ddpm = bool(DIFFUSION["pretrain"]["ddpm"]["iterations"]) and any(
        g == "ddpm" for _, g in models
    )
    latent = bool(DIFFUSION["latent"]) and bool(diffusion_packs)
    folds = cv_folds()
    anomaly = anomaly_models(None) if anomaly_on() else {}
    jobs = {
        "phantom": list(BATCHES) if phantom else [],
        "preprocess": list(BATCHES),
        "data_report": [""],
        "phantom_figure": [""] if phantom else [],
        "split": [""],
        "comparison_folds": [""] if folds else [],
        "pack": slices,
        "pack_volumes": volumes,
        "sdf": (
            batches_of(subjects_of_splits(slices, "segmentation")) if LABELLED else []
        ),
        "sdf_volume": batches_of(subjects_of_splits(volumes, "segmentation")),
        "sdf_figure": [""] if LABELLED else [],
        "misalign": [
            f"level{level}_{batch}"
            for level in levels
            for batch in batches_of(subjects_of_splits(pair_splits, "translation"))
        ],
        "pack_pairs": [f"level{level}_{s}" for level in levels for s in pair_splits],
        "misalign_figure": [""] if translation else [],
        "train_translation": translation_runs(),
        "translation_tables": [""] if translation else [],
        "noise_curve": [""] if translation else [],
        "translation_figure": [""] if translation else [],
        "pool_slices": list(POOL) if POOL and (diffusion_packs or pool_ddpm) else [],
        "train_pool_autoencoder": [""] if latent and POOL else [],
        "pretrain_diffusion": [""] if POOL and diffusion_packs else [],
        "pretrain_controlnet": (
            [""]
            if diffusion_packs and DIFFUSION["controlnet"]["init"] == "pool"
            else []
        ),
        "train_autoencoder": diffusion_packs if latent and not POOL else [],
        "train_diffusion": diffusion_packs if DIFFUSION["finetune_base"] else [],
        "train_controlnet": diffusion_packs,
        "pretrain_ddpm": [""] if pool_ddpm else [],
        "train_ddpm": [pack for pack, g in models if g == "ddpm"],
        "train_gan": [pack for pack, g in models if g == "gan"],
        "synthesize": [f"{pack}/{g}" for pack, g in models],
        "train_augmented": augmentation_runs(),
        "synthesis_metrics": [""] if folds and generators() else [],
        "augmentation_tables": [""] if folds else [],
        "synthetic_figure": [""] if folds and generators() else [],
        "structure_curve": [""] if curve_on() else [],
        "train_segmentation": segmentation_runs(),
        "segmentation_tables": [""] if LABELLED else [],
        "dice_figure": [""] if LABELLED else [],
        "loss_figure": [""] if LABELLED or translation else [],
        "export_nnunet": [""] if config["export"]["nnunet"] and LABELLED else [],
        "train_anomaly_ddpm": [""] if "ddpm" in anomaly else [],
        "train_anomaly_classifier": [""] if "classifier" in anomaly else [],
        "train_anomaly_autoencoder": [""] if "autoencoder" in anomaly else [],
        "detect_anomalies": [""] if anomaly_on() else [],
        "anomaly_report": [""] if anomaly_on() else [],
        "train_recon": list(recon_models(None)) if recon_on() else [],
        "reconstruct": [""] if recon_on() else [],
        "recon_report": [""] if recon_on() else [],
        "prepare_cines": [""] if temporal_on() else [],
        "train_temporal": list(temporal_models(None)) if temporal_on() else [],
        "generate_frames": [""] if temporal_on() else [],
        "temporal_report": [""] if temporal_on() else [],
        "export_nnunet_synthetic": (
            [""] if config["export"]["nnunet"] and LABELLED and generators() else []
        ),
    }
    return {name: patterns for name, patterns in jobs.items() if patterns}


# One rule writes its log and benchmark under another rule's folder.
JOB_FOLDER = {"train_pool_autoencoder": ("train_autoencoder", "pool")}


def warm_usage_files(wildcards):
    """Rule -> the warm worker's usage records of its jobs (beside their logs), in the order
    of benchmark_files; a job that ran afresh has none."""
    return {
        name: [
            usage_path(log_path(*JOB_FOLDER.get(name, (name, pattern))))
            for pattern in patterns
        ]
        for name, patterns in job_patterns().items()
    }


def benchmark_files(wildcards):
    """Rule -> benchmark files of its jobs (an input function: the split decides some)."""
    return {
        name: [
            bench_path(*JOB_FOLDER.get(name, (name, pattern))) for pattern in patterns
        ]
        for name, patterns in job_patterns().items()
    }
