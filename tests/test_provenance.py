"""Provenance sidecars: contents, atomic writes before their outputs, which outputs get one,
the git state, the check of pretrained weights' subjects."""

import hashlib
import json
import os
import platform
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import torch

import radsynth.io
import radsynth.provenance
from radsynth.io import PACKAGES, InputError, file_hash, save_checkpoint, write_text
from radsynth.provenance import (
    check_pretrained,
    git_state,
    provenance,
    provenance_sidecars,
    sidecar_path,
)
from tests.test_io import current_umask

REPO = Path(radsynth.provenance.__file__).resolve().parents[1]
# As Snakemake passes it: tuples, YAML integer keys beside string keys, a Path.
CONFIG = {
    "seed": 0,
    "scale": "tiny",
    "dataset": {"name": "phantom", "label_map": {255: 1, "128": 2}, "root": Path("raw")},
    "levels": (0, 5),
}
PLAIN = {
    "seed": 0,
    "scale": "tiny",
    "dataset": {"name": "phantom", "label_map": {"255": 1, "128": 2}, "root": "raw"},
    "levels": [0, 5],
}


@pytest.fixture
def inputs(tmp_path):
    data = tmp_path / "data"
    (data / "sub" / "deeper").mkdir(parents=True)
    (data / "b.txt").write_bytes(b"bee")
    (data / "sub" / "deeper" / "a.txt").write_bytes(b"a" * 10)
    (data / ".snakemake_timestamp").write_bytes(b"")
    packed = tmp_path / "train.npz"
    packed.write_bytes(os.urandom(5 << 20))  # more than one 4 MiB read
    return packed, data


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_record_holds_config_hashes_versions_git_and_time(inputs):
    packed, data = inputs
    before = datetime.now(timezone.utc).replace(microsecond=0)
    record = provenance(CONFIG, [str(packed), data, str(packed)])
    assert set(record) == {"config", "data_hash", "packages", "git", "created"}
    # Plain JSON values: what the sidecar holds is what the function returns.
    assert record["config"] == PLAIN
    assert record["data_hash"] == {str(packed): sha256(packed.read_bytes()), str(data): file_hash(data)}
    manifest = f"{sha256(b'bee')}  b.txt\n{sha256(b'a' * 10)}  sub/deeper/a.txt\n".encode()
    assert record["data_hash"][str(data)] == sha256(manifest)  # the .snakemake_timestamp is no data
    assert set(record["packages"]) == {"python", *PACKAGES}
    assert record["packages"]["python"] == platform.python_version()
    assert record["packages"]["numpy"] == __import__("numpy").__version__
    created = datetime.fromisoformat(record["created"])
    assert created.utcoffset() == timedelta(0)
    assert before <= created <= datetime.now(timezone.utc) + timedelta(seconds=1)


def test_missing_package_and_missing_input_are_null(tmp_path, monkeypatch):
    monkeypatch.setattr(radsynth.io, "PACKAGES", (*PACKAGES, "no-such-package-radsynth"))
    record = provenance({}, [tmp_path / "absent.npz"])
    assert record["packages"]["no-such-package-radsynth"] is None
    assert record["data_hash"] == {str(tmp_path / "absent.npz"): None}


def test_folder_hash_depends_on_names_and_contents_not_location(inputs, tmp_path):
    _, data = inputs
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(data, copy)
    os.utime(copy / "b.txt", (0, 0))
    assert file_hash(copy) == file_hash(data)
    (copy / "b.txt").rename(copy / "c.txt")
    assert file_hash(copy) != file_hash(data)
    (copy / "c.txt").rename(copy / "b.txt")
    (copy / "b.txt").write_bytes(b"bea")
    assert file_hash(copy) != file_hash(data)


def test_only_models_and_tables_get_a_sidecar(inputs, tmp_path):
    out = tmp_path / "out"
    sidecars = ["model.pt", "table.csv", "loss.tsv", "table.md", "table.tex", "report.html", "UPPER.CSV"]
    others = ["packed.npz", "figure.png", "model.json", "image.nii.gz", "log.txt"]
    with provenance_sidecars([str(out / n) for n in sidecars + others + ["folder.csv"]], CONFIG, list(inputs)):
        for name in sidecars + others:
            write_text(out / name, name)
        (out / "folder.csv").mkdir()  # a directory() output named like a table is no table
    written = sorted(p.name for p in out.iterdir() if p.name.endswith(".provenance.json"))
    assert written == sorted(f"{n}.provenance.json" for n in sidecars)
    sidecar = json.loads(sidecar_path(out / "table.md").read_text())
    assert sidecar["config"] == PLAIN
    assert sidecar["data_hash"] == {str(p): file_hash(p) for p in inputs}
    assert sidecar["output"] == {"path": str(out / "table.md"), "sha256": sha256(b"table.md")}


