"""Rule preprocess: a batch of subjects read once each, checked, described for the data report
and preprocessed to the common grid and intensity range as NIfTI; a subject that fails is
recorded with the file and the reason and leaves no file."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

from radsynth.batch import map_subjects, write_records
from radsynth.logs import log_to
from radsynth.prepare import prepare_subject

log = log_to(snakemake.log[0])
params = snakemake.params
jobs = [
    (source.subject, (source, params.dataset, params.options, f"{params.folder}/{source.subject}"))
    for source in params.sources
]
records = map_subjects(prepare_subject, jobs, snakemake.threads)
write_records(snakemake.output[0], records)
failed = [r["subject"] for r in records if r["status"] != "ok"]
log.info("%d subjects prepared, %d failed%s", len(records) - len(failed), len(failed), f": {failed}" if failed else "")
