"""Rule dice_figure: Dice per test subject for every segmentation run."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

from radsynth.logs import log_to
from radsynth.report.tables import read_metrics
from radsynth.segmentation.figures import dice_figure

log = log_to(snakemake.log[0])
dice_figure(read_metrics(snakemake.input), snakemake.output[0])