def test_inputs_are_hashed_once_per_call(inputs, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(radsynth.provenance, "file_hash", lambda path: calls.append(path) or "h")
    outputs = [tmp_path / f"t.{ext}" for ext in ("csv", "md", "tex")]
    with provenance_sidecars(outputs, CONFIG, [*inputs, *inputs, str(inputs[0])]):
        for path in outputs:
            write_text(path, "x")
    assert len(calls) == 2 + len(outputs)  # each input once; each output at its temporary name
    assert sorted(map(str, calls[:2])) == sorted(map(str, inputs))
    # Nothing to describe: no hashing at all.
    calls.clear()
    with provenance_sidecars([tmp_path / "figure.png"], CONFIG, inputs):
        write_text(tmp_path / "figure.png", "png")
    assert calls == [] and not sidecar_path(tmp_path / "figure.png").exists()


def test_sidecar_is_written_atomically(inputs, tmp_path, monkeypatch):
    table = tmp_path / "table.csv"
    with provenance_sidecars([table], CONFIG, inputs):
        write_text(table, "a,b\n")
    sidecar = sidecar_path(table)
    assert sidecar.stat().st_mode & 0o777 == 0o666 & ~current_umask()  # shared like every output
    old = sidecar.read_text()

    def crash(src, dst):
        raise OSError("disk full")

    # The new sidecar goes to a temporary name first: a crash before the rename leaves the
    # previous sidecar whole and no temporary file behind.
    monkeypatch.setattr(radsynth.io.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        with provenance_sidecars([table], {**CONFIG, "seed": 1}, inputs):
            write_text(table, "a,b\n1,2\n")
    assert sidecar.read_text() == old and table.read_text() == "a,b\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["data", "train.npz", "table.csv", sidecar.name])


@pytest.mark.parametrize("crash_at", [1, 2, 3, 4, 5])
def test_a_crash_between_writes_never_leaves_an_output_without_its_sidecar(inputs, tmp_path, monkeypatch, crash_at):
    """A training script's writes (checkpoint with its JSON, loss history), killed at the
    ``crash_at``-th rename: every output in place has its sidecar, describing its bytes."""
    model, history = tmp_path / "model.pt", tmp_path / "loss.tsv"
    renames, real_replace = [], os.replace

    def replace(src, dst):
        renames.append(Path(dst).name)
        if len(renames) == crash_at:
            raise OSError("killed")
        real_replace(src, dst)

    monkeypatch.setattr(radsynth.io.os, "replace", replace)
    with pytest.raises(OSError, match="killed"):
        with provenance_sidecars([model, history, tmp_path / "model.json"], CONFIG, inputs):
            save_checkpoint(model, {"w": torch.ones(2)}, {"architecture": {}})
            write_text(history, "step\tloss\n1\t0.5\n")
    # Every sidecar comes before its output; the checkpoint's own JSON gets none.
    assert renames[:crash_at] == [
        "model.json", "model.pt.provenance.json", "model.pt", "loss.tsv.provenance.json", "loss.tsv"
    ][:crash_at]
    for output in (model, history):
        if output.exists():
            described = json.loads(sidecar_path(output).read_text())["output"]
            assert described == {"path": str(output), "sha256": file_hash(output)}
    assert not any(path.name.startswith(".") for path in tmp_path.iterdir())  # no temporary left


def test_an_output_written_around_the_atomic_writers_is_an_error(inputs, tmp_path):
    table = tmp_path / "table.csv"
    with pytest.raises(ValueError, match=r"table\.csv.*written outside radsynth\.io's atomic writers"):
        with provenance_sidecars([table], CONFIG, inputs):
            table.write_text("a,b\n")
    assert not sidecar_path(table).exists()


def test_pretrained_weights_trained_on_a_test_subject_are_refused(caplog):
    held_out = ["case_01", "case_02", "case_03", "case_04", "case_05", "case_06", "case_07"]
    sidecar = {"training_subjects": ["case_02", "case_07", "other_1"], "architecture": {}}
    with pytest.raises(InputError, match=r"base\.pt: pretrained on 2 subject\(s\) that a fold tests on \(case_02, case_07\): .*leak"):
        check_pretrained("base.pt", sidecar, held_out)
    # Many overlapping subjects: a few are named, with the count of the rest.
    with pytest.raises(InputError, match=r"on 7 subject\(s\) .*\(case_01, case_02, case_03, case_04, case_05 and 2 more\)"):
        check_pretrained("base.pt", {"training_subjects": held_out}, held_out)
    # Other subjects only: accepted silently.
    check_pretrained("base.pt", {"training_subjects": ["other_1", "other_2"]}, held_out)
    assert caplog.text == ""
    # No record of its subjects (weights trained elsewhere): accepted with a warning.
    with caplog.at_level("WARNING", logger="radsynth"):
        check_pretrained("mine.pt", {"architecture": {}}, held_out)
    assert "mine.pt records no training subjects" in caplog.text


def git(*args):
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_git_commit_is_the_checkout_head():
    head = git("rev-parse", "HEAD")
    if head.returncode != 0 or git("ls-files", "--error-unmatch", "radsynth/__init__.py").returncode != 0:
        pytest.skip("radsynth is not imported from a git checkout")
    state = git_state()
    assert state["commit"] == head.stdout.strip()
    assert state["dirty"] == bool(git("status", "--porcelain").stdout.strip())
    assert provenance({}, [])["git"] == state


def test_no_git_state_without_a_checkout_or_without_git(tmp_path, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setenv("GIT_DIR", str(tmp_path / "not-a-repository"))
        assert git_state() is None
    with monkeypatch.context() as patch:
        patch.setenv("PATH", str(tmp_path))  # no git executable anywhere
        assert git_state() is None
