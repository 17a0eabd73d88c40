"""Rule pack: the slices of one split, with labels, SDFs and masks, in one array file."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

from radsynth.io import save_arrays
from radsynth.logs import log_to
from radsynth.pack import pack_slices

log = log_to(snakemake.log[0])
arrays = pack_slices(
    snakemake.params.subject_dirs,
    snakemake.params.sdf,
    snakemake.params.channels,
    snakemake.params.min_foreground,
)
save_arrays(snakemake.output[0], **arrays)
log.info("packed %d slices of %d subjects", len(arrays["slice"]), len(set(arrays["subject"])))
