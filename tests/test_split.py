import pytest

from radsynth.split import labelled_subset, split_subjects, subjects_in


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
