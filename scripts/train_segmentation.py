"""Rule train_segmentation: one run of the semi-supervised table = method, labelled amount
(``25`` %, or ``n8`` subjects) and seed, scored on the test subjects."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

import pandas as pd

from radsynth.io import file_hash, load_arrays, save_checkpoint, write_csv
from radsynth.logs import log_to
from radsynth.pack import select_channels
from radsynth.provenance import provenance_sidecars
from radsynth.segmentation.scoring import score_segmenter
from radsynth.segmentation.trainer import train_segmentation
from radsynth.split import labelled_subset, read_case_list, subjects_in
from radsynth.training.loop import job_device, set_threads
from radsynth.training.resume import job_resume

log = log_to(snakemake.log[0])
set_threads(snakemake.threads)
device = job_device(snakemake.params.device)
settings, wildcards = snakemake.params.settings, snakemake.wildcards

train = load_arrays(snakemake.input.train)
train["image"] = select_channels(train, settings["channels"])
splits = pd.read_csv(snakemake.input.splits, sep="\t")
seed = int(wildcards.seed)
token = wildcards.labelled
amount = int(token[1:]) if token.startswith("n") else int(token) / 100
listed = None
if snakemake.params.labelled_list:  # the first N of the dataset's train list (DTC)
    subject_of = {name: subject for subject, name in snakemake.params.names.items()}
    listed = [subject_of.get(name, name) for name in read_case_list(snakemake.params.labelled_list)]
labelled = labelled_subset(subjects_in(splits, "train"), amount, seed, listed=listed)
data_hash = file_hash(snakemake.input.train)
resume = job_resume(snakemake)

result = train_segmentation(
    train,
    method=wildcards.method,
    labelled_subjects=labelled,
    network=settings["network"],
    loss=settings["loss"],
    optimizer=settings["optimizer"],
    lr=settings["lr"],
    iterations=settings["iterations"],
    batch_size=settings["batch_size"],
    unlabelled_batch_size=settings["unlabelled_batch_size"],
    dtc=settings["dtc"],
    mean_teacher=settings["mean_teacher"],
    patch_size=settings["patch_size"],
    rotate_flip=settings["rotate_flip"],
    sdf_target=settings["sdf_target"],
    seed=seed,
    device=device,
    resume=resume,
)
sidecar = {
    "architecture": result.architecture,
    "run": {**dict(wildcards), "labelled_subjects": labelled, "channels": settings["channels"]},
    "settings": settings,
    "data_hash": data_hash,
    "images_per_second": result.images_per_second,
}
with provenance_sidecars(snakemake.output, snakemake.config, snakemake.input):
    save_checkpoint(snakemake.output.model, result.state, sidecar)
    write_csv(snakemake.output.history, result.history, sep="\t")
    log.info("%d labelled subjects: %s; %.1f images/s", len(labelled), labelled, result.images_per_second)

    metrics = score_segmenter(snakemake.output.model, snakemake.output.predictions, device=device, **snakemake.params.test)
    write_csv(snakemake.output.metrics, metrics)
    log.info("mean dice %.3f", metrics.loc[metrics["metric"] == "dice", "value"].mean())
