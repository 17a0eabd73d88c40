"""Rule train_autoencoder: the AutoencoderKL whose latent space the diffusion models work in."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

import numpy as np

from radsynth.io import file_hash, load_arrays, save_checkpoint, write_csv
from radsynth.logs import log_to
from radsynth.pack import select_channels
from radsynth.provenance import provenance_sidecars
from radsynth.synthesis.autoencoder_trainer import train_autoencoder
from radsynth.synthesis.curve import without_heldout
from radsynth.training.loop import job_device, set_threads
from radsynth.training.resume import job_resume

log = log_to(snakemake.log[0])
set_threads(snakemake.threads)
settings = snakemake.params.settings

if snakemake.params.channels is None:  # the pool: slices already in the task's channels
    images = np.concatenate([load_arrays(path)["image"] for path in snakemake.input.pool])
else:
    train = without_heldout(load_arrays(snakemake.input.train), snakemake.params.curve, snakemake.params.seed)
    images = select_channels(train, snakemake.params.channels)  # without the curve's masks
data_hash = file_hash(*snakemake.input)
resume = job_resume(snakemake)
result = train_autoencoder(
    images,
    network={key: settings[key] for key in ("channels", "latent_channels", "norm_num_groups")},
    iterations=settings["iterations"],
    batch_size=settings["batch_size"],
    lr=settings["lr"],
    kl_weight=settings["kl_weight"],
    adversarial_weight=settings["adversarial_weight"],
    adversarial_start=settings["adversarial_start"],
    seed=snakemake.params.seed,
    device=job_device(snakemake.params.device),
    resume=resume,
)
sidecar = {
    "architecture": result.architecture,
    "channels": snakemake.params.channels,
    "settings": settings,
    "data_hash": data_hash,
    "images_per_second": result.images_per_second,
}
with provenance_sidecars(snakemake.output, snakemake.config, snakemake.input):
    save_checkpoint(snakemake.output.model, result.state, sidecar)
    write_csv(snakemake.output.history, result.history, sep="\t")
    log.info("autoencoder: scale factor %.3f, %.1f images/s", result.architecture["scale_factor"], result.images_per_second)
