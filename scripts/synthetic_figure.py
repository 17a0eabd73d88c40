"""Rule synthetic_figure: each generator's samples beside the real slices and masks of fold 0."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

import numpy as np

from radsynth.io import load_arrays
from radsynth.logs import log_to
from radsynth.pack import select_channels
from radsynth.synthesis.figures import generator_figure
from radsynth.synthesis.prompts import describe, subject_tokens

log = log_to(snakemake.log[0])
params = snakemake.params
train = load_arrays(snakemake.input.train)
pairs = {name: load_arrays(path) for name, path in zip(params.generators, snakemake.input.synthetic)}

# The four masked slices with the largest masks that every conditional generator used.
conditional = [p["source_row"] for p in pairs.values() if (p["source_row"] >= 0).any()]
sources = np.unique(conditional[0]) if conditional else np.flatnonzero(train["label"].any(axis=(1, 2)))
sizes = train["label"][sources].reshape(len(sources), -1).sum(axis=1)
shown = sources[np.argsort(-sizes, kind="stable")[:4]]
samples = {}
for name, p in pairs.items():
    k = int(p["sample"].max()) + 1
    if (p["source_row"] >= 0).any():
        picked = [np.flatnonzero(p["source_row"] == row) for row in shown]
    else:  # the unconditional DDPM: its first samples, with the masks it drew
        picked = [np.arange(i * k, (i + 1) * k) for i in range(len(shown))]
    samples[name] = {"image": np.stack([p["image"][i] for i in picked]), "label": np.stack([p["label"][i] for i in picked])}
prompts = None
if "controlnet" in pairs:
    prompts = {"controlnet": describe(subject_tokens(params.prompt, train["subject"][shown[:1]], params.names)[0])}
generator_figure(
    select_channels(train, params.channels)[shown], train["label"][shown], samples, list(params.channels),
    snakemake.output[0], prompts=prompts,
)  # fmt: skip
