"""Rule split: subject-level train/val/test assignment of the subjects that passed their checks,
written once to splits.tsv. A subject that failed is listed with split "failed"; a subject a
task must not read (one of its channels is a copy of another) names that task in ``excluded``."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

import pandas as pd

from radsynth.batch import read_records, usable
from radsynth.data.duplicates import subjects_to_drop
from radsynth.io import write_csv
from radsynth.logs import log_to
from radsynth.provenance import provenance_sidecars
from radsynth.split import fixed_split, split_from_groups, split_subjects, strata_from_pattern, strata_from_table

log = log_to(snakemake.log[0])
params = snakemake.params
options, names = params.options, params.names
records = read_records(snakemake.input.prepared)
ok = usable(records)
subjects = {subject: names[subject] for subject in ok}
failed = {r["subject"]: names[r["subject"]] for r in records if r["status"] != "ok"}
stratify, strata = options["stratify"], None
if stratify and stratify.get("table"):
    strata = strata_from_table(subjects, stratify["table"], stratify["column"])
elif stratify:
    strata = strata_from_pattern(subjects, stratify["pattern"])
if options["lists"] and options["groups"]:
    raise ValueError("split: set split.lists or split.groups, not both")
if options["lists"]:
    splits = fixed_split(subjects, options["lists"], failed)
elif options["groups"]:
    splits = split_from_groups({s: params.groups[s] for s in subjects}, options["groups"])
else:
    try:
        splits = split_subjects(list(subjects), options["fractions"], params.seed, strata, options["folds"], options["fold"])
    except ValueError as error:
        raise ValueError(
            f"split: {error} ({len(failed)} subjects failed their checks, see data/subjects.tsv); "
            "lower split.folds or set split.fractions of val/test to 0"
        ) from error
excluded = {subject: [] for subject in splits["subject"]}
if params.duplicates["drop"]:
    rows = [r for r in records if r["status"] == "ok"]
    for task, channels in params.tasks.items():
        for subject, reason in subjects_to_drop(rows, channels, params.duplicates["originals"]).items():
            excluded[subject].append(task)
            log.warning("%s left out of %s: %s", subject, task, reason)
splits["excluded"] = [",".join(excluded[s]) for s in splits["subject"]]
if failed:
    log.warning("left out, failed their checks: %s", ", ".join(sorted(failed)))
    rows = pd.DataFrame({"subject": sorted(failed), "split": "failed", "fold": 0, "stratum": "", "excluded": ""})
    splits = pd.concat([splits, rows]).sort_values("subject", kind="stable").reset_index(drop=True)
with provenance_sidecars(snakemake.output, snakemake.config, snakemake.input):
    write_csv(snakemake.output[0], splits, sep="\t")
log.info("split sizes: %s", splits["split"].value_counts().to_dict())
if options["stratify"]:
    log.info("by stratum: %s", splits.groupby(["split", "stratum"]).size().to_dict())
