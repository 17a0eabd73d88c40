"""DTC labels the first N cases of train.list (``labeled_idxs = range(labelnum)``)."""

import pytest

from radsynth.split import labelled_subset, read_case_list


def test_labelled_cases_are_the_first_of_the_train_list_in_file_order(tmp_path):
    order = ["ZQ9", "A01", "M55", "B77", "C03", "K20"]  # deliberately not sorted
    path = tmp_path / "train.list"
    path.write_text("# DTC-style list\n" + "\n".join(order) + "\n\n")
    listed = read_case_list(path)
    train = sorted(order)  # splits.tsv hands the training subjects over sorted
    for seed in (0, 1, 7):  # the seed does not move the labelled cases
        assert labelled_subset(train, 2, seed, listed=listed) == ["A01", "ZQ9"]
        assert labelled_subset(train, 4, seed, listed=listed) == sorted(["ZQ9", "A01", "M55", "B77"])
    assert labelled_subset(train, 0.5, 0, listed=listed) == sorted(order[:3])
    # A seeded draw (radsynth's default) is not tied to the list's head.
    drawn = {tuple(labelled_subset(train, 2, seed)) for seed in range(10)}
    assert len(drawn) > 1


def test_listed_cases_outside_training_are_skipped_and_too_few_refused():
    listed = ["X", "A", "B", "C"]  # X failed its checks: not a training subject
    assert labelled_subset(["A", "B", "C"], 2, 0, listed=listed) == ["A", "B"]
    with pytest.raises(ValueError, match="the train list names 2 of them"):
        labelled_subset(["A", "B", "C"], 3, 0, listed=["A", "B"])
