"""Rule synthetic_figure: synthetic samples beside the real slices whose masks conditioned them."""

import numpy as np

from radsynth.io import load_arrays
from radsynth.logs import log_to
from radsynth.report.figures import synthetic_figure

log = log_to(snakemake.log[0])
synthetic, train = load_arrays(snakemake.input.synthetic), load_arrays(snakemake.input.train)
channels = list(snakemake.params.channels)
index = [list(train["channels"]).index(name) for name in channels]

# The four source slices with the largest masks, all K samples of each.
sources = np.unique(synthetic["source_row"])
sizes = train["label"][sources].reshape(len(sources), -1).sum(axis=1)
shown = sources[np.argsort(-sizes, kind="stable")[:4]]
real, labels = train["image"][shown][:, index], train["label"][shown]
samples = np.stack([synthetic["image"][synthetic["source_row"] == row] for row in shown])
control = np.stack([synthetic["control"][synthetic["source_row"] == row][0] for row in shown])
synthetic_figure(real, labels, control, samples, channels, snakemake.output[0])
