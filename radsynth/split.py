"""Subject-level train/val/test splits: slices of one subject never land in two splits."""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence

import pandas as pd

SPLITS = ("train", "val", "test")


def split_subjects(subjects: Sequence[str], fractions: Mapping[str, float], seed: int) -> pd.DataFrame:
    """Assign each subject to train, val or test.

    The shuffle depends only on the seed and the subject names (not their order), and every
    split with a positive fraction gets at least one subject when there are enough.

    Args:
        subjects: subject identifiers.
        fractions: ``{"train": .6, "val": .2, "test": .2}``; normalised to sum to 1.
        seed: random seed.

    Returns:
        DataFrame with columns ``subject`` and ``split``, sorted by subject.
    """
    names = sorted(set(subjects))
    if len(names) != len(subjects):
        raise ValueError("subject identifiers must be unique")
    total = sum(fractions.get(split, 0.0) for split in SPLITS)
    wanted = [split for split in ("test", "val") if fractions.get(split, 0.0) > 0]
    if len(names) < len(wanted) + 1:
        raise ValueError(f"{len(names)} subjects cannot fill train + {' + '.join(wanted)}")
    # A seeded hash per name: the shuffle ignores the order the subjects were listed in.
    shuffled = sorted(names, key=lambda name: zlib.crc32(f"{seed}:{name}".encode()))

    assignment, taken = {}, 0
    for split in wanted:
        count = max(1, round(len(names) * fractions[split] / total))
        count = min(count, len(names) - taken - 1)  # keep at least one training subject
        for name in shuffled[taken : taken + count]:
            assignment[name] = split
        taken += count
    for name in shuffled[taken:]:
        assignment[name] = "train"
    return pd.DataFrame({"subject": names, "split": [assignment[n] for n in names]})


def subjects_in(splits: pd.DataFrame, split: str) -> list[str]:
    """The subjects of one split, sorted."""
    return sorted(splits.loc[splits["split"] == split, "subject"])


def labelled_subset(subjects: Sequence[str], fraction: float, seed: int) -> list[str]:
    """The training subjects whose labels a semi-supervised run may use.

    Depends only on the seed and the names, so every method at one fraction sees the same
    labelled subjects, and at least one subject is labelled.

    Args:
        subjects: training subjects.
        fraction: share of them that is labelled, in (0, 1].
        seed: random seed.
    """
    count = min(len(subjects), max(1, round(fraction * len(subjects))))
    shuffled = sorted(subjects, key=lambda name: zlib.crc32(f"labelled:{seed}:{name}".encode()))
    return sorted(shuffled[:count])
