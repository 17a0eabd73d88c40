"""Rule preprocess: one subject to the common grid and intensity range, as NIfTI."""

from radsynth.data import load_subject
from radsynth.io import write_nifti
from radsynth.logs import log_to
from radsynth.preprocess import preprocess_subject

log = log_to(snakemake.log[0])
raw = load_subject(snakemake.params.source, snakemake.params.dataset)
subject = preprocess_subject(raw, **snakemake.params.options)
for channel, path in zip(snakemake.params.dataset["channels"], snakemake.output.images):
    write_nifti(path, subject.images[channel], subject.affine)
write_nifti(snakemake.output.label, subject.label, subject.affine)
write_nifti(snakemake.output.mask, subject.mask, subject.affine)
log.info("preprocessed to %s", subject.mask.shape)
