"""A trained network as the trainers return it, and how a training job writes it: the
checkpoint (weights_only), its JSON sidecar, the loss history and provenance sidecars."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from radsynth.io import file_hash, save_checkpoint, write_csv
from radsynth.provenance import TRAINING_SUBJECTS, provenance_sidecars


@dataclass
class TrainedModel:
    """A trained network: ``state`` (CPU state dict), ``history`` (mean loss per logged block,
    plus accuracy for the classifier) and ``images_per_second``."""

    state: dict
    history: pd.DataFrame
    images_per_second: float


def save_trained(job, name: str, result: TrainedModel, architecture: dict, settings: dict, subjects, **extra) -> None:
    """Write a training job's checkpoint (sidecar: architecture, channels, settings, the
    training data's hash and subjects), loss history and provenance sidecars.

    Args:
        job: the rule script's ``snakemake`` object (outputs ``model``, ``history``; input
            ``train``, the training data; param ``channels``).
        name: the model's name in the sidecar.
        result: what the trainer returned.
        architecture: kwargs the network is rebuilt from.
        settings: the config keys it trained with.
        subjects: the training subjects.
        **extra: more sidecar entries.
    """
    sidecar = {
        "model": name,
        "architecture": architecture,
        "channels": job.params.channels,
        "settings": settings,
        "data_hash": file_hash(*([job.input.train] if isinstance(job.input.train, str) else job.input.train)),
        TRAINING_SUBJECTS: list(subjects),
        "images_per_second": result.images_per_second,
        **extra,
    }
    with provenance_sidecars(job.output, job.config, job.input):
        save_checkpoint(job.output.model, result.state, sidecar)
        write_csv(job.output.history, result.history, sep="\t")
