"""Rule train_temporal: DDM or the registration baseline on the training subjects' (ED, ES) pairs."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

from radsynth.io import load_arrays
from radsynth.logs import log_to
from radsynth.temporal.data import pairs, unpack
from radsynth.temporal.networks import code_unet_config, field_config
from radsynth.temporal.trainers import train_temporal
from radsynth.training.loop import job_device, set_threads
from radsynth.training.resume import job_resume
from radsynth.training.trained import save_trained

log = log_to(snakemake.log[0])
set_threads(snakemake.threads)
params, kind = snakemake.params, snakemake.wildcards.model
settings, ddm = params.settings, params.ddm

cines = unpack(load_arrays(snakemake.input.train))
sources, targets = pairs(cines)
dims = sources.ndim - 2
architecture = {"field": field_config(dims, **settings["field"])}
if kind == "ddm":
    architecture.update(code=code_unet_config(dims, **settings["code"]), anchored=settings["anchored"])
result = train_temporal(kind, sources, targets, architecture=architecture, iterations=settings["iterations"],
                        batch_size=settings["batch_size"], lr=settings["lr"], weight=ddm["weight"],
                        window=ddm["window"], train_timesteps=ddm["train_timesteps"], seed=params.seed,
                        device=job_device(params.device), resume=job_resume(snakemake))
subjects = sorted({c.name.split("_z")[0] for c in cines})
save_trained(snakemake, f"temporal_{kind}", result, architecture, settings, subjects)
log.info("temporal %s: %d training pairs, %.1f pairs/s", kind, len(sources), result.images_per_second)
