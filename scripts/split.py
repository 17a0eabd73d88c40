"""Rule split: subject-level train/val/test assignment, written once to splits.tsv."""

from radsynth.io import write_csv
from radsynth.logs import log_to
from radsynth.split import fixed_split, split_subjects, strata_from_pattern, strata_from_table

log = log_to(snakemake.log[0])
subjects, options = snakemake.params.subjects, snakemake.params.options
if options["lists"]:
    splits = fixed_split(subjects, options["lists"])
else:
    stratify, strata = options["stratify"], None
    if stratify and stratify.get("table"):
        strata = strata_from_table(subjects, stratify["table"], stratify["column"])
    elif stratify:
        strata = strata_from_pattern(subjects, stratify["pattern"])
    splits = split_subjects(
        list(subjects), options["fractions"], snakemake.params.seed, strata, options["folds"], options["fold"]
    )
write_csv(snakemake.output[0], splits, sep="\t")
log.info("split sizes: %s", splits["split"].value_counts().to_dict())
if options["stratify"]:
    log.info("by stratum: %s", splits.groupby(["split", "stratum"]).size().to_dict())
