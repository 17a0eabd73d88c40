"""Rule translation_tables: the three RegGAN tables - methods x misalignment levels, every
mode at one level with its size, and the unpaired setting."""

import json
from pathlib import Path

from radsynth.logs import log_to
from radsynth.provenance import provenance_sidecars
from radsynth.report.tables import read_metrics, write_table
from radsynth.translation.tables import mode_table, translation_table, unpaired_table

log = log_to(snakemake.log[0])
params, out = snakemake.params, snakemake.output
metrics = read_metrics(snakemake.input.metrics)


def paths(table):
    return {ext: out[f"{table}_{ext}"] for ext in ("csv", "md", "tex")}


levels = [f"level{level}" for level in params.levels]
noise = metrics[metrics["method"].isin(params.methods) & metrics["setting"].isin(levels)]
summary, table = translation_table(noise)
with provenance_sidecars(snakemake.output, snakemake.config, snakemake.input):
    write_table(summary, table, paths("translation"), f"{params.pair} translation by training misalignment level.")

    if params.modes:
        sidecars = [json.loads(Path(path).read_text()) for path in snakemake.input.sidecars]
        at_level = [s for s in sidecars if s["run"]["setting"] == f"level{params.mode_level}"]
        sizes = {s["run"]["method"]: s["parameters"]["total"] for s in at_level}
        kept = {s["run"]["method"]: f"{s['selected_iteration']} / {s['iterations']}" for s in at_level}
        summary, table = mode_table(metrics[metrics["method"].isin(params.modes)], f"level{params.mode_level}", sizes, kept)
        write_table(summary, table, paths("translation_modes"), f"Every mode at misalignment level {params.mode_level}.")

    if params.unpaired:
        summary, table = unpaired_table(metrics[metrics["method"].isin(params.unpaired)])
        write_table(summary, table, paths("translation_unpaired"), f"{params.pair} translation trained on unpaired data.")
    log.info("translation tables written")
