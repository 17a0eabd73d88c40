"""Rule augmentation_tables: the augmentation comparison (mean ± std over folds, with each
generator's structure consistency) and the synthesis quality table."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

from radsynth.logs import log_to
from radsynth.provenance import provenance_sidecars
from radsynth.report.tables import read_metrics, write_table
from radsynth.synthesis.tables import augmentation_table, synthesis_table

log = log_to(snakemake.log[0])
out, order = snakemake.output, list(snakemake.params.order)
segmentation = read_metrics(snakemake.input.segmentation)
synthesis = read_metrics(snakemake.input.synthesis)


def paths(table):
    return {ext: out[f"{table}_{ext}"] for ext in ("csv", "md", "tex")}


summary, table = augmentation_table(segmentation, synthesis, order)
with provenance_sidecars(snakemake.output, snakemake.config, snakemake.input):
    write_table(summary, table, paths("augmentation"), "Segmentation with each augmentation, mean ± std over folds.")
    summary, table = synthesis_table(synthesis, order)
    write_table(summary, table, paths("synthesis"), "Synthetic pairs scored by the real-data segmenter, over folds.")
    log.info("tables written")
