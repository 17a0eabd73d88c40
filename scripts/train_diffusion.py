"""Rule train_diffusion: EMIT-Diff's text-conditioned diffusion UNet on the training slices
(in an autoencoder's latent space if configured), fine-tuned from local pretrained weights if given."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

import pandas as pd

from radsynth.io import file_hash, load_arrays, load_checkpoint, save_checkpoint, write_csv
from radsynth.logs import log_to
from radsynth.pack import select_channels
from radsynth.provenance import TRAINING_SUBJECTS, check_pretrained, provenance_sidecars
from radsynth.split import held_out_subjects
from radsynth.synthesis.autoencoder_trainer import load_autoencoder
from radsynth.synthesis.curve import generator_slices
from radsynth.synthesis.diffusion_trainer import latent_training_data, train_ddpm
from radsynth.synthesis.prompts import subject_tokens
from radsynth.training.loop import job_device, set_threads
from radsynth.training.resume import job_resume

log = log_to(snakemake.log[0])
set_threads(snakemake.threads)
settings, params = snakemake.params.settings, snakemake.params
device = job_device(params.device)

# the labelled slices (synthesis.train_slices), less the masks kept for the curve
train = generator_slices(
    load_arrays(snakemake.input.train), params.curve, params.seed, snakemake.input.train, labelled=params.slices == "labelled"
)
init = load_checkpoint(snakemake.input.pretrained) if snakemake.input.pretrained else None
if snakemake.input.splits:  # a local checkpoint (diffusion.pretrained): has it seen a test subject?
    paths = [snakemake.input.splits] if isinstance(snakemake.input.splits, str) else list(snakemake.input.splits)
    splits = pd.read_csv(paths[0], sep="\t", dtype={"subject": str})
    for folds in paths[1:]:  # the comparison's folds (cv_folds.tsv)
        splits = splits.merge(pd.read_csv(folds, sep="\t", dtype={"subject": str}), on="subject", how="left")
    held_out = held_out_subjects(splits)
    check_pretrained(snakemake.input.pretrained, init[1], held_out)
# The model sees its own subjects and those its initial weights were trained on.
inherited = (init[1].get(TRAINING_SUBJECTS) or []) if init else []
subjects = sorted({*map(str, train["subject"]), *inherited})
images = select_channels(train, params.channels)
tokens = subject_tokens(params.prompt, train["subject"], params.names)
flip = not snakemake.input.autoencoder  # latents do not flip with their image
if snakemake.input.autoencoder:
    images, tokens = latent_training_data(images, tokens, load_autoencoder(snakemake.input.autoencoder, device), device)
if init is not None:
    init = (init[0], init[1]["architecture"])
data_hash = file_hash(snakemake.input.train)

resume = job_resume(snakemake)
result = train_ddpm(
    images,
    tokens=tokens,
    unet=settings["unet"],
    prompt_dim=settings["prompt_dim"],
    init=init,
    train_timesteps=settings["train_timesteps"],
    prediction_type=settings["prediction_type"],
    lr_schedule=settings["lr_schedule"],
    iterations=settings["iterations"],
    batch_size=settings["batch_size"],
    lr=settings["lr"],
    text_dropout=settings["text_dropout"],
    flip=flip,
    seed=params.seed,
    device=device,
    resume=resume,
)
sidecar = {
    "architecture": result.architecture,
    "channels": params.channels,
    "prompt": params.prompt,
    "latent": bool(snakemake.input.autoencoder),
    "pretrained": snakemake.input.pretrained or None,
    "settings": settings,
    "data_hash": data_hash,
    TRAINING_SUBJECTS: subjects,
    "images_per_second": result.images_per_second,
}
with provenance_sidecars(snakemake.output, snakemake.config, snakemake.input):
    save_checkpoint(snakemake.output.model, result.state, sidecar)
    write_csv(snakemake.output.history, result.history, sep="\t")
    log.info("diffusion: %.1f images/s", result.images_per_second)
