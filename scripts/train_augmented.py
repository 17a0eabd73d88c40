"""Rule train_augmented: fold f's segmenter with one augmentation (a transform baseline, or
synthetic pairs from a generator trained on the same fold's training subjects), scored on the
fold's test subjects."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

from radsynth.io import file_hash, load_arrays, save_checkpoint, write_csv
from radsynth.logs import log_to
from radsynth.pack import select_channels
from radsynth.provenance import provenance_sidecars
from radsynth.segmentation.scoring import score_segmenter
from radsynth.segmentation.trainer import train_segmentation
from radsynth.synthesis import GENERATORS
from radsynth.training.loop import job_device, set_threads
from radsynth.training.resume import job_resume

log = log_to(snakemake.log[0])
set_threads(snakemake.threads)
settings, options, method = snakemake.params.settings, snakemake.params.augmentation, snakemake.wildcards.method

train = load_arrays(snakemake.input.train)
train["image"] = select_channels(train, settings["channels"])
synthetic = load_arrays(snakemake.input.synthetic) if snakemake.input.synthetic else None
if synthetic is not None and not set(synthetic["subject"]) - {""} <= set(train["subject"]):
    raise ValueError(f"{snakemake.input.synthetic}: pairs from subjects outside this fold's training set")
data_hash = file_hash(snakemake.input.train, *([snakemake.input.synthetic] if synthetic else []))
resume = job_resume(snakemake)
device = job_device(snakemake.params.device)

result = train_segmentation(
    train,
    method="supervised",
    augmentation="none" if method in GENERATORS else method,
    augmentation_prob=options["prob"],
    synthetic=synthetic,
    synthetic_fraction=options["synthetic_fraction"] if synthetic is not None else 0.0,
    network={**settings["network"], "backbone": options["backbone"]},
    loss="dice_ce",
    optimizer="adamw",
    lr=settings["lr"],
    iterations=options["iterations"] or settings["iterations"],
    batch_size=settings["batch_size"],
    seed=snakemake.params.seed,
    device=device,
    resume=resume,
    patch_mix=options["patch_mix"] if synthetic is not None and options["synthetic_mixing"] == "patch_mask" else None,
)
sidecar = {
    "architecture": result.architecture,
    "run": {"fold": snakemake.wildcards.fold, "augmentation": method, "channels": settings["channels"]},
    "settings": settings,
    "augmentation": options,
    "data_hash": data_hash,
    "images_per_second": result.images_per_second,
}
with provenance_sidecars(snakemake.output, snakemake.config, snakemake.input):
    save_checkpoint(snakemake.output.model, result.state, sidecar)
    write_csv(snakemake.output.history, result.history, sep="\t")
    log.info("cv%s %s: %.1f images/s", snakemake.wildcards.fold, method, result.images_per_second)

    metrics = score_segmenter(snakemake.output.model, snakemake.output.predictions, device=device, **snakemake.params.test)
    write_csv(snakemake.output.metrics, metrics)
    log.info("mean dice %.3f", metrics.loc[metrics["metric"] == "dice", "value"].mean())
