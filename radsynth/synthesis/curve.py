"""The structure-Dice curve: does a generator draw the mask it is given, and does more training help?

A few of a fold's training masks are held out of every generator's training (by subject when
the fold has enough labelled training subjects, else by slice). While a generator trains,
:class:`Snapshots` saves the weights it learns every N steps; afterwards each snapshot samples
the held-out masks (the same noise seeds every time) and the fold's real-data segmenter scores
whether it finds each mask in its image (:func:`curve_scores`). The held-out masks stay
training masks of the fold: no test subject of a fold is ever shown to a generator or scored.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from radsynth.io import load_checkpoint, save_checkpoint
from radsynth.synthesis.metrics import predict_slices, structure_consistency

#: Labelled training subjects a fold keeps for its generators at least, when it holds some out.
MIN_TRAINING_SUBJECTS = 2

#: The per-slice arrays of a packed slice file (``packed/<split>.npz``).
ROW_KEYS = ("image", "label", "sdf", "mask", "subject", "slice")

COLUMNS = ["fold", "generator", "step", "structure_dice", "n_masks", "nonempty_share", "heldout_subjects", "heldout_by"]


@dataclass
class Holdout:
    """Rows of a training pack kept from the generators for the structure curve.

    Attributes:
        excluded: int64 rows no generator trains on (every slice of the held-out subjects).
        scored: int64 rows, labelled, among ``excluded``: the masks the curve samples.
        subjects: the held-out subjects, sorted (every subject of ``scored``).
        by: ``"subject"``, ``"slice"`` (too few labelled subjects) or ``"none"`` (no curve).
    """

    excluded: np.ndarray
    scored: np.ndarray
    subjects: list[str]
    by: str


def choose_holdout(subjects: np.ndarray, labels: np.ndarray, *, count: int, masks: int, seed: int) -> Holdout:
    """The held-out rows of one training pack (a fold's ``cv<f>_train``), the same for every
    generator of the fold and for the curve, since all read the same pack.

    Labelled subjects are held out whole, in a seeded order, until there are ``count`` of them
    and their masks number ``masks`` (one-slice subjects such as 2D pictures need several),
    leaving at least half of the labelled subjects, and :data:`MIN_TRAINING_SUBJECTS`, to
    train on. A fold with too few labelled subjects for that holds out ``masks`` labelled
    slices instead (their subjects' other slices stay in training).

    Args:
        subjects: str (N,) the subject of each packed slice.
        labels: integer (N, H, W) masks.
        count: least labelled subjects held out; 0 holds nothing out.
        masks: most held-out masks scored (a seeded choice among the held-out labelled slices).
        seed: the run's seed.

    Returns:
        A :class:`Holdout`.
    """
    subjects, labels = np.asarray(subjects).astype(str), np.asarray(labels)
    labelled = np.flatnonzero(labels.reshape(len(labels), -1).any(axis=1))
    none = np.zeros(0, np.int64)
    if count <= 0 or masks <= 0 or len(labelled) < 2:
        return Holdout(none, none, [], "none")
    rng = np.random.default_rng([int(seed), 17])
    candidates = sorted(set(subjects[labelled]))
    most = len(candidates) - max(MIN_TRAINING_SUBJECTS, (len(candidates) + 1) // 2)
    if most >= count:
        chosen: list[str] = []
        for subject in rng.permutation(candidates):
            enough = len(chosen) >= count and np.isin(subjects[labelled], chosen).sum() >= masks
            if enough or len(chosen) == most:
                break
            chosen.append(str(subject))
        excluded = np.flatnonzero(np.isin(subjects, chosen))
        pool, by = np.intersect1d(labelled, excluded), "subject"
        scored = np.sort(rng.choice(pool, min(masks, len(pool)), replace=False))
    else:  # a handful of subjects: hold out slices, keeping at least one labelled slice to train on
        excluded = scored = np.sort(rng.choice(labelled, min(masks, len(labelled) - 1), replace=False))
        by = "slice"
    return Holdout(excluded.astype(np.int64), scored.astype(np.int64), sorted(set(subjects[scored])), by)


def without_heldout(pack: dict, settings: dict, seed: int) -> dict:
    """A training pack without the rows held out for the curve (``settings``: the rule's
    ``{"subjects", "masks"}``); the pack itself when nothing is held out."""
    holdout = choose_holdout(pack["subject"], pack["label"], count=settings["subjects"], masks=settings["masks"], seed=seed)
    if not len(holdout.excluded):
        return pack
    keep = np.setdiff1d(np.arange(len(pack["label"])), holdout.excluded)
    return {**pack, **{key: pack[key][keep] for key in ROW_KEYS if key in pack}}


def generator_slices(pack: dict, settings: dict, seed: int, source: str = "the training pack", *, labelled: bool = True) -> dict:
    """What a training set's generators learn from: the slices with a labelled structure, the
    only ones ``synthesize`` asks them to draw (or every slice), less those held out for the curve.

    A phantom fold has a lesion in about one slice in seven: trained on every slice, the quick
    schedule's DDPM drew no mask at all, and a base UNet that seldom sees a lesion cannot be
    steered into drawing one by its ControlNet (structure Dice 0 %, against 68 % on the
    labelled slices; docs/fidelity.md).

    Args:
        pack: a packed slice file's arrays.
        settings: the rule's curve settings ``{"subjects", "masks"}``.
        seed: the run's seed.
        source: the pack's file, for the error.
        labelled: False keeps every slice (``synthesis.train_slices: all``, EMIT-Diff's official
            fine-tuning on all of the fold's images).

    Raises:
        ValueError: no slice of the pack has a labelled structure.
    """
    kept = without_heldout(pack, settings, seed)
    if not labelled:
        return kept
    rows = np.flatnonzero(np.asarray(kept["label"]).reshape(len(kept["label"]), -1).any(axis=1))
    if not len(rows):
        raise ValueError(f"{source}: no training slice has a labelled structure for the generators to learn")
    return {**kept, **{key: kept[key][rows] for key in ROW_KEYS if key in kept}}


class Snapshots:
    """Saves the weights a generator has learnt every ``every`` steps, and at the last step, as
    ``<folder>/step<NNNNNN>.pt`` (atomically, ``weights_only``-loadable; only the parts that
    train, merged over the final checkpoint when sampled: :func:`snapshot_generator`).

    A trainer calls it after each optimiser step (and with step 0 before the first) as
    ``snapshot(step, state)``, ``state`` a function returning the CPU state dicts so far, only
    called when a snapshot is due. ``every`` 0 saves nothing (the folder is still made).
    Snakemake clears a job's outputs before it runs, so a preempted job that resumes keeps
    the snapshots from its restart step on only (the curve then starts there).

    Args:
        folder: where the snapshots go (created).
        every: steps between snapshots; 0 for none.
        last: the final step, always saved when ``every`` > 0.
    """

    def __init__(self, folder: str | Path, every: int, last: int):
        self.folder, self.every, self.last = Path(folder), int(every), int(last)
        self.folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, step: int, state: Callable[[], dict]) -> None:
        if self.every > 0 and (step % self.every == 0 or step == self.last):
            save_checkpoint(self.folder / f"step{step:06d}.pt", state(), {"step": int(step)})


def snapshot_steps(folder: str | Path) -> dict[int, Path]:
    """Step -> snapshot file of a :class:`Snapshots` folder, by step."""
    found = {int(m.group(1)): p for p in Path(folder).glob("step*.pt") if (m := re.fullmatch(r"step(\d+)\.pt", p.name))}
    return dict(sorted(found.items()))


def snapshot_generator(final: str | Path, snapshot: str | Path, load: Callable, device=None):
    """The generator of ``final`` (a trained generator's checkpoint) with the weights of
    ``snapshot`` in place of its trained parts; the frozen parts (a ControlNet's base, an
    autoencoder) and the architecture come from ``final``.

    Args:
        final: the generator's final checkpoint (its sidecar beside it).
        snapshot: a :class:`Snapshots` file.
        load: ``radsynth.synthesis.load_generator`` (passed in: the package imports this module).
        device: where to sample.
    """
    state, sidecar = load_checkpoint(final)
    state.update(load_checkpoint(snapshot)[0])
    with tempfile.TemporaryDirectory() as folder:
        merged = Path(folder) / "generator.pt"
        save_checkpoint(merged, state, sidecar)
        return load(merged, device)


def curve_scores(
    snapshots: Iterable[tuple[int, object]],
    images: np.ndarray,
    labels: np.ndarray,
    segmenter,
    *,
    classes: int,
    sampling: dict,
    seed: int,
    device,
) -> pd.DataFrame:
    """Structure Dice of each snapshot's samples of the held-out masks, one sample per mask.

    A conditional generator is scored on the masks it was given (all non-empty). An
    unconditional one (its samples' ``source_index`` -1, the joint DDPM) draws its own masks:
    ``nonempty_share`` is the share of non-empty drawn masks and ``structure_dice`` the mean
    over those (NaN when none is).

    Args:
        snapshots: (step, generator) pairs; each generator answers the common ``sample`` call.
        images: float (M, C, H, W) the real held-out slices (conditional generators' edges).
        labels: integer (M, H, W) their masks.
        segmenter: the fold's real-data segmenter, on ``device``.
        classes: foreground classes.
        sampling: the generators' sampler keywords (``steps``, ``sampler``, ...).
        seed: noise seed, the same for every snapshot.
        device: where to sample and segment.

    Returns:
        Columns ``step, structure_dice, n_masks, nonempty_share``, one row per snapshot.
    """
    rows = []
    for step, generator in snapshots:
        pairs = generator.sample(images, labels, 1, seed=seed, device=device, **sampling)
        drawn = np.asarray(pairs["label"])
        nonempty = np.flatnonzero(drawn.reshape(len(drawn), -1).any(axis=1))
        dice = float("nan")
        if len(nonempty):
            predicted = predict_slices(segmenter, pairs["image"][nonempty], device)
            dice = float(structure_consistency(predicted, drawn[nonempty], classes).mean())
        unconditional = bool((np.asarray(pairs["source_index"]) < 0).all())
        share = len(nonempty) / max(len(drawn), 1) if unconditional else float("nan")
        rows.append({"step": int(step), "structure_dice": dice, "n_masks": len(nonempty), "nonempty_share": share})
    return pd.DataFrame(rows, columns=["step", "structure_dice", "n_masks", "nonempty_share"])


def ceiling_score(images: np.ndarray, labels: np.ndarray, segmenter, *, classes: int, device) -> float:
    """The segmenter's structure Dice on the real held-out slices: the ceiling of the curve."""
    return float(structure_consistency(predict_slices(segmenter, images, device), labels, classes).mean())
