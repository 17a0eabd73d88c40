"""Rule phantom: generate a batch of phantom subjects as NIfTI (channels, lesion label, mask,
tissue), each subject's folder at once."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

from radsynth.batch import map_subjects, write_records
from radsynth.data.phantom import write_phantom_subject
from radsynth.logs import log_to

log = log_to(snakemake.log[0])
dataset, seed = snakemake.params.dataset, snakemake.params.seed
jobs = [(name, (name, seed, dataset)) for name in snakemake.params.subjects]
records = map_subjects(write_phantom_subject, jobs, snakemake.threads)
write_records(snakemake.output[0], records)
log.info("%d phantom subjects", len(records))
