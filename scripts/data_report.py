"""Rule data_report: one row per subject (shape, spacing, orientation, intensities, labels)
and a figure with one slice of every subject."""

import json

from radsynth.io import write_csv
from radsynth.logs import log_to
from radsynth.provenance import provenance_sidecars
from radsynth.report.data import data_figure, data_table

log = log_to(snakemake.log[0])
rows = [json.loads(open(path).read()) for path in snakemake.input.verified]
with provenance_sidecars(snakemake.output, snakemake.config, snakemake.input):
    write_csv(snakemake.output.table, data_table(rows), sep="\t")
    data_figure(snakemake.params.subject_dirs, snakemake.params.channel, snakemake.output.figure)
    log.info("data report of %d subjects", len(rows))
