"""Synthetic image/mask pairs for augmentation (EMIT-Diff and its baselines): the networks
(``networks``, ``autoencoder``), their trainers (``*_trainer``), control images, prompts, the
pretraining pool, one sampler per generator, synthesis metrics, the augmentation comparison's
tables and the generator figure.

Every generator answers ``sample(images, labels, per_mask, *, seed, batch_size, device, ...)``
with ``image``, ``label``, ``source_index``, ``sample`` and ``seed`` arrays, so the workflow
treats them alike: ``gan`` (Pix2Pix-style mask-to-image), ``ddpm`` (unconditional, draws its
own masks) and ``controlnet`` (EMIT-Diff: edges + mask boundary and a text prompt).
"""

from __future__ import annotations

import json
from pathlib import Path

from radsynth.io import InputError

GENERATORS = ("gan", "ddpm", "controlnet")


def load_generator(path: str | Path, device=None):
    """The trained generator of a checkpoint, chosen by its sidecar's ``"generator"`` entry.

    Args:
        path: the ``.pt`` checkpoint (its ``.json`` sidecar beside it).
        device: where to sample; None picks CUDA when present.
    """
    sidecar = Path(path).with_suffix(".json")
    try:
        kind = json.loads(sidecar.read_text()).get("generator")
    except (OSError, ValueError) as error:
        raise InputError(sidecar, f"cannot read the checkpoint's sidecar ({error})") from error
    if kind == "gan":
        from radsynth.synthesis.gan import MaskGANGenerator as Generator
    elif kind == "ddpm":
        from radsynth.synthesis.ddpm import DDPMGenerator as Generator
    elif kind == "controlnet":
        from radsynth.synthesis.controlnet import ControlNetGenerator as Generator
    else:
        raise InputError(path, f"unknown generator {kind!r} (known: {', '.join(GENERATORS)})")
    return Generator.from_checkpoint(path, device)
