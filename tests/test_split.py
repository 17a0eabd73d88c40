import zlib

import pandas as pd
import pytest

from radsynth.io import InputError
from radsynth.split import (
    cross_validation_folds,
    fixed_split,
    held_out_subjects,
    labelled_subset,
    split_from_groups,
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
    assert all(sets)


def test_a_subjects_split_depends_only_on_its_name_and_the_seed():
    # Removing subjects (files that failed their checks, or were deleted) moves nobody else.
    fractions = {"train": 0.6, "val": 0.2, "test": 0.2}
    subjects = [f"case_{i:03d}" for i in range(60)]
    full = dict(zip(*split_subjects(subjects, fractions, seed=7)[["subject", "split"]].T.values))
    fewer = split_subjects(subjects[::3], fractions, seed=7)
    assert all(full[s] == split for s, split in zip(fewer["subject"], fewer["split"]))
    # The cut is the hash's: u = crc32("<seed>:<name>") / 2^32 in [0, 1), test first, then val.
    u = zlib.crc32(b"7:case_000") / 2**32
    assert full["case_000"] == ("test" if u < 0.2 else "val" if u < 0.4 else "train")


def test_fractions_hold_on_a_large_set():
    splits = split_subjects([f"s{i:04d}" for i in range(3000)], {"train": 0.6, "val": 0.2, "test": 0.2}, seed=0)
    shares = splits["split"].value_counts(normalize=True)
    assert shares["train"] == pytest.approx(0.6, abs=0.03)
    assert shares["val"] == pytest.approx(0.2, abs=0.03) and shares["test"] == pytest.approx(0.2, abs=0.03)


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
    with pytest.raises(ValueError, match="2 subjects cannot fill train \\+ test \\+ val"):
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


def test_stratified_split_records_the_strata_and_keeps_them_in_proportion_on_average():
    names = [f"benign_{i}" for i in range(900)] + [f"malignant_{i}" for i in range(300)]
    strata = strata_from_pattern({n: n.replace("_", " (") + ")" for n in names}, r"^(benign|malignant)")
    splits = split_subjects(names, {"train": 0.6, "val": 0.2, "test": 0.2}, seed=0, strata=strata)
    _no_overlap(splits)
    assert dict(zip(splits["subject"], splits["stratum"])) == strata
    for stratum, size in (("benign", 900), ("malignant", 300)):
        test = ((splits["split"] == "test") & (splits["stratum"] == stratum)).sum()
        assert test / size == pytest.approx(0.2, abs=0.05)


def test_k_folds_cover_every_subject_once_as_test():
    names = [f"s{i:02d}" for i in range(23)]
    tested = []
    for fold in range(5):
        splits = split_subjects(names, {"train": 0.8, "val": 0.2, "test": 0.2}, 0, folds=5, fold=fold)
        _no_overlap(splits)
        test = subjects_in(splits, "test")
        assert test and set(splits.loc[splits["split"] == "test", "fold"]) == {fold}
        assert len(subjects_in(splits, "val")) >= 1
        tested += test
    assert sorted(tested) == names
    # A fold that the hash leaves empty gets the nearest subject: 6 subjects always fill 5 folds.
    for seed in range(20):
        folds = split_subjects(names[:6], {"train": 1.0}, seed, folds=5, fold=0)["fold"]
        assert set(folds) == set(range(5))


def test_fixed_lists_define_the_splits(tmp_path):
    (tmp_path / "train.list").write_text("A B\nc\n\n# comment\n")
    (tmp_path / "test.list").write_text("d\n")
    subjects = {"A_B": "A B", "c": "c", "d": "d", "e": "e"}
    splits = fixed_split(subjects, {"train": tmp_path / "train.list", "test": tmp_path / "test.list"})
    _no_overlap(splits)
    assert dict(zip(splits["subject"], splits["split"])) == {"A_B": "train", "c": "train", "d": "test", "e": "unused"}


def test_fixed_lists_leave_out_cases_that_failed_their_checks(tmp_path):
    (tmp_path / "train.list").write_text("a\nbroken\n")
    (tmp_path / "test.list").write_text("c\n")
    splits = fixed_split({"a": "a", "c": "c"}, {"train": tmp_path / "train.list", "test": tmp_path / "test.list"},
                         excluded={"broken": "broken"})
    assert dict(zip(splits["subject"], splits["split"])) == {"a": "train", "c": "test"}


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


# --- splits and strata from group folders -----------------------------------------------------


def test_split_from_the_split_folders_of_a_generated_dataset(tmp_path):
    """deepmedic's BraTS layout: train/ validation/ test/ of subject folders of NIfTI files."""
    from radsynth.data import discover
    from tests.data.test_nifti import BRATS21, make_subject

    for group, names in {"train": ["a", "b", "c"], "validation": ["d"], "test": ["e", "a"], "extra": ["f"]}.items():
        for name in names:
            make_subject(tmp_path / group, name, BRATS21)
    sources = discover({"kind": "nifti", "root": str(tmp_path), "naming": "brats2021", "channels": ["t1"],
                        "classes": [1], "groups": True})
    groups = {s.subject: s.group for s in sources}
    splits = split_from_groups(groups, {"train": ["train"], "val": ["validation"], "test": ["test"]})
    assert dict(zip(splits["subject"], splits["split"])) == {
        "extra_f": "unused", "test_a": "test", "test_e": "test", "train_a": "train", "train_b": "train",
        "train_c": "train", "validation_d": "val"}
    assert list(splits.columns) == ["subject", "split", "fold", "stratum"]
    assert splits.set_index("subject").loc["validation_d", "stratum"] == "validation"
    _no_overlap(splits)
    # Two folders may feed one split.
    merged = split_from_groups(groups, {"train": ["train", "extra"], "test": ["test", "validation"]})
    assert sorted(subjects_in(merged, "test")) == ["test_a", "test_e", "validation_d"]
    assert "extra_f" in subjects_in(merged, "train")


@pytest.mark.parametrize("mapping, match", [
    ({"train": ["train"], "test": ["train"]}, "folder 'train' is in both train and test"),
    ({"train": ["train"], "test": ["testing"]}, r"names folders \['testing'\] that hold no subject; group folders: test, train"),
    ({"holdout": ["test"]}, "unknown split 'holdout'"),
])
def test_split_from_groups_config_errors(mapping, match):
    with pytest.raises(ValueError, match=match):
        split_from_groups({"train_a": "train", "test_b": "test"}, mapping)


def test_split_from_groups_without_groups_says_so():
    with pytest.raises(ValueError, match=r"group folders: none \(set dataset.groups\)"):
        split_from_groups({"a": "", "b": ""}, {"train": ["train"]})


def test_strata_from_class_folders_of_a_generated_busi(tmp_path):
    """The original BUSI download: benign/ malignant/ normal/, names without the class."""
    import imageio.v3 as iio
    import numpy as np

    from radsynth.data import discover

    for group, count in {"benign": 6, "malignant": 3, "normal": 3}.items():
        (tmp_path / group).mkdir()
        for i in range(count):
            iio.imwrite(tmp_path / group / f"case ({i}).png", np.full((4, 5), 10 + i, np.uint8))
            iio.imwrite(tmp_path / group / f"case ({i})_mask.png", np.zeros((4, 5), np.uint8))
    sources = discover({"kind": "image_pairs", "root": str(tmp_path), "channels": ["us"], "classes": [1],
                        "images": ".", "masks": ".", "mask_suffix": "_mask", "groups": True})
    names = {s.subject: s.name for s in sources}
    assert names["benign_case_0"] == "benign/case (0)" and len(names) == 12
    strata = strata_from_pattern(names, "^([^/]+)/")
    assert strata["malignant_case_2"] == "malignant"
    assert strata == strata_from_pattern(names, "^(benign|malignant|normal)")
    splits = split_subjects(list(names), {"train": 2, "val": 1, "test": 1}, seed=0, strata=strata)
    test = splits[splits["split"] == "test"]
    assert sorted(test["stratum"]) == ["benign", "malignant", "normal"]


def test_held_out_subjects_are_the_test_split_and_every_folds_test_subjects():
    splits = pd.DataFrame({"subject": ["a", "b", "c", "d", "e"], "split": ["train", "test", "val", "train", "unused"]})
    assert held_out_subjects(splits) == ["b"]
    # With the comparison's folds every subject is some fold's test subject.
    folds = splits.assign(cv_fold=[0, 1, 0, 1, None])
    assert held_out_subjects(folds) == ["a", "b", "c", "d"]
    # splits.tsv read back: numeric-looking names stay names.
    assert held_out_subjects(pd.DataFrame({"subject": [7], "split": ["test"]})) == ["7"]
