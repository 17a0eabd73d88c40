"""Rule split: subject-level train/val/test assignment of the subjects that passed their checks,
written once to splits.tsv (a subject that failed is listed with split "failed")."""

import pandas as pd

from radsynth.batch import read_records, usable
from radsynth.io import write_csv
from radsynth.logs import log_to
from radsynth.provenance import write_provenance
from radsynth.split import fixed_split, split_subjects, strata_from_pattern, strata_from_table

log = log_to(snakemake.log[0])
options, names = snakemake.params.options, snakemake.params.names
records = read_records(snakemake.input.prepared)
subjects = {subject: names[subject] for subject in usable(records)}
failed = {r["subject"]: names[r["subject"]] for r in records if r["status"] != "ok"}
stratify, strata = options["stratify"], None
if stratify and stratify.get("table"):
    strata = strata_from_table(subjects, stratify["table"], stratify["column"])
elif stratify:
    strata = strata_from_pattern(subjects, stratify["pattern"])
if options["lists"]:
    splits = fixed_split(subjects, options["lists"], failed)
else:
    try:
        splits = split_subjects(
            list(subjects), options["fractions"], snakemake.params.seed, strata, options["folds"], options["fold"]
        )
    except ValueError as error:
        raise ValueError(
            f"split: {error} ({len(failed)} subjects failed their checks, see data/subjects.tsv); "
            "lower split.folds or set split.fractions of val/test to 0"
        ) from error
if failed:
    log.warning("left out, failed their checks: %s", ", ".join(sorted(failed)))
    splits = pd.concat([splits, pd.DataFrame({"subject": sorted(failed), "split": "failed", "fold": 0, "stratum": ""})])
    splits = splits.sort_values("subject", kind="stable").reset_index(drop=True)
write_csv(snakemake.output[0], splits, sep="\t")
log.info("split sizes: %s", splits["split"].value_counts().to_dict())
if options["stratify"]:
    log.info("by stratum: %s", splits.groupby(["split", "stratum"]).size().to_dict())
write_provenance(snakemake.output, snakemake.config, snakemake.input)
