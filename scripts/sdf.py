"""Rule sdf: DTC signed distance maps of a subject's label, one map per foreground class."""

import numpy as np

from radsynth.io import read_nifti, write_nifti
from radsynth.logs import log_to
from radsynth.segmentation.sdf import label_sdf

log = log_to(snakemake.log[0])
label, affine = read_nifti(snakemake.input[0], np.uint8)
sdf = label_sdf(label, snakemake.params.classes, slice_axis=snakemake.params.slice_axis)
write_nifti(snakemake.output[0], sdf.astype(np.float32), affine)
log.info("SDF %s in [%.3f, %.3f]", sdf.shape, sdf.min(), sdf.max())
