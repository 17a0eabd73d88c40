"""Rule train_translation: one method (Pix2Pix / CycleGAN / RegGAN mode / UNIT, MUNIT or NICE-GAN
in a mode) at one noise level,
on the stored misaligned pairs, on pairs redrawn per batch, or unpaired; the iteration kept
is the one that translates the aligned val split best, or the last (``selection``); it is then
scored on the aligned test slices (MAE, PSNR, SSIM, and the EPE of R on the misaligned ones)."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

from functools import partial

import pandas as pd

from radsynth.io import file_hash, load_arrays, save_arrays, save_checkpoint, write_csv
from radsynth.logs import log_to
from radsynth.pack import select_channels, without_subjects
from radsynth.provenance import provenance_sidecars
from radsynth.split import excluded_subjects
from radsynth.training.loop import job_device, set_threads
from radsynth.training.resume import job_resume
from radsynth.translation.evaluate import evaluate_translation
from radsynth.translation.misalign_torch import redraw_batch
from radsynth.translation.trainer import Validation, train_translation
from radsynth.translation.translator import load_translator

log = log_to(snakemake.log[0])
set_threads(snakemake.threads)
settings, misalign, wildcards = snakemake.params.settings, snakemake.params.misalign, snakemake.wildcards
unpaired = wildcards.setting == "unpaired"

excluded = excluded_subjects(pd.read_csv(snakemake.input.splits, sep="\t", keep_default_na=False), "translation")
packed = load_arrays(snakemake.input.pairs)
if "source" not in packed:  # aligned slices: without the subjects translation must not read
    packed = without_subjects(packed, excluded)
augment = None
if "source" in packed:  # stored misaligned pairs of one level
    source, target = packed["source"], packed["target"]
else:  # aligned slices: unpaired, or misaligned afresh for every batch
    source = select_channels(packed, [settings["source"]])
    target = select_channels(packed, [settings["target"]])
    if not unpaired:
        level = int(wildcards.setting.removeprefix("level"))

        def augment(a, b, generator):
            moved_a, moved_b, _ = redraw_batch(
                a, b, level, generator, elastic=misalign["elastic"], interpolation=misalign["interpolation"]
            )
            return moved_a, moved_b

validation = None
if snakemake.input.val:
    val = without_subjects(load_arrays(snakemake.input.val), excluded)
    validation = Validation(
        source=select_channels(val, [settings["source"]]),
        target=select_channels(val, [settings["target"]]),
        mask=val["mask"],
        every=settings["validate_every"],
    )

# RegGAN counts epochs: one pass over the training slices is ceil(N / batch) steps.
iterations = settings["iterations"]
if settings["epochs"]:
    iterations = settings["epochs"] * -(-len(source) // settings["batch_size"])
data_hash = file_hash(snakemake.input.pairs, *([snakemake.input.val] if snakemake.input.val else []))
resume = job_resume(snakemake)
device = job_device(snakemake.params.device)
result = train_translation(
    source,
    target,
    wildcards.method,
    generator=settings["generator"],
    discriminator=settings["discriminator"],
    registration=settings["registration"],
    families={family: settings[family] for family in ("unit", "munit", "nicegan")},
    weights=settings["weights"],
    lr=settings["lr"],
    betas=tuple(settings["betas"]),
    iterations=iterations,
    batch_size=settings["batch_size"],
    lr_decay_start=settings["lr_decay_start"],
    compile=settings["compile"],
    unpaired=unpaired,
    groups=packed["subject"],
    augment=augment,
    validation=validation,
    selection=settings["selection"],
    seed=snakemake.params.seed,
    device=device,
    desc=f"{wildcards.method} {wildcards.setting}",
    resume=resume,
)
sidecar = {
    "architecture": result.architecture,
    "run": dict(wildcards),
    "settings": settings,
    "misalign": misalign,
    "data_hash": data_hash,
    "parameters": result.parameters,
    "images_per_second": result.images_per_second,
    "seconds": result.seconds,
    "iterations": iterations,
    "selected_iteration": result.selected_iteration,
    # Without validation the last iteration is what any rule keeps.
    "selection": settings["selection"] if validation is not None else "last",
}
with provenance_sidecars(snakemake.output, snakemake.config, snakemake.input):
    save_checkpoint(snakemake.output.model, result.state, sidecar)
    write_csv(snakemake.output.history, result.history, sep="\t")
    write_csv(snakemake.output.validation, result.validation, sep="\t")
    log.info(
        "%s %s: %.1f images/s, kept iteration %d of %d",
        wildcards.method,
        wildcards.setting,
        result.images_per_second,
        result.selected_iteration,
        iterations,
    )

    # Scored as any reader of the checkpoint would rebuild it.
    metrics, examples = evaluate_translation(
        load_translator(snakemake.output.model, device),
        without_subjects(load_arrays(snakemake.input.test), excluded),
        load_arrays(snakemake.input.misaligned) if snakemake.input.misaligned else None,
        settings["source"],
        settings["target"],
        method=wildcards.method,
        setting=wildcards.setting,
    )
    write_csv(snakemake.output.metrics, metrics)
    save_arrays(snakemake.output.examples, **examples)
    log.info("\n%s", metrics.groupby("metric")["value"].mean().to_string())
