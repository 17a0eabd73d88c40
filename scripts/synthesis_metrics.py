"""Rule synthesis_metrics: each generator's pairs scored with its fold's real-data segmenter
(structure consistency, diversity, MS-SSIM to the source slice, Fréchet segmenter distance);
one job for every fold and generator, since loading a segmenter costs less than a job's start."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

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
params = snakemake.params
device = job_device(params.device)

# Synthetic inputs and outputs are fold-major: each fold's generators in params.generators' order.
synthetic, outputs = iter(snakemake.input.synthetic), iter(snakemake.output)
with provenance_sidecars(snakemake.output, snakemake.config, snakemake.input):
    for fold, train_path, segmenter_path in zip(params.folds, snakemake.input.train, snakemake.input.segmenters):
        train = load_arrays(train_path)
        # The rows the generators were conditioned on: training slices with a labelled structure.
        rows = np.flatnonzero(train["label"].reshape(len(train["label"]), -1).any(axis=1))
        real = {"image": select_channels(train, params.channels)[rows], "label": train["label"][rows]}
        segmenter = load_segmenter(segmenter_path, device=device)
        for generator in params.generators:
            pairs = load_arrays(next(synthetic))
            if (pairs["source_row"] >= 0).any():
                # Re-index the sources onto the masked slices, as the generator saw them.
                pairs["source_index"] = np.where(pairs["source_row"] >= 0, np.searchsorted(rows, pairs["source_row"]), -1)
            scores = synthesis_scores(
                pairs, real, segmenter, generator=generator, setting=f"cv{fold}", classes=params.classes, device=device
            )
            write_csv(next(outputs), scores)
            mean = scores[scores["method"] == generator].groupby("metric")["value"].mean()
            log.info("%s cv%s: %s", generator, fold, mean.round(3).to_dict())
