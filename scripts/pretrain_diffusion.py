"""Rule pretrain_diffusion: the text-conditioned UNet on the pool of other datasets (EMIT-Diff's
RadImageNet stage); every training set's model is fine-tuned from it."""

import numpy as np
import torch

from radsynth.io import file_hash, load_arrays, save_checkpoint, write_csv
from radsynth.logs import log_to
from radsynth.train.autoencoder import load_autoencoder
from radsynth.train.common import pick_device, set_threads
from radsynth.train.diffusion import train_ddpm

log = log_to(snakemake.log[0])
set_threads(snakemake.threads)
settings, params = snakemake.params.settings, snakemake.params
device = pick_device(params.device)

pool = [load_arrays(path) for path in snakemake.input.pool]
images = np.concatenate([part["image"] for part in pool])
tokens = np.concatenate([part["tokens"] for part in pool])
flip = True
if snakemake.input.autoencoder:
    codec = load_autoencoder(snakemake.input.autoencoder, device)
    with torch.inference_mode():
        pixels = torch.as_tensor(np.concatenate([images, images[..., ::-1, :]]), device=device)
        images = codec.encode(pixels).cpu().numpy()
    tokens, flip = np.concatenate([tokens, tokens]), False

pretrain = settings["pretrain"]
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
)
sidecar = {
    "architecture": result.architecture,
    "pool": [str(path) for path in snakemake.input.pool],
    "latent": bool(snakemake.input.autoencoder),
    "settings": settings,
    "data_hash": file_hash(*snakemake.input.pool),
    "images_per_second": result.images_per_second,
}
save_checkpoint(snakemake.output.model, result.state, sidecar)
write_csv(snakemake.output.history, result.history, sep="\t")
log.info("pretrained on %d pool slices: %.1f images/s", len(images), result.images_per_second)
