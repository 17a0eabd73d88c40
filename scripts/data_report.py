"""Rule data_report: one row per subject (shape, spacing, orientation, intensities, labels; the
file and the reason for a subject that failed) and a figure with one slice of every prepared
subject."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

from radsynth.batch import read_records, usable
from radsynth.io import write_csv
from radsynth.logs import log_to
from radsynth.provenance import provenance_sidecars
from radsynth.report.data import data_figure, data_table

log = log_to(snakemake.log[0])
rows = read_records(snakemake.input)
prepared = usable(rows)
with provenance_sidecars(snakemake.output, snakemake.config, snakemake.input):
    write_csv(snakemake.output.table, data_table(rows), sep="\t")
    data_figure([f"{snakemake.params.folder}/{s}" for s in prepared], snakemake.params.channel, snakemake.output.figure)
failed = [f"{r['subject']} ({r['file']}: {r['reason']})" for r in rows if r["status"] != "ok"]
log.info("data report of %d subjects, %d prepared", len(rows), len(prepared))
if failed:
    log.warning("%d subjects failed and are left out: %s", len(failed), "; ".join(failed))
