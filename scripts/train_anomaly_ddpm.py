"""Rule train_anomaly_ddpm: the class-conditional DDPM of anomaly detection (train split)."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

from radsynth.anomaly.data import training_slices
from radsynth.anomaly.networks import ddpm_config
from radsynth.anomaly.trainers import train_anomaly_ddpm
from radsynth.io import load_arrays
from radsynth.logs import log_to
from radsynth.synthesis.networks import scheduler_config
from radsynth.training.loop import job_device, set_threads
from radsynth.training.resume import job_resume
from radsynth.training.trained import save_trained

log = log_to(snakemake.log[0])
set_threads(snakemake.threads)
params, ddpm = snakemake.params, snakemake.params.ddpm

images, labels, subjects = training_slices(load_arrays(snakemake.input.train), params.channels)
architecture = {
    "unet": ddpm_config(len(params.channels), **ddpm["unet"]),
    "scheduler": scheduler_config(params.train_timesteps, "linear_beta"),
}
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
save_trained(snakemake, "anomaly_ddpm", result, architecture, ddpm, subjects)
log.info("anomaly ddpm: %d slices (%d with lesion), %.1f images/s", len(labels), labels.sum(), result.images_per_second)
