"""Rule translation_tables: the three RegGAN tables - methods x misalignment levels, every
mode at one level with its size, and the unpaired setting."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

import json
from pathlib import Path

from radsynth.logs import log_to
from radsynth.provenance import provenance_sidecars
from radsynth.report.tables import read_metrics, write_table
from radsynth.translation.tables import mode_table, selection_caption, translation_table, unpaired_table

log = log_to(snakemake.log[0])
params, out = snakemake.params, snakemake.output
metrics = read_metrics(snakemake.input.metrics)


def paths(table):
    return {ext: out[f"{table}_{ext}"] for ext in ("csv", "md", "tex")}


# Which networks each run tested (sidecars from before the key was written selected on validation).
sidecars = [json.loads(Path(path).read_text()) for path in snakemake.input.sidecars]
runs = {(s["run"]["method"], s["run"]["setting"]): s for s in sidecars}
kept = {run: f"{s['selected_iteration']} / {s['iterations']}" for run, s in runs.items()}
rules = sorted({s.get("selection", "best_validation") for s in sidecars})
if len(rules) > 1:  # one config gives one rule; mixed only with sidecars of an older run
    log.warning("translation runs used different selections (%s); the tables name best_validation", rules)
selection = rules[0] if len(rules) == 1 else "best_validation"
note = " " + selection_caption(selection)


def kept_at(setting):
    return {method: value for (method, s), value in kept.items() if s == setting}


levels = [f"level{level}" for level in params.levels]
noise = metrics[metrics["method"].isin(params.methods) & metrics["setting"].isin(levels)]
summary, table = translation_table(noise, kept, selection)
with provenance_sidecars(snakemake.output, snakemake.config, snakemake.input):
    write_table(summary, table, paths("translation"), f"{params.pair} translation by training misalignment level.{note}")

    if params.modes:
        at_level = [s for s in sidecars if s["run"]["setting"] == f"level{params.mode_level}"]
        sizes = {s["run"]["method"]: s["parameters"]["total"] for s in at_level}
        setting = f"level{params.mode_level}"
        summary, table = mode_table(metrics[metrics["method"].isin(params.modes)], setting, sizes, kept_at(setting), selection)
        write_table(summary, table, paths("translation_modes"), f"Every mode at misalignment level {params.mode_level}.{note}")

    if params.unpaired:
        summary, table = unpaired_table(metrics[metrics["method"].isin(params.unpaired)], "unpaired", kept_at("unpaired"), selection)
        write_table(summary, table, paths("translation_unpaired"), f"{params.pair} translation trained on unpaired data.{note}")
    log.info("translation tables written (%s)", selection)
