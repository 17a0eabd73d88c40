import pandas as pd
import pytest

from radsynth.io import InputError
from radsynth.split import (
    cross_validation_folds,
    fixed_split,
    held_out_subjects,
    labelled_subset,
    split_subjects,
    strata_from_pattern,
    strata_from_table,
    subjects_in,
)


def test_every_subject_in_exactly_one_split():
    subjects = [f"s{i:02d}" for i in range(20)]
    splits = split_subjects(subjects, {"train": 0.6, "val": 0.2, "test": 0.2}, seed=1)
    assert sorted(splits["subject"]) == subjects
    assert splits["subject"].is_unique
    sets = [set(subjects_in(splits, name)) for name in ("train", "val", "test")]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert [len(s) for s in sets] == [12, 4, 4]


def test_split_ignores_listing_order_and_depends_on_seed():
    subjects = [f"s{i}" for i in range(10)]
    fractions = {"train": 0.6, "val": 0.2, "test": 0.2}
    a = split_subjects(subjects, fractions, seed=3)
    b = split_subjects(subjects[::-1], fractions, seed=3)
    assert a.equals(b)
    assert not a.equals(split_subjects(subjects, fractions, seed=4))


def test_small_datasets_keep_a_subject_in_each_split():
    splits = split_subjects(["a", "b", "c"], {"train": 0.8, "val": 0.1, "test": 0.1}, seed=0)
    assert sorted(splits["split"]) == ["test", "train", "val"]
    with pytest.raises(ValueError):
        split_subjects(["a", "b"], {"train": 0.8, "val": 0.1, "test": 0.1}, seed=0)


def test_labelled_subset_is_stable_and_nested_in_the_training_subjects():
    train = [f"s{i}" for i in range(12)]
    quarter = labelled_subset(train, 0.25, seed=0)
    assert len(quarter) == 3 and set(quarter) <= set(train)
    assert quarter == labelled_subset(train[::-1], 0.25, seed=0)
    assert labelled_subset(train, 1.0, seed=0) == sorted(train)
    assert len(labelled_subset(train, 0.01, seed=0)) == 1
    # an integer is a count (DTC: 16 of 80), nested the same way
    assert len(labelled_subset(train, 3, seed=0)) == 3
    assert set(labelled_subset(train, 2, seed=0)) <= set(labelled_subset(train, 3, seed=0))
    with pytest.raises(ValueError, match="training has"):
        labelled_subset(train, len(train) + 1, seed=0)
    with pytest.raises(ValueError, match="share"):
        labelled_subset(train, 1.5, seed=0)


def _no_overlap(splits):
    sets = [set(subjects_in(splits, name)) for name in ("train", "val", "test")]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert splits["subject"].is_unique


def test_stratified_split_keeps_the_strata_in_proportion():
    names = [f"benign_{i}" for i in range(30)] + [f"malignant_{i}" for i in range(10)]
    strata = strata_from_pattern({n: n.replace("_", " (") + ")" for n in names}, r"^(benign|malignant)")
    splits = split_subjects(names, {"train": 0.6, "val": 0.2, "test": 0.2}, seed=0, strata=strata)
    _no_overlap(splits)
    counts = splits.groupby(["split", "stratum"]).size().to_dict()
    assert counts[("test", "benign")] == 6 and counts[("test", "malignant")] == 2
    assert counts[("val", "benign")] == 6 and counts[("val", "malignant")] == 2


def test_k_folds_cover_every_subject_once_as_test():
    names = [f"s{i:02d}" for i in range(23)]
    strata = {n: "a" if i % 3 else "b" for i, n in enumerate(names)}
    tested = []
    for fold in range(5):
        splits = split_subjects(names, {"train": 0.8, "val": 0.2, "test": 0.2}, 0, strata, folds=5, fold=fold)
        _no_overlap(splits)
        test = subjects_in(splits, "test")
        assert set(splits.loc[splits["split"] == "test", "fold"]) == {fold}
        assert len(subjects_in(splits, "val")) >= 1
        tested += test
        # each fold holds both strata
        assert set(splits.loc[splits["split"] == "test", "stratum"]) == {"a", "b"}
    assert sorted(tested) == names


