"""Rule train_ddpm: the unconditional DDPM generator, image and mask denoised together, from
scratch or fine-tuned from the pool's (diffusion.pretrain.ddpm)."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

from radsynth.io import file_hash, load_arrays, load_checkpoint, save_checkpoint, write_csv
from radsynth.logs import log_to
from radsynth.pack import select_channels
from radsynth.provenance import TRAINING_SUBJECTS, provenance_sidecars
from radsynth.synthesis.ddpm import joint_data
from radsynth.synthesis.curve import Snapshots, generator_slices
from radsynth.synthesis.diffusion_trainer import train_ddpm
from radsynth.training.loop import job_device, set_threads
from radsynth.training.resume import job_resume

log = log_to(snakemake.log[0])
set_threads(snakemake.threads)
settings, params = snakemake.params.settings, snakemake.params

# the labelled slices (synthesis.train_slices), less the masks kept for the curve
train = generator_slices(
    load_arrays(snakemake.input.train), params.curve, params.seed, snakemake.input.train, labelled=params.slices == "labelled"
)
data_hash = file_hash(snakemake.input.train)
init = load_checkpoint(snakemake.input.pretrained) if snakemake.input.pretrained else None
# The model sees its own subjects and those its initial weights were trained on.
inherited = (init[1].get(TRAINING_SUBJECTS) or []) if init else []
resume = job_resume(snakemake)
iterations = settings["ddpm"]["iterations"] or settings["iterations"]
result = train_ddpm(
    joint_data(select_channels(train, params.channels), train["label"], params.classes),
    unet=settings["unet"],
    init=(init[0], init[1]["architecture"]) if init else None,
    train_timesteps=settings["train_timesteps"],
    prediction_type=settings["prediction_type"],
    lr_schedule=settings["ddpm"]["lr_schedule"] or settings["lr_schedule"],
    iterations=iterations,
    batch_size=settings["batch_size"],
    lr=settings["lr"],
    seed=params.seed,
    device=job_device(params.device),
    resume=resume,
    snapshot=Snapshots(snakemake.output.snapshots, params.curve["every"], iterations),
)
sidecar = {
    "generator": "ddpm",
    "architecture": {**result.architecture, "classes": params.classes},
    "channels": params.channels,
    "settings": settings,
    "pretrained": snakemake.input.pretrained or None,
    "data_hash": data_hash,
    TRAINING_SUBJECTS: sorted({*map(str, train["subject"]), *inherited}),
    "images_per_second": result.images_per_second,
}
with provenance_sidecars(snakemake.output, snakemake.config, snakemake.input):
    save_checkpoint(snakemake.output.model, result.state, sidecar)
    write_csv(snakemake.output.history, result.history, sep="\t")
    log.info("ddpm: %.1f images/s", result.images_per_second)
