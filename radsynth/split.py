"""Subject-level splits: slices of one subject never land in two splits.

Three ways, one table (``subject, split, fold, stratum``):

- fractions, optionally stratified by a column (benign/malignant, scanner, ...);
- k folds (stratified too): fold ``k`` is the test set, val and train come from the rest;
- fixed lists when the dataset defines them (the LA train/test lists of DTC).

Every shuffle is a seeded hash of the subject name, so the result never depends on the order
the subjects were listed in.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from radsynth.io import InputError

SPLITS = ("train", "val", "test")
UNUSED = "unused"


def _hash_order(names: Sequence[str], seed: int, salt: str = "") -> list[str]:
    return sorted(names, key=lambda name: zlib.crc32(f"{salt}{seed}:{name}".encode()))


def _stratified_order(names: Sequence[str], strata: Mapping[str, str] | None, seed: int) -> list[str]:
    """Names shuffled so that every prefix holds each stratum in proportion.

    Each stratum is shuffled on its own; a name at rank i of a stratum of size n is placed at
    (i + 0.5) / n, so taking the first m names takes about m * n / N of each stratum.
    """
    if not strata:
        return _hash_order(names, seed)
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(strata[name], []).append(name)
    keyed = []
    for members in groups.values():
        for rank, name in enumerate(_hash_order(members, seed)):
            keyed.append(((rank + 0.5) / len(members), zlib.crc32(f"{seed}:{name}".encode()), name))
    return [name for *_, name in sorted(keyed)]


def _frame(names, assignment, folds=None, strata=None) -> pd.DataFrame:
    names = sorted(names)
    return pd.DataFrame(
        {
            "subject": names,
            "split": [assignment[n] for n in names],
            "fold": [folds[n] if folds else 0 for n in names],
            "stratum": [strata[n] if strata else "" for n in names],
        }
    )


def split_subjects(
    subjects: Sequence[str],
    fractions: Mapping[str, float],
    seed: int,
    strata: Mapping[str, str] | None = None,
    folds: int = 1,
    fold: int = 0,
) -> pd.DataFrame:
    """Assign each subject to train, val or test.

    Every split with a positive fraction gets at least one subject when there are enough.

    Args:
        subjects: subject identifiers.
        fractions: ``{"train": .6, "val": .2, "test": .2}``; normalised to sum to 1. With
            ``folds > 1`` the test share is one fold and only the train:val ratio is used.
        seed: random seed.
        strata: subject -> stratum; every split (and fold) keeps the strata in proportion.
        folds: number of folds; 1 for a single split.
        fold: which fold is the test set (0-based).

    Returns:
        DataFrame with columns ``subject``, ``split``, ``fold``, ``stratum``, sorted by subject.
    """
    names = sorted(set(subjects))
    if len(names) != len(subjects):
        raise ValueError("subject identifiers must be unique")
    if folds < 1 or not 0 <= fold < folds:
        raise ValueError(f"fold {fold} is not one of {folds} folds")
    order = _stratified_order(names, strata, seed)
    if folds > 1:
        if len(names) < folds + 1:
            raise ValueError(f"{len(names)} subjects cannot fill {folds} folds")
        fold_of = {name: position % folds for position, name in enumerate(order)}
        rest = [name for name in order if fold_of[name] != fold]
        assignment = {name: "test" for name in order if fold_of[name] == fold}
        train_val = {"train": fractions.get("train", 0.0), "val": fractions.get("val", 0.0)}
        assignment.update(_assign(rest, train_val, wanted=["val"] if train_val["val"] > 0 else []))
        return _frame(names, assignment, fold_of, strata)
    wanted = [split for split in ("test", "val") if fractions.get(split, 0.0) > 0]
    return _frame(names, _assign(order, fractions, wanted), strata=strata)


def cross_validation_folds(
    subjects: Sequence[str], folds: int, seed: int, strata: Mapping[str, str] | None = None
) -> dict[str, int]:
    """Subject -> fold (0..k-1) for a k-fold comparison over every subject.

    Independent of the train/val/test split: in fold f the subjects of fold f are held out
    and every other subject trains (and is the only source of that fold's synthetic data).

    Args:
        subjects: subject identifiers.
        folds: k, at least 2.
        seed: random seed.
        strata: subject -> stratum, or None.

    Returns:
        A dict subject -> fold.
    """
    names = sorted(set(subjects))
    if folds < 2 or len(names) < folds:
        raise ValueError(f"{len(names)} subjects cannot fill {folds} cross-validation folds (need k >= 2)")
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(strata[name] if strata else "", []).append(name)
    # Deal each stratum round-robin, continuing where the previous one stopped, so every fold
    # gets its share of each stratum and the fold sizes differ by at most one.
    folds_of, dealt = {}, 0
    for stratum in sorted(groups):
        for name in _hash_order(groups[stratum], seed, salt="cv:"):
            folds_of[name] = dealt % folds
            dealt += 1
    return folds_of


def _assign(order: Sequence[str], fractions: Mapping[str, float], wanted: Sequence[str]) -> dict[str, str]:
    """Take each wanted split's share from the front of ``order``; the rest is train."""
    if len(order) < len(wanted) + 1:
        raise ValueError(f"{len(order)} subjects cannot fill train + {' + '.join(wanted)}")
    total = sum(fractions.get(split, 0.0) for split in SPLITS)
    assignment, taken = {}, 0
    for split in wanted:
        count = max(1, round(len(order) * fractions[split] / total))
        count = min(count, len(order) - taken - 1)  # keep at least one training subject
        for name in order[taken : taken + count]:
            assignment[name] = split
        taken += count
    for name in order[taken:]:
        assignment[name] = "train"
    return assignment


def fixed_split(subjects: Mapping[str, str], lists: Mapping[str, str | Path]) -> pd.DataFrame:
    """The splits a dataset defines as case lists (one name per line).

    Subjects in no list are marked ``unused``; a listed case that is not in the dataset, or a
    case in two lists, is an error.

    Args:
        subjects: subject identifier -> the name the lists use (the dataset's own case name).
        lists: split name (train, val, test) -> path of its list file.
    """
    by_name = {name: subject for subject, name in subjects.items()}
    assignment: dict[str, str] = {}
    for split, path in lists.items():
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r} in split.lists (use {', '.join(SPLITS)})")
        listed = read_case_list(path)
        missing = [name for name in listed if name not in by_name and name not in subjects]
        if missing:
            raise InputError(path, f"{len(missing)} listed cases are not in the dataset: {', '.join(missing[:5])}")
        for name in listed:
            subject = by_name.get(name, name)
            if subject in assignment:
                raise InputError(path, f"case {name} is also in the {assignment[subject]} list")
            assignment[subject] = split
    for subject in subjects:
        assignment.setdefault(subject, UNUSED)
    return _frame(subjects, assignment)


