"""Rule pack_volumes: the whole volumes of one split with labels, 3D SDFs and masks (3D mode)."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

from radsynth.io import save_arrays
from radsynth.logs import log_to
from radsynth.pack import pack_volumes

log = log_to(snakemake.log[0])
arrays = pack_volumes(snakemake.params.subject_dirs, snakemake.params.sdf, snakemake.params.channels)
save_arrays(snakemake.output[0], **arrays)
log.info("packed %d volumes of shape %s", len(arrays["subject"]), arrays["label"].shape[1:])
