"""Rule train_recon: one learned reconstruction (unet, mcddpm or diffuserecon) on the train split."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

from radsynth.logs import log_to
from radsynth.recon.data import split_slices
from radsynth.recon.networks import architecture_for
from radsynth.recon.trainers import train_recon
from radsynth.training.loop import job_device, set_threads
from radsynth.training.resume import job_resume
from radsynth.training.trained import save_trained

log = log_to(snakemake.log[0])
set_threads(snakemake.threads)
params, kind = snakemake.params, snakemake.wildcards.model
settings = params.settings

slices = split_slices(snakemake.input.train, channel=params.channels[0], fastmri=params.fastmri,
                      min_foreground=params.min_foreground)
architecture = architecture_for(kind, settings)
result = train_recon(
    kind,
    slices.image,
    architecture=architecture,
    iterations=settings["iterations"],
    batch_size=settings["batch_size"],
    lr=settings["lr"],
    accelerations=params.accelerations,
    train_timesteps=settings.get("train_timesteps", 1000),
    seed=params.seed,
    device=job_device(params.device),
    resume=job_resume(snakemake),
)
save_trained(snakemake, f"recon_{kind}", result, architecture, settings, sorted(set(slices.subject)),
             accelerations=list(params.accelerations))
log.info("recon %s: %d training slices, %.1f images/s", kind, len(slices), result.images_per_second)
