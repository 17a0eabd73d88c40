"""Rule pretrain_ddpm: the joint image + mask DDPM on the pool's labelled slices, once; every
training set's DDPM is fine-tuned from it (diffusion.pretrain.ddpm)."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

from radsynth.io import file_hash, save_checkpoint, write_csv
from radsynth.logs import log_to
from radsynth.provenance import TRAINING_SUBJECTS, provenance_sidecars
from radsynth.synthesis.ddpm import joint_data
from radsynth.synthesis.diffusion_trainer import train_ddpm
from radsynth.synthesis.pool import joint_pool
from radsynth.training.loop import job_device, set_threads
from radsynth.training.resume import job_resume

log = log_to(snakemake.log[0])
set_threads(snakemake.threads)
settings, params = snakemake.params.settings, snakemake.params

pool = joint_pool(snakemake.input.pool, params.classes)
result = train_ddpm(
    joint_data(pool["image"], pool["label"], params.classes),
    unet=settings["unet"],
    train_timesteps=settings["train_timesteps"],
    prediction_type=settings["prediction_type"],
    lr_schedule=settings["pretrain"]["ddpm"]["lr_schedule"],
    iterations=settings["pretrain"]["ddpm"]["iterations"],
    batch_size=settings["batch_size"],
    lr=settings["lr"],
    seed=params.seed,
    device=job_device(params.device),
    resume=job_resume(snakemake),
)
sidecar = {
    "architecture": {**result.architecture, "classes": params.classes},
    "pool": [str(path) for path in snakemake.input.pool],
    "settings": settings,
    "data_hash": file_hash(*snakemake.input.pool),
    TRAINING_SUBJECTS: sorted(set(map(str, pool["subject"]))),
    "images_per_second": result.images_per_second,
}
with provenance_sidecars(snakemake.output, snakemake.config, snakemake.input):
    save_checkpoint(snakemake.output.model, result.state, sidecar)
    write_csv(snakemake.output.history, result.history, sep="\t")
    log.info("pretrained on %d labelled pool slices: %.1f images/s", len(pool["image"]), result.images_per_second)
