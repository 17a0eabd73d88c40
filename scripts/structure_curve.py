"""Rule structure_curve: every generator snapshot samples its fold's held-out training masks and
the fold's real-data segmenter scores structure Dice; a tidy table and the figure."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

import numpy as np
import pandas as pd

from radsynth.io import load_arrays, write_csv
from radsynth.logs import log_to
from radsynth.pack import select_channels
from radsynth.provenance import provenance_sidecars
from radsynth.segmentation.trainer import load_segmenter
from radsynth.synthesis import load_generator
from radsynth.synthesis.curve import COLUMNS, ceiling_score, choose_holdout, curve_scores, snapshot_generator, snapshot_steps
from radsynth.synthesis.figures import structure_curve_figure
from radsynth.synthesis.prompts import subject_tokens
from radsynth.training.loop import job_device, set_threads

log = log_to(snakemake.log[0])
set_threads(snakemake.threads)
params, settings = snakemake.params, snakemake.params.settings
device = job_device(params.device)
frames = []
for fold, pack_path, segmenter_path in zip(params.folds, snakemake.input.packs, snakemake.input.segmenters):
    pack = load_arrays(pack_path)
    holdout = choose_holdout(pack["subject"], pack["label"], count=params.curve["curve_subjects"], masks=params.curve["curve_masks"], seed=params.seed)
    if not len(holdout.scored):
        log.warning("cv%s: too few labelled training slices to hold any out; no curve", fold)
        continue
    rows = holdout.scored
    images, labels = select_channels(pack, params.channels)[rows], pack["label"][rows]
    segmenter = load_segmenter(segmenter_path, device=device)
    sampling = {
        "tokens": subject_tokens(params.prompt, pack["subject"][rows], params.names),
        "steps": settings["sampling_steps"], "sampler": settings["sampler"],
        "guidance_scale": settings["guidance_scale"], "eta": settings["eta"], "batch_size": settings["sample_batch_size"],
    }  # fmt: skip
    described = {"fold": fold, "heldout_subjects": ";".join(holdout.subjects), "heldout_by": holdout.by}
    for generator in params.generators:
        final = snakemake.input.models[params.runs.index([fold, generator])]
        folder = snakemake.input.snapshots[params.runs.index([fold, generator])]
        snapshots = ((step, snapshot_generator(final, path, load_generator, device)) for step, path in snapshot_steps(folder).items())
        scores = curve_scores(snapshots, images, labels, segmenter, classes=params.classes, sampling=sampling, seed=params.seed, device=device)
        frames.append(scores.assign(generator=generator, **described))
        log.info("cv%s %s: %s", fold, generator, scores.round(1).to_dict("records"))
    ceiling = ceiling_score(images, labels, segmenter, classes=params.classes, device=device)
    frames.append(pd.DataFrame([{"generator": "real", "step": np.nan, "structure_dice": ceiling, "n_masks": len(rows), **described}]))
curve = pd.concat(frames, ignore_index=True)[COLUMNS] if frames else pd.DataFrame(columns=COLUMNS)
curve["step"] = curve["step"].astype("Int64")  # empty for the real slices
with provenance_sidecars(snakemake.output, snakemake.config, snakemake.input):
    write_csv(snakemake.output.table, curve)
structure_curve_figure(curve, snakemake.output.figure)
