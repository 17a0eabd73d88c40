"""radsynth: raw scans -> preprocessing -> misalignment, SDFs -> GAN / diffusion training ->
synthesis -> segmentation -> per-case metrics -> tables, figures and an HTML report."""

import os

from snakemake.utils import min_version

min_version("9.0")


# Absolute so the workflow runs from any --directory; --configfile files are merged on top.
configfile: os.path.join(workflow.basedir, "config", "config.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/misalign.smk"
include: "workflow/rules/sdf.smk"
include: "workflow/rules/translation.smk"
include: "workflow/rules/synthesis.smk"
include: "workflow/rules/augment.smk"
include: "workflow/rules/segmentation.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/export.smk"


# The aggregating rules (all, prepare) run no code: their benchmarks only time Snakemake's
# bookkeeping, and stay out of the benchmark table (which is one of all's inputs).
rule all:
    default_target: True
    input:
        final_outputs(),
    benchmark:
        bench_path("all")
