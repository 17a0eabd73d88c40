"""Rule train_anomaly_autoencoder: the reconstruction baseline, on the train split's healthy slices."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

from radsynth.anomaly.data import healthy_slices, training_slices
from radsynth.anomaly.networks import autoencoder_config
from radsynth.anomaly.trainers import train_autoencoder
from radsynth.io import load_arrays
from radsynth.logs import log_to
from radsynth.training.loop import job_device, set_threads
from radsynth.training.resume import job_resume
from radsynth.training.trained import save_trained

log = log_to(snakemake.log[0])
set_threads(snakemake.threads)
params, settings = snakemake.params, snakemake.params.autoencoder

packed = load_arrays(snakemake.input.train)
images, _, subjects = training_slices(packed, params.channels)
healthy = healthy_slices(images, packed["label"], source=snakemake.input.train)
architecture = autoencoder_config(len(params.channels), settings["channels"])
result = train_autoencoder(
    healthy,
    architecture=architecture,
    iterations=settings["iterations"],
    batch_size=settings["batch_size"],
    lr=settings["lr"],
    seed=params.seed,
    device=job_device(params.device),
    resume=job_resume(snakemake),
)
save_trained(snakemake, "anomaly_autoencoder", result, architecture, settings, subjects)
log.info("anomaly autoencoder: %d healthy slices", len(healthy))
