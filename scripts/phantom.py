"""Rule phantom: generate one phantom subject as NIfTI (channels, lesion label, mask, tissue)."""

import numpy as np

from radsynth.data.phantom import make_subject
from radsynth.io import write_nifti
from radsynth.logs import log_to

log = log_to(snakemake.log[0])
dataset = snakemake.params.dataset
subject = make_subject(
    snakemake.params.index,
    snakemake.params.seed,
    shape=tuple(dataset["shape"]),
    fov_mm=tuple(dataset["fov_mm"]),
    contrasts=tuple(dataset["channels"]),
    lesion_probability=dataset["lesion_probability"],
    noise=dataset["noise"],
    bias=dataset["bias"],
)
for channel, path in zip(dataset["channels"], snakemake.output.images):
    write_nifti(path, subject.images[channel].astype(np.float32), subject.affine)
write_nifti(snakemake.output.label, subject.lesion.astype(np.uint8), subject.affine)
write_nifti(snakemake.output.mask, subject.mask.astype(np.uint8), subject.affine)
write_nifti(snakemake.output.tissue, subject.tissue.astype(np.uint8), subject.affine)
log.info("%s: shape %s, lesion %s", subject.name, subject.tissue.shape, subject.has_lesion)
