"""Rule pool_slices: one pretraining-pool dataset as slices on the task's grid, with prompts."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

from radsynth.io import save_arrays
from radsynth.logs import log_to
from radsynth.synthesis.pool import pool_slices

log = log_to(snakemake.log[0])
params = snakemake.params
options = {key: value for key, value in params.preprocess.items() if key != "min_foreground"}
slices = pool_slices(params.dataset, options, params.channels, params.preprocess["min_foreground"], task=params.task, seed=params.seed)
save_arrays(snakemake.output[0], **slices)
log.info("%s: %d slices of %d subjects", params.dataset["name"], len(slices["image"]), len(set(slices["subject"])))
