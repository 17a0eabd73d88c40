"""Subject-level splits: slices of one subject never land in two splits.

Four ways, one table (``subject, split, fold, stratum``):

- fractions, optionally stratified by a column (benign/malignant, scanner, ...);
- k folds (stratified too): fold ``k`` is the test set, val and train come from the rest;
- fixed lists when the dataset defines them (the LA train/test lists of DTC);
- the dataset's split folders (``train/ validation/ test/``, ``dataset.groups``).

A subject's split depends only on its name and the seed: a seeded hash of the name is a number
u in [0, 1) and the fractions cut [0, 1) into the splits, so adding or removing other subjects
(a batch of files that failed verification, a fixed file) never moves it. Fractions and strata
hold on average rather than exactly; only when a wanted split would be empty does the subject
nearest to it move in. The cross-validation folds of the augmentation comparison are dealt
round-robin instead, so their sizes differ by at most one (the comparison is retrained as a
whole whenever its subjects change).
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


def _unit(name: str, seed: int, salt: str = "") -> float:
    """A seeded hash of a name as a number in [0, 1)."""
    return zlib.crc32(f"{salt}{seed}:{name}".encode()) / 2**32


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


def _cut(units: Mapping[str, float], shares: Mapping[str, float]) -> dict[str, str]:
    """Each name to the part of [0, 1) its unit falls in; parts in the order of ``shares``
    (normalised), each ``[start, start + share)``."""
    total = sum(shares.values())
    bounds, start = [], 0.0
    for part, share in shares.items():
        start += share / total
        bounds.append((start, part))
    return {name: next((part for end, part in bounds if u < end), bounds[-1][1]) for name, u in units.items()}


def _fill_empty(assignment: dict, units: Mapping[str, float], centres: Mapping[str, float], donor: str) -> None:
    """Give each empty part of ``centres`` the donor's subject whose unit is nearest its centre."""
    for part, centre in centres.items():
        if part in assignment.values():
            continue
        candidates = [name for name, got in assignment.items() if got == donor]
        if len(candidates) < 2:
            raise ValueError(f"{len(assignment)} subjects cannot fill {donor} + {' + '.join(centres)}")
        assignment[min(candidates, key=lambda name: (abs(units[name] - centre), name))] = part


