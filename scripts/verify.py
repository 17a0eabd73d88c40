"""Rule verify: read one subject, run the integrity checks, describe it for the data report."""

from radsynth.data import load_subject
from radsynth.io import write_json
from radsynth.logs import log_to
from radsynth.report.data import describe_subject

log = log_to(snakemake.log[0])
source = snakemake.params.source
raw = load_subject(source, snakemake.params.dataset)
row = describe_subject(raw, source.name)
write_json(snakemake.output[0], row)
log.info("%s (%s): %s, spacing %s, %s", source.subject, source.name, row["shape"], row["spacing"], row["orientation"])
