import numpy as np
import pandas as pd
import pytest
import torch

from radsynth.temporal.evaluate import blended_labels, carried_labels, generate_and_score, linear_frames, psnr
from radsynth.temporal.figures import cycle_gif, frames_figure
from radsynth.temporal.phantom import CineSubject, cine_subject
from radsynth.temporal.tables import temporal_table


def test_linear_interpolation_is_scored_on_the_intermediate_frames():
    # The true middle frame is the mean of ED and ES, so linear interpolation is exact there.
    ed, es = np.zeros((8, 8), np.float32), np.full((8, 8), 0.5, np.float32)
    labels = np.zeros((3, 8, 8), np.uint8)
    labels[0, :4] = 3  # LV in rows 0-3 at ED, row 0 at ES
    labels[2, :1] = 3
    labels[1, :1] = 3  # the blend at gamma 0.5: rows 1-3 tie LV with background, arg max takes background
    cine = CineSubject("c", np.stack([ed, (ed + es) / 2, es]), labels)
    metrics, examples = generate_and_score([cine], {}, ["linear"])
    values = metrics.set_index("metric")["value"]
    assert values["psnr"] == float("inf") and values["nmse"] == 0.0
    assert values["dice_LV"] == 1.0  # frames 1 and 2 both match
    assert values["dice_RV"] == 1.0  # absent in truth and prediction
    assert examples["linear"].shape == (3, 8, 8)
    blended = blended_labels(torch.as_tensor(labels[:1][None]), torch.as_tensor(labels[2:][None]), [0.25], 4)
    assert (blended[0, 0, 0] == 3).sum() == 32  # at gamma 0.25 ED's LV still wins


def test_psnr_has_a_data_range_of_one():
    assert psnr(np.zeros((4, 4)), np.full((4, 4), 0.1)) == pytest.approx(20.0)


def test_carried_labels_follow_the_field():
    labels = torch.zeros(1, 1, 8, 8, dtype=torch.long)
    labels[0, 0, 2:4, 2:4] = 2
    fields = torch.zeros(1, 2, 2, 8, 8)
    fields[0, 1, 1] = -1.0  # second frame: one column to the right
    carried = carried_labels(labels, fields)
    assert torch.equal(carried[0, 0], labels[0])
    assert torch.equal(carried[0, 1, 0], torch.roll(labels[0, 0], 1, dims=1))


def test_table_and_figures(tmp_path):
    cine = cine_subject(0, 0, size=32, frames=4)
    frames = linear_frames(torch.as_tensor(cine.frames[:1][None]), torch.as_tensor(cine.frames[-1:][None]), [0, 1 / 3, 2 / 3, 1])
    metrics, examples = generate_and_score([cine, cine_subject(0, 1, size=32, frames=4)], {}, ["linear"])
    assert np.allclose(examples["linear"], frames[0, :, 0].numpy())
    summary, table = temporal_table(metrics, ["ddm", "linear"])
    assert table["Method"].tolist() == ["Linear interpolation"] and table["Cines"].tolist() == [2]
    assert table["PSNR (dB) ↑"].iloc[0] != "–"
    assert set(metrics["metric"]) == {"psnr", "nmse", "dice_RV", "dice_MYO", "dice_LV"}
    frames_figure(examples, ["linear"], tmp_path / "temporal.png")
    cycle_gif([examples["truth"], examples["linear"]], tmp_path / "cycle.gif")
    from PIL import Image

    with Image.open(tmp_path / "cycle.gif") as gif:
        assert gif.n_frames == 6  # ED .. ES and back: 4 + 2
        assert gif.size == (2 * 32 * 3, 32 * 3)  # the truth beside the method, 3x
    assert (tmp_path / "temporal.png").stat().st_size > 5_000
    assert isinstance(summary, pd.DataFrame)
