"""Rule synthesize: K synthetic pairs per training mask from one generator, training subjects only."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

import numpy as np
import pandas as pd

from radsynth.io import file_hash, load_arrays, save_arrays, write_json
from radsynth.logs import log_to
from radsynth.pack import select_channels
from radsynth.split import subjects_in
from radsynth.synthesis import load_generator
from radsynth.synthesis.prompts import describe, subject_tokens
from radsynth.training.loop import job_device, set_threads

log = log_to(snakemake.log[0])
set_threads(snakemake.threads)
settings, params, wildcards = snakemake.params.settings, snakemake.params, snakemake.wildcards
device = job_device(params.device)

train = load_arrays(snakemake.input.train)
allowed = set(subjects_in(pd.read_csv(snakemake.input.splits, sep="\t"), wildcards.pack))
if not set(train["subject"]) <= allowed:
    raise ValueError(f"{snakemake.input.train}: holds subjects outside {wildcards.pack}")
# EMIT-Diff pairs synthetic images with real masks: condition on the slices that have one.
rows = np.flatnonzero(train["label"].reshape(len(train["label"]), -1).any(axis=1))
if len(rows) == 0:
    raise ValueError(f"{snakemake.input.train}: no training slice has a labelled structure")
tokens = subject_tokens(params.prompt, train["subject"][rows], params.names)

generator = load_generator(snakemake.input.model, device)
pairs = generator.sample(
    select_channels(train, params.channels)[rows],
    train["label"][rows],
    params.per_mask,
    tokens=tokens,
    seed=params.seed,
    steps=settings["sampling_steps"],
    sampler=settings["sampler"],
    guidance_scale=settings["guidance_scale"],
    eta=settings["eta"],
    batch_size=settings["sample_batch_size"],
    device=device,
)
conditioned = pairs["source_index"] >= 0
source_row = np.where(conditioned, rows[np.maximum(pairs["source_index"], 0)], -1)
pairs.update(
    source_row=source_row,
    subject=np.where(conditioned, train["subject"][np.maximum(source_row, 0)], ""),
    slice=np.where(conditioned, train["slice"][np.maximum(source_row, 0)], -1),
    channels=np.array(params.channels),
)
save_arrays(snakemake.output.pairs, **pairs)
write_json(
    snakemake.output.provenance,
    {
        "generator": wildcards.generator,
        "checkpoint": snakemake.input.model,
        "checkpoint_sha256": file_hash(snakemake.input.model),
        "seed": params.seed,
        "sampler": f"{settings['sampler']} {settings['sampling_steps']} steps, eta {settings['eta']}, "
        f"guidance {settings['guidance_scale']}",
        "per_mask": params.per_mask,
        "prompts": sorted({describe(t) for t in tokens}) if wildcards.generator == "controlnet" else [],
        "training_subjects": sorted(map(str, set(train["subject"]))),
        "source_subjects": sorted({str(s) for s in pairs["subject"] if s}),
        "images": len(pairs["image"]),
        "per_sample": "image i: source_row / subject / slice (-1 and '' for the unconditional DDPM), sample, seed",
    },
)
log.info("%s: %d synthetic pairs from %d masks", wildcards.generator, len(pairs["image"]), len(rows))
