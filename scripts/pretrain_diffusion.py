"""Rule pretrain_diffusion: the text-conditioned UNet on the pool of other datasets (EMIT-Diff's
RadImageNet stage); every training set's model is fine-tuned from it."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

import numpy as np

from radsynth.io import file_hash, load_arrays, save_checkpoint, write_csv
from radsynth.logs import log_to
from radsynth.provenance import TRAINING_SUBJECTS, provenance_sidecars
from radsynth.synthesis.autoencoder_trainer import load_autoencoder
from radsynth.synthesis.diffusion_trainer import latent_training_data, train_ddpm
from radsynth.synthesis.pool import labelled_slices
from radsynth.training.loop import job_device, set_threads
from radsynth.training.resume import job_resume

log = log_to(snakemake.log[0])
set_threads(snakemake.threads)
settings, params = snakemake.params.settings, snakemake.params
device = job_device(params.device)

# Like a training set's generators (synthesis.train_slices), the slices with a labelled
# structure of each labelled pool dataset: a base that seldom sees a lesion cannot be steered
# into drawing one
pool = [labelled_slices(load_arrays(path)) if params.slices == "labelled" else load_arrays(path) for path in snakemake.input.pool]
images = np.concatenate([part["image"] for part in pool])
tokens = np.concatenate([part["tokens"] for part in pool])
flip = not snakemake.input.autoencoder  # latents do not flip with their image
if snakemake.input.autoencoder:
    images, tokens = latent_training_data(images, tokens, load_autoencoder(snakemake.input.autoencoder, device), device)

pretrain = settings["pretrain"]
data_hash = file_hash(*snakemake.input.pool)
resume = job_resume(snakemake)
result = train_ddpm(
    images,
    tokens=tokens,
    unet=settings["unet"],
    prompt_dim=settings["prompt_dim"],
    train_timesteps=settings["train_timesteps"],
    prediction_type=settings["prediction_type"],
    lr_schedule=settings["lr_schedule"],
    iterations=pretrain["iterations"],
    batch_size=pretrain["batch_size"],
    lr=pretrain["lr"],
    text_dropout=settings["text_dropout"],
    flip=flip,
    seed=params.seed,
    device=device,
    resume=resume,
)
sidecar = {
    "architecture": result.architecture,
    "pool": [str(path) for path in snakemake.input.pool],
    "latent": bool(snakemake.input.autoencoder),
    "settings": settings,
    "data_hash": data_hash,
    TRAINING_SUBJECTS: sorted({str(subject) for part in pool for subject in part["subject"]}),
    "images_per_second": result.images_per_second,
}
with provenance_sidecars(snakemake.output, snakemake.config, snakemake.input):
    save_checkpoint(snakemake.output.model, result.state, sidecar)
    write_csv(snakemake.output.history, result.history, sep="\t")
    log.info("pretrained on %d pool slices: %.1f images/s", len(images), result.images_per_second)
