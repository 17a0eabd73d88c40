"""Rule preprocess: normalise to [-1, 1] (background -1) and crop/pad in-plane."""

import numpy as np

from radsynth.io import read_nifti, write_nifti
from radsynth.logs import log_to
from radsynth.preprocess import preprocess_subject

log = log_to(snakemake.log[0])
images, affine = {}, None
for channel, path in zip(snakemake.params.channels, snakemake.input.images):
    images[channel], affine = read_nifti(path)
label, _ = read_nifti(snakemake.input.label, np.uint8)
mask, _ = read_nifti(snakemake.input.mask, np.uint8)

subject = preprocess_subject(
    images, label, mask, affine, size=snakemake.params.size, percentiles=snakemake.params.percentiles
)
for channel, path in zip(snakemake.params.channels, snakemake.output.images):
    write_nifti(path, subject.images[channel], subject.affine)
write_nifti(snakemake.output.label, subject.label, subject.affine)
write_nifti(snakemake.output.mask, subject.mask, subject.affine)
log.info("preprocessed to %s", subject.mask.shape)