def test_fixed_lists_define_the_splits(tmp_path):
    (tmp_path / "train.list").write_text("A B\nc\n\n# comment\n")
    (tmp_path / "test.list").write_text("d\n")
    subjects = {"A_B": "A B", "c": "c", "d": "d", "e": "e"}
    splits = fixed_split(subjects, {"train": tmp_path / "train.list", "test": tmp_path / "test.list"})
    _no_overlap(splits)
    assert dict(zip(splits["subject"], splits["split"])) == {"A_B": "train", "c": "train", "d": "test", "e": "unused"}


def test_fixed_lists_reject_unknown_and_duplicated_cases(tmp_path):
    (tmp_path / "train.list").write_text("a\nzz\n")
    with pytest.raises(InputError, match="train.list.*zz"):
        fixed_split({"a": "a"}, {"train": tmp_path / "train.list"})
    (tmp_path / "train.list").write_text("a\n")
    (tmp_path / "test.list").write_text("a\n")
    with pytest.raises(InputError, match="also in the train list"):
        fixed_split({"a": "a", "b": "b"}, {"train": tmp_path / "train.list", "test": tmp_path / "test.list"})
    with pytest.raises(InputError, match="missing.list"):
        fixed_split({"a": "a"}, {"train": tmp_path / "missing.list"})


def test_strata_from_a_table(tmp_path):
    (tmp_path / "info.tsv").write_text("subject\tgrade\nx 1\tlow\ny\thigh\n")
    assert strata_from_table({"x_1": "x 1", "y": "y"}, tmp_path / "info.tsv", "grade") == {"x_1": "low", "y": "high"}
    with pytest.raises(InputError, match="no 'grade' for subject 'z'"):
        strata_from_table({"z": "z"}, tmp_path / "info.tsv", "grade")
    with pytest.raises(ValueError, match="does not match"):
        strata_from_pattern({"q": "q"}, "^(benign|malignant)")


def test_cross_validation_folds_hold_out_every_subject_once_and_keep_strata():
    names = [f"s{i:02d}" for i in range(12)]
    strata = {name: "malignant" if i % 3 == 0 else "benign" for i, name in enumerate(names)}
    folds = cross_validation_folds(names, 3, seed=0, strata=strata)
    assert sorted(folds) == names and sorted(set(folds.values())) == [0, 1, 2]
    for fold in range(3):
        held_out = [n for n in names if folds[n] == fold]
        assert len(held_out) == 4 and sum(strata[n] == "malignant" for n in held_out) in (1, 2)
    splits = pd.DataFrame({"subject": names, "split": "train", "cv_fold": [folds[n] for n in names]})
    for fold in range(3):
        train, test = subjects_in(splits, f"cv{fold}_train"), subjects_in(splits, f"cv{fold}_test")
        assert not set(train) & set(test) and sorted(train + test) == names
    with pytest.raises(ValueError, match="folds"):
        cross_validation_folds(names[:2], 3, seed=0)
    with pytest.raises(ValueError, match="cross-validation"):
        subjects_in(splits.drop(columns="cv_fold"), "cv0_train")


def test_held_out_subjects_are_the_test_split_and_every_folds_test_subjects():
    splits = pd.DataFrame({"subject": ["a", "b", "c", "d", "e"], "split": ["train", "test", "val", "train", "unused"]})
    assert held_out_subjects(splits) == ["b"]
    # With the comparison's folds every subject is some fold's test subject.
    folds = splits.assign(cv_fold=[0, 1, 0, 1, None])
    assert held_out_subjects(folds) == ["a", "b", "c", "d"]
    # splits.tsv read back: numeric-looking names stay names.
    assert held_out_subjects(pd.DataFrame({"subject": [7], "split": ["test"]})) == ["7"]
