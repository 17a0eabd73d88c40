"""Rule synthetic_figure: synthetic samples beside the real slices whose masks conditioned them."""

import numpy as np

from radsynth.io import load_arrays
from radsynth.logs import log_to
from radsynth.pack import select_channels
from radsynth.report.figures import synthetic_figure

log = log_to(snakemake.log[0])
synthetic, train = load_arrays(snakemake.input.synthetic), load_arrays(snakemake.input.train)
channels = list(snakemake.params.channels)

# The four source slices with the largest masks, all K samples of each.
sources = np.unique(synthetic["source_row"])
sizes = train["label"][sources].reshape(len(sources), -1).sum(axis=1)
shown = sources[np.argsort(-sizes, kind="stable")[:4]]
real, labels = select_channels(train, channels)[shown], train["label"][shown]
samples = np.stack([synthetic["image"][synthetic["source_row"] == row] for row in shown])
control = np.stack([synthetic["control"][synthetic["source_row"] == row][0] for row in shown])
synthetic_figure(real, labels, control, samples, channels, snakemake.output[0])
