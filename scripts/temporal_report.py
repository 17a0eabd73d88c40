"""Rule temporal_report: the temporal table, the frames figure and the generated cycle's GIF."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

import numpy as np

from radsynth.logs import log_to
from radsynth.provenance import provenance_sidecars
from radsynth.report.tables import read_metrics, write_table
from radsynth.temporal.figures import cycle_gif, frames_figure
from radsynth.temporal.tables import temporal_table

log = log_to(snakemake.log[0])
out, methods = snakemake.output, snakemake.params.methods

summary, table = temporal_table(read_metrics([snakemake.input.metrics]), methods)
with np.load(snakemake.input.examples) as examples:
    examples = dict(examples)
with provenance_sidecars(snakemake.output, snakemake.config, snakemake.input):
    write_table(summary, table, {ext: out[f"temporal_{ext}"] for ext in ("csv", "md", "tex")},
                "Frames between ED and ES on the test cines: intermediate-frame PSNR and NMSE, label Dice.")
    frames_figure(examples, methods, out.figure)
    cycle_gif([examples["truth"]] + [examples[m] for m in methods if m in examples][:1], out.cycle)
    log.info("temporal table and figures written")
