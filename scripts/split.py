"""Rule split: subject-level train/val/test assignment, written once to splits.tsv."""

from radsynth.io import write_csv
from radsynth.logs import log_to
from radsynth.provenance import provenance_sidecars
from radsynth.split import (
    cross_validation_folds,
    fixed_split,
    split_subjects,
    strata_from_pattern,
    strata_from_table,
)

log = log_to(snakemake.log[0])
subjects, options = snakemake.params.subjects, snakemake.params.options
stratify, strata = options["stratify"], None
if stratify and stratify.get("table"):
    strata = strata_from_table(subjects, stratify["table"], stratify["column"])
elif stratify:
    strata = strata_from_pattern(subjects, stratify["pattern"])
if options["lists"]:
    splits = fixed_split(subjects, options["lists"])
else:
    splits = split_subjects(
        list(subjects), options["fractions"], snakemake.params.seed, strata, options["folds"], options["fold"]
    )
if snakemake.params.cv_folds:
    # The augmentation comparison's k folds, over every subject, kept beside the split.
    folds = cross_validation_folds(list(subjects), snakemake.params.cv_folds, snakemake.params.seed, strata)
    splits["cv_fold"] = splits["subject"].map(folds)
with provenance_sidecars(snakemake.output, snakemake.config, snakemake.input):
    write_csv(snakemake.output[0], splits, sep="\t")
    log.info("split sizes: %s", splits["split"].value_counts().to_dict())
    if options["stratify"]:
        log.info("by stratum: %s", splits.groupby(["split", "stratum"]).size().to_dict())
