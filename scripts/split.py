"""Rule split: subject-level train/val/test assignment, written once to splits.tsv."""

from radsynth.io import write_csv
from radsynth.logs import log_to
from radsynth.split import split_subjects

log = log_to(snakemake.log[0])
splits = split_subjects(snakemake.params.subjects, snakemake.params.fractions, snakemake.params.seed)
write_csv(snakemake.output[0], splits, sep="\t")
log.info("split sizes: %s", splits["split"].value_counts().to_dict())
