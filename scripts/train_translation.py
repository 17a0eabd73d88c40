"""Rule train_translation: one method (Pix2Pix / CycleGAN / RegGAN mode) at one noise level."""

from radsynth.io import file_hash, load_arrays, save_checkpoint, write_csv
from radsynth.logs import log_to
from radsynth.train.common import pick_device, set_threads
from radsynth.train.translation import train_translation

log = log_to(snakemake.log[0])
set_threads(snakemake.threads)
settings, wildcards = snakemake.params.settings, snakemake.wildcards

pairs = load_arrays(snakemake.input.pairs)
result = train_translation(
    pairs["source"],
    pairs["target"],
    wildcards.method,
    generator=settings["generator"],
    discriminator=settings["discriminator"],
    registration=settings["registration"],
    weights=settings["weights"],
    lr=settings["lr"],
    betas=tuple(settings["betas"]),
    iterations=settings["iterations"],
    batch_size=settings["batch_size"],
    seed=snakemake.params.seed,
    device=pick_device(snakemake.params.device),
    desc=f"{wildcards.method} level {wildcards.level}",
)
sidecar = {
    "architecture": result.architecture,
    "run": dict(wildcards),
    "settings": settings,
    "data_hash": file_hash(snakemake.input.pairs),
    "parameters": result.parameters,
    "images_per_second": result.images_per_second,
    "seconds": result.seconds,
}
save_checkpoint(snakemake.output.model, result.state, sidecar)
write_csv(snakemake.output.history, result.history, sep="\t")
log.info("%s level %s: %.1f images/s", wildcards.method, wildcards.level, result.images_per_second)
