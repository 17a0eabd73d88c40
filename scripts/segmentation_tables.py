"""Rule segmentation_tables: the DTC table (methods x labelled amounts, with and without
LCC post-processing)."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

from radsynth.logs import log_to
from radsynth.provenance import provenance_sidecars
from radsynth.report.tables import read_metrics, write_table
from radsynth.segmentation.tables import segmentation_table

log = log_to(snakemake.log[0])
out = snakemake.output


def paths(table):
    return {ext: out[f"{table}_{ext}"] for ext in ("csv", "md", "tex")}


segmentation = read_metrics(snakemake.input)
summary, table = segmentation_table(
    segmentation, keep=lambda method, augmentation, labelled: augmentation == "none", labels=["Method", "Labelled"]
)
with provenance_sidecars(snakemake.output, snakemake.config, snakemake.input):
    write_table(summary, table, paths("segmentation"), "Supervised vs semi-supervised segmentation by labelled amount.")

    log.info("tables written")
