"""Rule misalign: RegGAN-style random affines of a batch's source/target pairs at one level,
per slice (2D translation) or per volume (3D).

Stored once per pair (the realistic case), with the ground-truth displacement field; an
optional elastic part is added to each affine.
"""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

from radsynth.batch import map_subjects, read_records, usable, write_records
from radsynth.logs import log_to
from radsynth.translation.pairs import write_misaligned_subject

log = log_to(snakemake.log[0])
params, level = snakemake.params, int(snakemake.wildcards.level)
options = {"spatial_dims": params.spatial_dims, "elastic": params.elastic}
jobs = [
    (subject, (f"{params.preprocessed}/{subject}", f"{params.folder}/{subject}/level{level}", params.channels,
               level, params.seed, options))
    for subject in usable(read_records(snakemake.input))
]  # fmt: skip
records = map_subjects(write_misaligned_subject, jobs, snakemake.threads)
write_records(snakemake.output[0], records)
log.info("level %d: %d subjects", level, len(records))
