"""Rule benchmark_table: wall-clock time, peak memory and CPU load per rule, from the
benchmark files of every job of the run (named inputs, one per rule)."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

from radsynth.io import write_csv
from radsynth.logs import log_to
from radsynth.provenance import provenance_sidecars
from radsynth.report.benchmarks import benchmark_figure, benchmark_table

log = log_to(snakemake.log[0])
# A one-file rule may come as a plain path rather than a list.
files = {rule: [paths] if isinstance(paths, str) else list(paths) for rule, paths in snakemake.input.items()}
table = benchmark_table(files, snakemake.params.usage)
with provenance_sidecars(snakemake.output, snakemake.config, snakemake.input):
    write_csv(snakemake.output.table, table, float_format="%.3f")
    benchmark_figure(table, snakemake.output.figure)
    log.info("%d rules, %d jobs, %.0f s wall-clock", len(table), table["jobs"].sum(), table["total_s"].sum())
