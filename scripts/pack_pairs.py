"""Rule pack_pairs: the misaligned translation pairs of one split and level in one array file."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

from radsynth.io import save_arrays
from radsynth.logs import log_to
from radsynth.pack import pack_pairs

log = log_to(snakemake.log[0])
arrays = pack_pairs(snakemake.params.pair_dirs, snakemake.params.min_foreground, snakemake.params.spatial_dims)
save_arrays(snakemake.output[0], **arrays)
log.info("packed %d pairs", len(arrays["subject"]))
