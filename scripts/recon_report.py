"""Rule recon_report: the reconstruction table and figure."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

import numpy as np

from radsynth.logs import log_to
from radsynth.provenance import provenance_sidecars
from radsynth.recon.figures import recon_figure
from radsynth.recon.tables import recon_table
from radsynth.report.tables import read_metrics, write_table

log = log_to(snakemake.log[0])
out = snakemake.output

summary, table = recon_table(read_metrics([snakemake.input.metrics]), snakemake.params.methods)
with np.load(snakemake.input.examples) as examples:
    examples = dict(examples)
with provenance_sidecars(snakemake.output, snakemake.config, snakemake.input):
    write_table(
        summary,
        table,
        {ext: out[f"recon_{ext}"] for ext in ("csv", "md", "tex")},
        "Undersampled MRI reconstruction on the test slices (fastMRI PSNR, SSIM, NMSE on magnitudes).",
    )
    recon_figure(examples, snakemake.params.methods, out.figure)
    log.info("reconstruction table and figure written")