def split_subjects(
    subjects: Sequence[str],
    fractions: Mapping[str, float],
    seed: int,
    strata: Mapping[str, str] | None = None,
    folds: int = 1,
    fold: int = 0,
) -> pd.DataFrame:
    """Assign each subject to train, val or test, by its name and the seed only.

    Every split with a positive fraction gets at least one subject when there are enough.

    Args:
        subjects: subject identifiers.
        fractions: ``{"train": .6, "val": .2, "test": .2}``; normalised to sum to 1. With
            ``folds > 1`` the test share is one fold and only the train:val ratio is used.
        seed: random seed.
        strata: subject -> stratum, recorded in the table (the shares hold within each
            stratum on average, as for the whole set).
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
    units = {name: _unit(name, seed) for name in names}
    train_val = {"val": fractions.get("val", 0.0), "train": fractions.get("train", 0.0)}
    if folds > 1:
        if len(names) < folds + 1:
            raise ValueError(f"{len(names)} subjects cannot fill {folds} folds and a training set")
        fold_units = {name: _unit(name, seed, salt="fold:") for name in names}
        fold_of = {name: int(u * folds) for name, u in fold_units.items()}
        # Only an empty fold moves anyone: the subject nearest to it, from the largest fold.
        for empty in (k for k in range(folds) if k not in fold_of.values()):
            largest = max(range(folds), key=lambda k: (sum(f == k for f in fold_of.values()), -k))
            donors = [name for name in names if fold_of[name] == largest]
            fold_of[min(donors, key=lambda name: (abs(fold_units[name] - (empty + 0.5) / folds), name))] = empty
        rest = {name: u for name, u in units.items() if fold_of[name] != fold}
        assignment = {name: "test" for name in names if fold_of[name] == fold}
        if train_val["val"] > 0:
            inner = _cut(rest, train_val)
            _fill_empty(inner, rest, {"val": train_val["val"] / (2 * sum(train_val.values()))}, "train")
        else:
            inner = dict.fromkeys(rest, "train")
        assignment.update(inner)
        return _frame(names, assignment, fold_of, strata)
    shares = {split: fractions.get(split, 0.0) for split in ("test", "val", "train")}
    wanted = [split for split in ("test", "val") if shares[split] > 0]
    if len(names) < len(wanted) + 1:
        raise ValueError(f"{len(names)} subjects cannot fill train + {' + '.join(wanted)}")
    assignment = _cut(units, {split: share for split, share in shares.items() if share > 0})
    total, start, centres = sum(shares.values()), 0.0, {}
    for split, share in shares.items():
        centres[split] = start + share / (2 * total)
        start += share / total
    _fill_empty(assignment, units, {split: centres[split] for split in wanted}, "train")
    return _frame(names, assignment, strata=strata)


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
        raise ValueError(
            f"{len(names)} subjects cannot fill {folds} cross-validation folds (k >= 2 folds, each holding "
            "out at least one subject while the others train)"
        )
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




def fixed_split(
    subjects: Mapping[str, str], lists: Mapping[str, str | Path], excluded: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """The splits a dataset defines as case lists (one name per line).

    Subjects in no list are marked ``unused``; a listed case that is not in the dataset, or a
    case in two lists, is an error. A listed case that the dataset has but that failed its
    checks (``excluded``) is left out.

    Args:
        subjects: subject identifier -> the name the lists use (the dataset's own case name).
        lists: split name (train, val, test) -> path of its list file.
        excluded: the same mapping for the dataset's subjects that cannot be used.
    """
    excluded = dict(excluded or {})
    known = {**subjects, **excluded}
    by_name = {name: subject for subject, name in known.items()}
    assignment: dict[str, str] = {}
    for split, path in lists.items():
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r} in split.lists (use {', '.join(SPLITS)})")
        listed = read_case_list(path)
        missing = [name for name in listed if name not in by_name and name not in known]
        if missing:
            raise InputError(path, f"{len(missing)} listed cases are not in the dataset: {', '.join(missing[:5])}")
        for name in listed:
            subject = by_name.get(name, name)
            if subject in assignment:
                raise InputError(path, f"case {name} is also in the {assignment[subject]} list")
            assignment[subject] = split
    assignment = {subject: split for subject, split in assignment.items() if subject not in excluded}
    for subject in subjects:
        assignment.setdefault(subject, UNUSED)
    return _frame(subjects, assignment)


def split_from_groups(groups: Mapping[str, str], mapping: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """The splits a dataset defines by its folders (deepmedic's ``train/ validation/ test/``).

    Subjects of a folder that no split takes are marked ``unused``; the stratum is the folder.

    Args:
        groups: subject identifier -> its group folder (``SubjectSource.group``).
        mapping: split (train, val, test) -> the group folders it takes (``split.groups``),
            e.g. ``{"train": ["train"], "val": ["validation"], "test": ["test"]}``.

    Returns:
        The table of :func:`fixed_split` (``subject, split, fold, stratum``).

    Raises:
        ValueError: an unknown split, a folder taken by two splits, or a folder that no
            subject is in (a typo, or subjects read without ``dataset.groups``).
    """
    split_of: dict[str, str] = {}
    for split, folders in mapping.items():
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r} in split.groups (use {', '.join(SPLITS)})")
        for folder in folders:
            if folder in split_of:
                raise ValueError(f"split.groups: folder {folder!r} is in both {split_of[folder]} and {split}")
            split_of[folder] = split
    present = set(groups.values())
    absent = sorted(set(split_of) - present)
    if absent:
        found = ", ".join(sorted(present - {""})) or "none (set dataset.groups)"
        raise ValueError(f"split.groups names folders {absent} that hold no subject; group folders: {found}")
    assignment = {subject: split_of.get(group, UNUSED) for subject, group in groups.items()}
    return _frame(groups, assignment, strata=dict(groups))


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
        subjects: subject identifier -> dataset name (``"benign (10)"``; ``"benign/benign
            (10)"`` for a subject of a group folder, so ``"^([^/]+)/"`` takes the folder).
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


def subjects_in(splits: pd.DataFrame, split: str, task: str | None = None) -> list[str]:
    """The subjects of one split, sorted: ``train``/``val``/``test``, or ``cv<f>_train`` /
    ``cv<f>_test`` of the cross-validation folds (column ``cv_fold``).

    Args:
        splits: splits.tsv (or cv_folds.tsv) as a table.
        split: the split's name.
        task: leave out the subjects whose ``excluded`` column names this task (a channel the
            task reads is a copy of another, :func:`radsynth.data.duplicates.subjects_to_drop`).
    """
    if task is not None and "excluded" in splits:
        excluded = splits["excluded"].fillna("").astype(str).str.split(",").map(lambda tasks: task in tasks)
        splits = splits[~excluded]
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


def excluded_subjects(splits: pd.DataFrame, task: str) -> list[str]:
    """The subjects a task must not read, sorted: those whose ``excluded`` column names it."""
    if "excluded" not in splits:
        return []
    tasks = splits["excluded"].fillna("").astype(str).str.split(",")
    return sorted(splits.loc[tasks.map(lambda names: task in names), "subject"].astype(str))


def labelled_subset(
    subjects: Sequence[str], amount: int | float, seed: int, listed: Sequence[str] | None = None
) -> list[str]:
    """The training subjects whose labels a semi-supervised run may use.

    Depends only on the seed and the names, so every method at one amount and seed sees the
    same labelled subjects, and at least one subject is labelled.

    Args:
        subjects: training subjects.
        amount: a count (int, DTC: 16 of 80) or a share in (0, 1] (float).
        seed: random seed (unused with ``listed``).
        listed: the training subjects in the order of the dataset's own train list: the first
            ones are labelled, whatever the seed (DTC: ``labeled_idxs = range(labelnum)`` of
            ``train.list``). Listed names that are not in ``subjects`` are skipped.

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
    if listed is not None:
        present = set(subjects)
        ordered = [name for name in dict.fromkeys(listed) if name in present]
        if len(ordered) < count:
            raise ValueError(f"{count} labelled subjects asked for, but the train list names {len(ordered)} of them")
        return sorted(ordered[:count])
    shuffled = _hash_order(subjects, seed, salt="labelled:")
    return sorted(shuffled[:count])
