"""Rule train_gan: the Pix2Pix-style mask-to-image GAN generator (mask + control map by default)."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

from radsynth.io import file_hash, load_arrays, save_checkpoint, write_csv
from radsynth.logs import log_to
from radsynth.pack import select_channels
from radsynth.provenance import TRAINING_SUBJECTS, provenance_sidecars
from radsynth.synthesis.curve import Snapshots, generator_slices
from radsynth.synthesis.mask_gan_trainer import train_mask_gan
from radsynth.training.loop import job_device, set_threads
from radsynth.training.resume import job_resume

log = log_to(snakemake.log[0])
set_threads(snakemake.threads)
settings, params = snakemake.params.settings, snakemake.params

# the labelled slices (synthesis.train_slices), less the masks kept for the curve
train = generator_slices(
    load_arrays(snakemake.input.train), params.curve, params.seed, snakemake.input.train, labelled=params.slices == "labelled"
)
data_hash = file_hash(snakemake.input.train)
resume = job_resume(snakemake)
result = train_mask_gan(
    select_channels(train, params.channels),
    train["label"],
    classes=params.classes,
    generator=settings["generator"],
    discriminator=settings["discriminator"],
    noise_channels=settings["noise_channels"],
    control=params.control if settings["condition"] == "control" else None,
    iterations=settings["iterations"],
    batch_size=settings["batch_size"],
    lr=settings["lr"],
    l1_weight=settings["l1_weight"],
    seed=params.seed,
    device=job_device(params.device),
    resume=resume,
    snapshot=Snapshots(snakemake.output.snapshots, params.curve["every"], settings["iterations"]),
)
sidecar = {
    "generator": "gan",
    "architecture": result.architecture,
    "channels": params.channels,
    "settings": settings,
    "data_hash": data_hash,
    TRAINING_SUBJECTS: sorted(set(map(str, train["subject"]))),
    "images_per_second": result.images_per_second,
}
with provenance_sidecars(snakemake.output, snakemake.config, snakemake.input):
    save_checkpoint(snakemake.output.model, result.state, sidecar)
    write_csv(snakemake.output.history, result.history, sep="\t")
    log.info("gan: %.1f images/s", result.images_per_second)