def read_case_list(path: str | Path) -> list[str]:
    """Case names of a list file, one per line; blank lines and ``#`` comments ignored."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as err:
        raise InputError(path, f"cannot read case list ({err.strerror})") from err
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def strata_from_pattern(subjects: Mapping[str, str], pattern: str) -> dict[str, str]:
    """Stratum of each subject from its dataset name: the first group of ``pattern``.

    Args:
        subjects: subject identifier -> dataset name (``"benign (10)"``).
        pattern: regular expression searched in the name, e.g. ``"^(benign|malignant)"``.
    """
    regex = re.compile(pattern)
    strata = {}
    for subject, name in subjects.items():
        found = regex.search(name)
        if not found:
            raise ValueError(f"split.stratify.pattern {pattern!r} does not match subject {name!r}")
        strata[subject] = found.group(1) if regex.groups else found.group(0)
    return strata


def strata_from_table(subjects: Mapping[str, str], path: str | Path, column: str) -> dict[str, str]:
    """Stratum of each subject from a TSV/CSV table with a ``subject`` column.

    The table's ``subject`` may hold the identifier or the dataset name.
    """
    try:
        table = pd.read_csv(path, sep=None, engine="python", dtype=str)
    except (OSError, pd.errors.ParserError) as err:
        raise InputError(path, f"cannot read stratification table ({err})") from err
    for needed in ("subject", column):
        if needed not in table:
            raise InputError(path, f"has no column {needed!r} (columns: {', '.join(table.columns)})")
    values = dict(zip(table["subject"], table[column]))
    strata = {}
    for subject, name in subjects.items():
        value = values.get(subject, values.get(name))
        if value is None or pd.isna(value):
            raise InputError(path, f"no {column!r} for subject {name!r}")
        strata[subject] = str(value)
    return strata


def subjects_in(splits: pd.DataFrame, split: str) -> list[str]:
    """The subjects of one split, sorted: ``train``/``val``/``test``, or ``cv<f>_train`` /
    ``cv<f>_test`` of the cross-validation folds (column ``cv_fold``)."""
    match = re.fullmatch(r"cv(\d+)_(train|test)", split)
    if match is None:
        return sorted(splits.loc[splits["split"] == split, "subject"])
    if "cv_fold" not in splits:
        raise ValueError(f"{split}: splits.tsv has no cross-validation folds (augmentation.folds)")
    held_out = splits["cv_fold"] == int(match.group(1))
    return sorted(splits.loc[held_out if match.group(2) == "test" else ~held_out, "subject"])


def held_out_subjects(splits: pd.DataFrame) -> list[str]:
    """Every subject some evaluation tests on, sorted: the ``test`` split and, with
    cross-validation folds (column ``cv_fold``), each fold's held-out subjects."""
    held_out = splits["split"] == "test"
    if "cv_fold" in splits:
        held_out |= splits["cv_fold"].notna()
    return sorted(splits.loc[held_out, "subject"].astype(str))


def labelled_subset(subjects: Sequence[str], amount: int | float, seed: int) -> list[str]:
    """The training subjects whose labels a semi-supervised run may use.

    Depends only on the seed and the names, so every method at one amount and seed sees the
    same labelled subjects, and at least one subject is labelled.

    Args:
        subjects: training subjects.
        amount: a count (int, DTC: 16 of 80) or a share in (0, 1] (float).
        seed: random seed.

    Raises:
        ValueError: a count larger than the training subjects, or a share outside (0, 1].
    """
    if isinstance(amount, (int, np.integer)) and not isinstance(amount, bool):
        if not 0 < amount <= len(subjects):
            raise ValueError(f"{amount} labelled subjects asked for, but training has {len(subjects)}")
        count = int(amount)
    else:
        if not 0 < amount <= 1:
            raise ValueError(f"labelled share must be in (0, 1], got {amount}")
        count = min(len(subjects), max(1, round(amount * len(subjects))))
    shuffled = _hash_order(subjects, seed, salt="labelled:")
    return sorted(shuffled[:count])
