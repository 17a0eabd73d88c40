"""Rule anomaly_report: the anomaly table, the example maps and the val sweep's figure."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

import json

import numpy as np
import pandas as pd

from radsynth.anomaly.figures import anomaly_figure, sweep_figure
from radsynth.anomaly.tables import anomaly_table
from radsynth.logs import log_to
from radsynth.provenance import provenance_sidecars
from radsynth.report.tables import read_metrics, write_table

log = log_to(snakemake.log[0])
out = snakemake.output

summary, table = anomaly_table(read_metrics([snakemake.input.metrics]), snakemake.params.methods)
chosen = json.loads(open(snakemake.input.chosen).read())
with np.load(snakemake.input.examples) as examples:
    examples = dict(examples)
sweep = pd.read_csv(snakemake.input.sweep)
with provenance_sidecars(snakemake.output, snakemake.config, snakemake.input):
    write_table(
        summary,
        table,
        {ext: out[f"anomaly_{ext}"] for ext in ("csv", "md", "tex")},
        f"Anomaly detection on the test split, L and scale chosen on val by pixel {chosen['metric'].upper()}.",
    )
    anomaly_figure(examples, out.maps)
    sweep_figure(sweep, chosen["chosen"], out.sweep, chosen["metric"])
    log.info("anomaly table and figures written")
