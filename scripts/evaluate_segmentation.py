"""Rule evaluate_segmentation: predict every test subject's volume, score it, save the labels."""

from pathlib import Path

import numpy as np

from radsynth.io import read_nifti, spacing_of, write_csv, write_nifti
from radsynth.logs import log_to
from radsynth.provenance import provenance_sidecars
from radsynth.segmentation.evaluate import evaluate_segmentation
from radsynth.segmentation.trainer import load_segmenter
from radsynth.training.loop import job_device, set_threads

log = log_to(snakemake.log[0])
set_threads(snakemake.threads)
device = job_device(snakemake.params.device)
params = snakemake.params

subjects, affines = [], {}
for folder in map(Path, params.subject_dirs):
    channels = [read_nifti(folder / f"{name}.nii.gz")[0] for name in params.channels]
    label, affine = read_nifti(folder / "label.nii.gz", np.uint8)
    affines[folder.name] = affine
    subject = {"name": folder.name, "image": np.stack(channels), "label": label, "spacing": spacing_of(affine)}
    if params.evaluation == "official":  # the volume before preprocessing padded it
        subject["mask"] = read_nifti(folder / "mask.nii.gz", np.uint8)[0]
    subjects.append(subject)

model = load_segmenter(snakemake.input.model, device=device)
metrics, predictions = evaluate_segmentation(
    model,
    subjects,
    params.method,
    params.setting,
    classes=params.classes,
    spatial_dims=params.spatial_dims,
    device=device,
    patch_size=params.patch_size,
    stride=params.stride,
    lcc=params.lcc,
    evaluation=params.evaluation,
)
for name, prediction in predictions.items():
    write_nifti(Path(snakemake.output.predictions) / f"{name}.nii.gz", prediction, affines[name])
with provenance_sidecars(snakemake.output, snakemake.config, snakemake.input):
    write_csv(snakemake.output.metrics, metrics)
    log.info("mean dice %.3f", metrics.loc[metrics["metric"] == "dice", "value"].mean())
