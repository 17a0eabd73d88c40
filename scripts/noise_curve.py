"""Rule noise_curve: MAE, PSNR and SSIM against the misalignment level of the training pairs."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

from radsynth.logs import log_to
from radsynth.report.tables import read_metrics
from radsynth.translation.figures import noise_curve_figure
from radsynth.translation.tables import METHOD_NAMES

log = log_to(snakemake.log[0])
noise_curve_figure(read_metrics(snakemake.input), snakemake.output[0], METHOD_NAMES)
