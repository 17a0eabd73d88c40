"""Channels that are copies of one another (LGG: missing sequences replaced by FLAIR)."""

import zlib
from pathlib import Path

import numpy as np
import pytest

from radsynth.data import discover, load_subject
from radsynth.data.duplicates import duplicate_channels, parse_pairs, subjects_to_drop
from radsynth.report.data import data_table, describe_subject
from tests.data.test_slices import mask, write_tif

REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "lgg_kaggle3m"
CHANNELS = ["t1", "flair", "t1c"]


def head_planes(seed: int, rows=24, cols=20) -> np.ndarray:
    """Three independent textured planes (T1, FLAIR, T1c) on a zero background."""
    rng = np.random.default_rng(seed)
    r, c = np.mgrid[:rows, :cols]
    head = ((r - rows / 2) / (rows / 2.4)) ** 2 + ((c - cols / 2) / (cols / 2.4)) ** 2 < 1
    planes = rng.integers(40, 240, (rows, cols, 3)).astype(np.uint8)
    planes[~head] = 0
    return planes


def lgg_patient(root: Path, name: str, copy=None, noise=0, slices=3) -> None:
    """An LGG patient whose plane ``copy[0]`` is plane ``copy[1]`` (plus +-``noise``)."""
    rng = np.random.default_rng(99)
    for n in range(1, slices + 1):
        planes = head_planes(zlib.crc32(f"{name}_{n}".encode()))
        if copy:
            source = planes[..., copy[1]].astype(np.int16)
            jitter = rng.integers(-noise, noise + 1, source.shape) * (source > 0) if noise else 0
            planes[..., copy[0]] = np.clip(source + jitter, 0, 255).astype(np.uint8)
        write_tif(root / name / f"{name}_{n}.tif", planes)
        write_tif(root / name / f"{name}_{n}_mask.tif", mask(24, 20))


@pytest.fixture
def lgg(tmp_path):
    lgg_patient(tmp_path, "clean")
    lgg_patient(tmp_path, "t1_is_flair", copy=(0, 1))  # T1 plane = FLAIR plane
    lgg_patient(tmp_path, "t1c_near_flair", copy=(2, 1), noise=1)  # T1c = FLAIR + tiny noise
    dataset = {"kind": "multichannel_slices", "root": str(tmp_path), "channels": CHANNELS, "classes": [1],
               "label_map": {"255": 1}}
    return {s.subject: load_subject(s, dataset) for s in discover(dataset)}


def test_copied_and_nearly_copied_channels_are_flagged(lgg):
    assert duplicate_channels(lgg["clean"]) == []
    assert duplicate_channels(lgg["t1_is_flair"]) == [("t1", "flair", 1.0)]
    ((a, b, r),) = duplicate_channels(lgg["t1c_near_flair"])
    assert (a, b) == ("flair", "t1c") and 0.999 < r < 1.0
    # The threshold decides for near copies, never for equal arrays.
    assert duplicate_channels(lgg["t1c_near_flair"], threshold=r) == []
    assert duplicate_channels(lgg["t1_is_flair"], threshold=1.0) == [("t1", "flair", 1.0)]


def test_the_data_report_row_lists_the_pairs_and_warns(lgg):
    rows = [describe_subject(raw, name) for name, raw in lgg.items()]
    by_subject = {row["subject"]: row for row in rows}
    assert by_subject["clean"]["duplicate_channels"] == "" and by_subject["clean"]["warning"] == ""
    assert by_subject["t1_is_flair"]["duplicate_channels"] == "t1=flair"
    assert "channels t1 and flair are the same picture (r = 1.0000" in by_subject["t1_is_flair"]["warning"]
    assert by_subject["t1c_near_flair"]["duplicate_channels"] == "flair=t1c"
    table = data_table(rows)
    assert list(table.columns[-2:]) == ["warning", "files"]
    assert table.set_index("subject").loc["t1c_near_flair", "duplicate_channels"] == "flair=t1c"


def test_subjects_to_drop_depend_on_the_channels_a_task_uses(lgg):
    rows = [describe_subject(raw, name) for name, raw in lgg.items()]
    # Which one is the copy is unknown: both channels of a pair are suspect.
    assert list(subjects_to_drop(rows, ["t1", "flair"])) == ["t1_is_flair", "t1c_near_flair"]
    assert list(subjects_to_drop(rows, ["t1"])) == ["t1_is_flair"]
    assert subjects_to_drop(rows, ["t1c"]) == {"t1c_near_flair": "flair=t1c: t1c may be a copy"}
    # LGG's README: missing sequences were replaced by FLAIR, so FLAIR is the original.
    assert list(subjects_to_drop(rows, ["t1", "flair"], originals=["flair"])) == ["t1_is_flair"]
    assert list(subjects_to_drop(rows, ["flair"], originals=["flair"])) == []
    assert list(subjects_to_drop(rows, CHANNELS, originals=["flair"])) == ["t1_is_flair", "t1c_near_flair"]
    # Rows read back from TSV or JSON: empty cells are NaN or missing.
    assert subjects_to_drop([{"subject": "a", "duplicate_channels": float("nan")}, {"subject": "b"}], CHANNELS) == {}


def test_parse_pairs_rejects_other_text():
    assert parse_pairs("t1=flair;t1c=flair") == [("t1", "flair"), ("t1c", "flair")]
    with pytest.raises(ValueError, match="expected pairs like"):
        parse_pairs("t1 flair")


@pytest.mark.realdata
@pytest.mark.skipif(not REAL.is_dir(), reason="shared LGG data absent")
def test_real_lgg_patients_have_distinct_channels():
    dataset = {"kind": "multichannel_slices", "root": str(REAL), "channels": CHANNELS, "classes": [1],
               "label_map": {"255": 1}}
    for source in discover(dataset):
        assert duplicate_channels(load_subject(source, dataset)) == [], source.subject
