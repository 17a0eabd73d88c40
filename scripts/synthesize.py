"""Rule synthesize: K synthetic images per training mask, from training subjects only."""

import numpy as np
import pandas as pd

from radsynth.io import file_hash, load_arrays, save_arrays, write_json
from radsynth.logs import log_to
from radsynth.pack import select_channels
from radsynth.split import subjects_in
from radsynth.synthesis import synthesize
from radsynth.train.common import pick_device, set_threads
from radsynth.train.diffusion import load_synthesizer

log = log_to(snakemake.log[0])
set_threads(snakemake.threads)
settings, device = snakemake.params.settings, pick_device(snakemake.params.device)

train = load_arrays(snakemake.input.train)
train_subjects = set(subjects_in(pd.read_csv(snakemake.input.splits, sep="\t"), "train"))
if not set(train["subject"]) <= train_subjects:
    raise ValueError(f"{snakemake.input.train}: holds subjects outside the training split")
# EMIT-Diff pairs synthetic images with real masks: condition on the slices that have one.
rows = np.flatnonzero(train["label"].reshape(len(train["label"]), -1).any(axis=1))
if len(rows) == 0:
    raise ValueError(f"{snakemake.input.train}: no training slice has a labelled structure")
images = select_channels(train, snakemake.params.channels)[rows]

model = load_synthesizer(snakemake.input.model, device)
pairs = synthesize(
    model,
    images,
    train["label"][rows],
    per_mask=snakemake.params.per_mask,
    steps=settings["sampling_steps"],
    seed=snakemake.params.seed,
    batch_size=settings["sample_batch_size"],
    guidance_scale=settings["guidance_scale"],
    device=device,
)
source_row = rows[pairs["source_index"]]
pairs.update(
    source_row=source_row,
    subject=train["subject"][source_row],
    slice=train["slice"][source_row],
    channels=np.array(snakemake.params.channels),
)
save_arrays(snakemake.output.pairs, **pairs)
write_json(
    snakemake.output.provenance,
    {
        "generator": "ddpm-concat-control",
        "checkpoint": snakemake.input.model,
        "checkpoint_sha256": file_hash(snakemake.input.model),
        "seed": snakemake.params.seed,
        "sampler": f"DDIM {settings['sampling_steps']} steps, guidance {settings['guidance_scale']}",
        "per_mask": snakemake.params.per_mask,
        "source_subjects": sorted(set(pairs["subject"].tolist())),
        "images": len(pairs["image"]),
    },
)
log.info("%d synthetic pairs from %d masks", len(pairs["image"]), len(rows))
