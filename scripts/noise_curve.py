"""Rule noise_curve: MAE, PSNR and SSIM against the misalignment level of the training pairs."""

from radsynth.logs import log_to
from radsynth.report.figures import noise_curve_figure
from radsynth.report.tables import METHOD_NAMES, read_metrics

log = log_to(snakemake.log[0])
noise_curve_figure(read_metrics(snakemake.input), snakemake.output[0], METHOD_NAMES)
