"""Rule loss_figure: training losses of every model."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

from pathlib import Path

import pandas as pd

from radsynth.logs import log_to
from radsynth.report.figures import loss_figure

log = log_to(snakemake.log[0])
paths = [*snakemake.input.translation, *snakemake.input.synthesis, *snakemake.input.segmentation]
histories = {Path(path).name.removesuffix(".loss.tsv"): pd.read_csv(path, sep="\t") for path in paths}
loss_figure(histories, snakemake.output[0])
