"""Rule train_anomaly_autoencoder: the reconstruction baseline, on the train split's healthy slices."""

from radsynth.anomaly.data import training_slices
from radsynth.anomaly.networks import HEALTHY, autoencoder_config
from radsynth.anomaly.trainers import train_autoencoder
from radsynth.io import file_hash, load_arrays, save_checkpoint, write_csv
from radsynth.logs import log_to
from radsynth.provenance import TRAINING_SUBJECTS, provenance_sidecars
from radsynth.training.loop import job_device, set_threads
from radsynth.training.resume import job_resume

log = log_to(snakemake.log[0])
set_threads(snakemake.threads)
settings, params = snakemake.params.autoencoder, snakemake.params

images, labels, subjects = training_slices(load_arrays(snakemake.input.train), params.channels)
healthy = images[labels == HEALTHY]
if not len(healthy):
    raise ValueError(f"{snakemake.input.train}: no healthy slice to train the autoencoder on")
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
sidecar = {
    "model": "anomaly_autoencoder",
    "architecture": architecture,
    "channels": params.channels,
    "settings": settings,
    "data_hash": file_hash(snakemake.input.train),
    TRAINING_SUBJECTS: subjects,
    "images_per_second": result.images_per_second,
}
with provenance_sidecars(snakemake.output, snakemake.config, snakemake.input):
    save_checkpoint(snakemake.output.model, result.state, sidecar)
    write_csv(snakemake.output.history, result.history, sep="\t")
    log.info("anomaly autoencoder: %d healthy slices", len(healthy))
