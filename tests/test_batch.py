"""Many subjects per job: batches by name, failures recorded per subject, atomic folders."""

import json
import zlib

import pytest

from radsynth.batch import (
    batch_count,
    batch_of,
    batches,
    map_subjects,
    read_records,
    subject_folder,
    usable,
    write_records,
)
from radsynth.io import InputError


def test_a_subjects_batch_is_its_name_hash_modulo_the_batch_count():
    names = [f"case_{i:03d}" for i in range(130)]
    grouped = batches(names, 64)
    assert batch_count(130, 64) == 3 and len(grouped) == 3
    assert sorted(s for members in grouped.values() for s in members) == names
    for batch, members in grouped.items():
        for name in members:
            assert int(batch[1:]) == zlib.crc32(name.encode()) % 3 == int(batch_of(name, 3)[1:])
    # Removing subjects moves nobody while the batch count stays.
    fewer = batches(names[:129], 64)
    assert all(set(members) <= set(grouped[batch]) for batch, members in fewer.items())
    assert batch_of("x", 12) == f"b{zlib.crc32(b'x') % 12:02d}"  # zero-padded: sorts as numbers
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        batch_count(3, 0)


def _work(name: str, value: int) -> dict:
    """A module-level stand-in for a subject's work (workers import it by name)."""
    if name == "bad":
        raise InputError(f"/data/{name}/t1.nii.gz", "truncated file")
    if name == "bug":
        raise KeyError("channels")
    return {"double": 2 * value}


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_subject_is_recorded_and_the_others_finish(workers):
    jobs = [(name, (name, i)) for i, name in enumerate(["a", "bad", "b", "bug", "c"])]
    records = map_subjects(_work, jobs, workers)
    assert [r["subject"] for r in records] == ["a", "bad", "b", "bug", "c"]
    assert [r.get("double") for r in records] == [0, None, 4, None, 8]
    bad, bug = records[1], records[3]
    assert bad == {"subject": "bad", "status": "failed", "file": "/data/bad/t1.nii.gz", "reason": "truncated file"}
    assert bug["status"] == "failed" and bug["reason"] == "KeyError: 'channels'" and "_work" in bug["traceback"]
    assert usable(records) == ["a", "b", "c"]


def test_records_round_trip_without_tracebacks(tmp_path):
    records = map_subjects(_work, [("z", ("z", 1)), ("bug", ("bug", 0))])
    write_records(tmp_path / "b0.json", records[:1])
    write_records(tmp_path / "b1.json", records[1:])
    back = read_records([tmp_path / "b1.json", tmp_path / "b0.json"])
    assert [r["subject"] for r in back] == ["bug", "z"] and "traceback" not in back[0]
    assert json.loads((tmp_path / "b0.json").read_text())["subjects"][0]["double"] == 2


def test_a_subject_folder_appears_whole_or_not_at_all(tmp_path):
    target = tmp_path / "preprocessed" / "s1"
    with subject_folder(target) as folder:
        (folder / "t1.nii.gz").write_text("one")
        assert not target.exists()  # nothing visible until the block ends
    assert (target / "t1.nii.gz").read_text() == "one"
    with pytest.raises(RuntimeError, match="died"):
        with subject_folder(target) as folder:
            (folder / "t1.nii.gz").write_text("two")
            (folder / "label.nii.gz").write_text("two")
            raise RuntimeError("died half-way")
    assert [p.name for p in target.iterdir()] == ["t1.nii.gz"] and (target / "t1.nii.gz").read_text() == "one"
    with subject_folder(target) as folder:
        (folder / "mask.nii.gz").write_text("three")
    assert [p.name for p in target.iterdir()] == ["mask.nii.gz"]  # replaced, not merged
    assert sorted(p.name for p in target.parent.iterdir()) == ["s1"]  # no temporary left
