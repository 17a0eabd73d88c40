"""Rule train_anomaly_ddpm: the class-conditional DDPM of anomaly detection (train split)."""

from radsynth.anomaly.data import training_slices
from radsynth.anomaly.networks import ddpm_config
from radsynth.anomaly.trainers import train_anomaly_ddpm
from radsynth.io import file_hash, load_arrays, save_checkpoint, write_csv
from radsynth.logs import log_to
from radsynth.provenance import TRAINING_SUBJECTS, provenance_sidecars
from radsynth.synthesis.networks import scheduler_config
from radsynth.training.loop import job_device, set_threads
from radsynth.training.resume import job_resume

log = log_to(snakemake.log[0])
set_threads(snakemake.threads)
params = snakemake.params

images, labels, subjects = training_slices(load_arrays(snakemake.input.train), params.channels)
architecture = {
    "unet": ddpm_config(len(params.channels), **params.ddpm["unet"]),
    "scheduler": scheduler_config(params.train_timesteps, "linear_beta"),
}
ddpm = params.ddpm
result = train_anomaly_ddpm(
    images,
    labels,
    architecture=architecture,
    iterations=ddpm["iterations"],
    batch_size=ddpm["batch_size"],
    lr=ddpm["lr"],
    label_dropout=ddpm["label_dropout"],
    seed=params.seed,
    device=job_device(params.device),
    resume=job_resume(snakemake),
)
sidecar = {
    "model": "anomaly_ddpm",
    "architecture": architecture,
    "channels": params.channels,
    "settings": ddpm,
    "data_hash": file_hash(snakemake.input.train),
    TRAINING_SUBJECTS: subjects,
    "images_per_second": result.images_per_second,
}
with provenance_sidecars(snakemake.output, snakemake.config, snakemake.input):
    save_checkpoint(snakemake.output.model, result.state, sidecar)
    write_csv(snakemake.output.history, result.history, sep="\t")
    log.info("anomaly ddpm: %d slices (%d with lesion), %.1f images/s", len(labels), labels.sum(), result.images_per_second)
