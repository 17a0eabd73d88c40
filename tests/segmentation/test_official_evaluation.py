"""DTC's test protocol (``evaluation: official``): the original volume, zero padding only where
it is smaller than the window, and an empty prediction scoring 0 on every metric, in the mean."""

import numpy as np
import pytest
import torch
from torch import nn

from radsynth.segmentation.evaluate import evaluate_segmentation, predict_volume
from radsynth.segmentation.tables import summarise_runs

torch.set_num_threads(1)


class ThresholdRecorder(nn.Module):
    """Predicts ``image > 0`` and keeps every window it is given."""

    def __init__(self):
        super().__init__()
        self.windows = []

    def forward(self, x):
        self.windows += [w[0].clone() for w in x]
        return 10 * x[:, :1]


def square_case(name, predicted):
    """One slice; reference a 4 x 4 square, prediction ``predicted`` (a box or None)."""
    shape = (16, 16, 1)
    image = np.full((1, *shape), -0.5, np.float32)
    label = np.zeros(shape, np.uint8)
    label[2:6, 2:6, 0] = 1
    if predicted is not None:
        image[(0, *predicted)] = 0.5
    return {"name": name, "image": image, "label": label, "spacing": np.array([2.0, 1.0, 3.0])}


def table_means(evaluation):
    cases = [square_case("row", np.s_[2:7, 2:6, 0:1]), square_case("empty", None)]
    frame, _ = evaluate_segmentation(ThresholdRecorder(), cases, "dtc", "none-n2-s0", device="cpu",
                                     evaluation=evaluation)
    means = summarise_runs(frame).set_index("metric")
    return frame.set_index(["case", "metric"])["value"], means


def test_empty_prediction_scores_zero_and_counts_in_the_mean():
    values, means = table_means("official")
    for metric in ("dice", "jaccard", "hd95", "asd", "hd95_vox", "asd_vox"):
        assert values[("empty", metric)] == 0.0
    # By hand, the one-row-too-long square (16 reference voxels, 20 predicted, the extra row one
    # voxel = 2 mm away along X): Dice 32/36, Jaccard 16/20; pooled distances 32 zeros and 4
    # ones: 95HD 1 voxel = 2 mm; ASD 4 ones over 20 voxels = 0.2 voxel = 0.4 mm.
    row = {"dice": 8 / 9, "jaccard": 0.8, "hd95": 2.0, "asd": 0.4, "hd95_vox": 1.0, "asd_vox": 0.2}
    for metric, value in row.items():
        assert values[("row", metric)] == pytest.approx(value)
        assert means.loc[metric, "mean"] == pytest.approx(value / 2)  # (value + 0) / 2 cases
        assert means.loc[metric, "n"] == 2


def test_radsynth_leaves_the_empty_predictions_distances_out():
    values, means = table_means("radsynth")
    assert values[("empty", "dice")] == 0.0 and np.isnan(values[("empty", "hd95")])
    assert means.loc["dice", "mean"] == pytest.approx(4 / 9)
    assert means.loc["hd95", "mean"] == pytest.approx(2.0) and means.loc["hd95", "n"] == 1


def test_zero_padding_only_where_the_volume_is_smaller_than_the_window():
    image = np.full((1, 5, 10, 4), 0.5, np.float32)
    image[0, 0, 0, 0] = -2.0  # the image minimum, radsynth's padding value
    for evaluation_pad, expected_pad in ((0.0, 0.0), (None, -2.0)):
        model = ThresholdRecorder()
        predict_volume(model, image, spatial_dims=3, device="cpu", patch_size=(8, 8, 4), stride=(4, 2, 4),
                       pad_value=evaluation_pad)
        # x: 5 < 8, padded by 3 as DTC does (1 before, 2 after); y: 10 >= 8, windows at 0 and 2.
        assert len(model.windows) == 2
        for window in model.windows:
            assert window.shape == (8, 8, 4)
            assert torch.all(window[[0, 6, 7]] == expected_pad)
        assert torch.equal(model.windows[0][1:6], torch.as_tensor(image[0, :, 0:8]))


def test_official_evaluation_runs_on_the_original_volume():
    # Preprocessing padded a 5 x 10 x 4 volume into a 12 x 10 x 4 grid with its minimum (-3);
    # the mask marks the original volume.
    grid = np.full((1, 12, 10, 4), -3.0, np.float32)
    grid[0, 3:8] = -0.5
    grid[0, 4:6, 3:6, 1:3] = 0.5
    label = (grid[0] > 0).astype(np.uint8)
    mask = np.zeros((12, 10, 4), np.uint8)
    mask[3:8] = 1
    subject = {"name": "c", "image": grid, "label": label, "spacing": np.ones(3), "mask": mask}
    model = ThresholdRecorder()
    frame, predictions = evaluate_segmentation(model, [subject], "dtc", "none-n1-s0", spatial_dims=3,
                                               device="cpu", patch_size=(8, 8, 4), stride=(4, 2, 4),
                                               evaluation="official", lcc=False)
    # The windows cover the original 5 x 10 x 4 volume padded with zeros, never the grid's -3.
    assert len(model.windows) == 2 and all(torch.all(w[[0, 6, 7]] == 0) for w in model.windows)
    assert all(torch.all(w[1:6] > -1) for w in model.windows)
    assert predictions["c"].shape == label.shape and np.array_equal(predictions["c"], label)
    assert frame.set_index("metric")["value"]["dice"] == 1.0
