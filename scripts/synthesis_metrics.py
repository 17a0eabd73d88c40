"""Rule synthesis_metrics: a generator's pairs scored with the fold's real-data segmenter
(structure consistency, diversity, MS-SSIM to the source slice, Fréchet segmenter distance)."""

import numpy as np

from radsynth.io import load_arrays, write_csv
from radsynth.logs import log_to
from radsynth.pack import select_channels
from radsynth.provenance import provenance_sidecars
from radsynth.segmentation.trainer import load_segmenter
from radsynth.synthesis.metrics import synthesis_scores
from radsynth.training.loop import job_device, set_threads

log = log_to(snakemake.log[0])
set_threads(snakemake.threads)
params, wildcards = snakemake.params, snakemake.wildcards
device = job_device(params.device)

pairs = load_arrays(snakemake.input.synthetic)
train = load_arrays(snakemake.input.train)
# The rows the generators were conditioned on: training slices with a labelled structure.
rows = np.flatnonzero(train["label"].reshape(len(train["label"]), -1).any(axis=1))
real = {"image": select_channels(train, params.channels)[rows], "label": train["label"][rows]}
if (pairs["source_row"] >= 0).any():
    # Re-index the sources onto the masked slices, as the generator saw them.
    pairs["source_index"] = np.where(pairs["source_row"] >= 0, np.searchsorted(rows, pairs["source_row"]), -1)

segmenter = load_segmenter(snakemake.input.segmenter, device=device)
scores = synthesis_scores(
    pairs, real, segmenter, generator=wildcards.generator, setting=f"cv{wildcards.fold}",
    classes=params.classes, device=device,
)  # fmt: skip
with provenance_sidecars(snakemake.output, snakemake.config, snakemake.input):
    write_csv(snakemake.output[0], scores)
    mean = scores[scores["method"] == wildcards.generator].groupby("metric")["value"].mean()
    log.info("%s cv%s: %s", wildcards.generator, wildcards.fold, mean.round(3).to_dict())
