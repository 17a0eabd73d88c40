"""Rule dice_figure: Dice per test subject for every segmentation run."""

from radsynth.logs import log_to
from radsynth.report.figures import dice_figure
from radsynth.report.tables import read_metrics

log = log_to(snakemake.log[0])
dice_figure(read_metrics(snakemake.input), snakemake.output[0])
