"""Rule pretrain_controlnet: a ControlNet over the pool's base model on the pool's slices (EMIT-Diff's
RadImageNet stage); each training set's ControlNet starts from it (diffusion.controlnet.init: pool)."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

import numpy as np

from radsynth.io import file_hash, load_arrays, load_checkpoint, save_checkpoint, write_csv
from radsynth.logs import log_to
from radsynth.provenance import TRAINING_SUBJECTS, provenance_sidecars
from radsynth.synthesis.autoencoder_trainer import load_autoencoder
from radsynth.synthesis.controlnet_trainer import train_controlnet
from radsynth.training.loop import job_device, set_threads
from radsynth.training.resume import job_resume

log = log_to(snakemake.log[0])
set_threads(snakemake.threads)
settings, params = snakemake.params.settings, snakemake.params
options, pretrain, device = settings["controlnet"], settings["pretrain"]["controlnet"], job_device(params.device)

pool = [load_arrays(path) for path in snakemake.input.pool]
base_state, base_sidecar = load_checkpoint(snakemake.input.base)
codec = load_autoencoder(snakemake.input.autoencoder, device) if snakemake.input.autoencoder else None
resume = job_resume(snakemake)
# The official pool stage trains without rotation or zoom (its random_transform is commented out).
result = train_controlnet(
    np.concatenate([part["image"] for part in pool]),
    np.concatenate([part["label"] for part in pool]),
    base_state,
    base_sidecar["architecture"],
    tokens=np.concatenate([part["tokens"] for part in pool]),
    codec=codec,
    edge_sigma=options["edge_sigma"],
    mask_fill=options["mask_fill"],
    embedding_channels=options["embedding_channels"],
    iterations=pretrain["iterations"],
    batch_size=pretrain["batch_size"],
    lr=pretrain["lr"],
    lr_schedule=settings["lr_schedule"],
    text_dropout=settings["text_dropout"],
    flip=options["flip"],
    seed=params.seed,
    device=device,
    resume=resume,
)
sidecar = {
    "architecture": result.architecture,
    "pool": [str(path) for path in snakemake.input.pool],
    "base_checkpoint": snakemake.input.base,
    "settings": settings,
    "data_hash": file_hash(*snakemake.input.pool),
    TRAINING_SUBJECTS: sorted({str(subject) for part in pool for subject in part["subject"]}),
    "images_per_second": result.images_per_second,
}
with provenance_sidecars(snakemake.output, snakemake.config, snakemake.input):
    save_checkpoint(snakemake.output.model, result.state, sidecar)
    write_csv(snakemake.output.history, result.history, sep="\t")
    log.info("pool controlnet: %.1f images/s", result.images_per_second)
