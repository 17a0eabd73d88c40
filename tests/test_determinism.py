"""Same seed, same bytes: the writers, the data stages run twice by Snakemake, CPU training."""

import hashlib
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from radsynth.io import save_arrays, save_checkpoint, write_csv, write_json, write_nifti
from radsynth.segmentation.trainer import train_segmentation

REPO = Path(__file__).resolve().parents[1]
R = "results/phantom"
# Data stages only, at the tiny scale: phantom -> preprocess (checks, then the seeded rigid
# registration) -> split -> misalign (both levels, with the elastic part) -> sdf (2D and 3D)
# -> pack (slices, pairs, volumes).
CONFIG = "dataset: {subjects: 5}\npreprocess: {register_to: t1}\nmisalign: {levels: [0, 5], elastic: 2.0}\n"
TARGETS = [
    f"{R}/packed/train.npz",
    f"{R}/packed/test.npz",
    f"{R}/packed/level0/train.npz",
    f"{R}/packed/level5/train.npz",
    f"{R}/packed/volumes/train.npz",
    f"{R}/data/subjects.tsv",
]
# Logs, benchmarks and provenance sidecars record times by design; everything else must
# match byte for byte.
TIMED = ("logs", "benchmarks")
SIDECAR = ".provenance.json"


def digests(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``root``."""
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def write_every_kind(folder: Path) -> None:
    rng = np.random.default_rng(0)
    affine = np.diag([0.9, 0.9, 2.5, 1.0])
    write_nifti(folder / "image.nii.gz", rng.normal(size=(8, 9, 4)).astype(np.float32), affine)
    write_nifti(folder / "label.nii.gz", (rng.random((8, 9, 4)) > 0.5).astype(np.uint8), affine)
    image = rng.normal(size=(3, 1, 8, 8)).astype(np.float32)
    save_arrays(folder / "packed.npz", image=image, subject=np.array(["a", "b", "c"]))
    net = torch.nn.Conv2d(1, 2, 3)
    with torch.no_grad():
        for i, p in enumerate(net.parameters()):
            p.copy_(torch.arange(p.numel(), dtype=p.dtype).reshape(p.shape) / (i + 1))
    sidecar = {"architecture": {"kernel": 3}, "b": 1, "a": [2]}
    save_checkpoint(folder / "model.pt", {"net": net.state_dict()}, sidecar)
    write_csv(folder / "table.csv", pd.DataFrame({"case": ["x", "y"], "value": [0.1, 1 / 3]}))
    write_json(folder / "meta.json", {"z": 1, "a": {"y": 2, "b": 3}})


def test_writers_give_the_same_bytes_at_any_time(tmp_path, monkeypatch):
    """gzip headers, zip member dates and torch archive names must not carry the clock or the
    temporary file name that atomic writes use."""
    write_every_kind(tmp_path / "now")
    later = time.time() + 86_400 * 400
    with monkeypatch.context() as patch:
        patch.setattr(time, "time", lambda: later)
        write_every_kind(tmp_path / "later")
    first, second = digests(tmp_path / "now"), digests(tmp_path / "later")
    assert len(first) == 7 and first == second


def snakemake(workdir: Path, hash_seed: int) -> subprocess.CompletedProcess:
    workdir.mkdir()
    (workdir / "determinism.yaml").write_text(CONFIG)
    command = [
        sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "Snakefile"), "--directory", str(workdir),
        "--cores", "2", "--configfile", str(workdir / "determinism.yaml"), "--config", "scale=tiny",
        "--quiet", "all", "--", *TARGETS,
    ]  # fmt: skip
    # Another string-hash seed per run: output that followed set or hash order would differ.
    env = {**os.environ, "PYTHONHASHSEED": str(hash_seed)}
    return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=workdir, env=env)


@pytest.mark.integration
def test_data_stages_are_byte_identical_across_runs(tmp_path):
    """Two runs in two folders (the same relative results path, as in two clones), a second
    apart and with other hash seeds, write the same bytes at every data stage."""
    runs = []
    for name, hash_seed in (("a", 1), ("b", 2)):
        if runs:
            time.sleep(1)  # timestamps written anywhere would now differ
        done = snakemake(tmp_path / name, hash_seed)
        assert done.returncode == 0, done.stderr[-5000:]
        results = tmp_path / name / R
        kept = {k: v for k, v in digests(results).items() if k.split("/")[0] not in TIMED}
        runs.append({k: v for k, v in kept.items() if not k.endswith(SIDECAR)})
    first, second = runs
    stages = {name.split("/")[0] for name in first}
    assert {"raw", "records", "preprocessed", "splits.tsv", "misaligned", "sdf", "sdf3d", "packed"} <= stages
    # 4 files at 2 levels for each of the 5 subjects (one batch misaligns all it prepared).
    assert len([n for n in first if n.startswith("misaligned/")]) == 4 * 2 * 5
    assert sorted(first) == sorted(second)
    differ = [name for name in first if first[name] != second[name]]
    assert not differ, f"{len(differ)} files differ between the runs: {differ[:10]}"


def test_cpu_training_is_identical_for_one_seed(tmp_path):
    """DTC with rotation/flip and the DeepStack augmentation, twice with one seed: equal weights,
    equal losses, equal checkpoint bytes, whatever the global random state was before."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rng = np.random.default_rng(0)
        label = np.zeros((16, 32, 32), np.uint8)
        for i in range(16):
            r, c = rng.integers(4, 18, size=2)
            label[i, r : r + 10, c : c + 10] = 1
        noise = rng.normal(0, 0.1, (16, 1, 32, 32)).astype(np.float32)
        data = {
            "image": np.where(label[:, None] == 1, 0.5, -0.5).astype(np.float32) + noise,
            "label": label,
            "sdf": np.where(label[:, None] == 1, -0.5, 0.5).astype(np.float32),
            "subject": np.array([f"s{i % 4}" for i in range(16)]),
        }
        args = dict(
            method="dtc", labelled_subjects=["s0", "s1"], augmentation="deepstack", rotate_flip=True,
            network=dict(channels=(8, 16), strides=(2,), res_units=1, features=8), lr=1e-2,
            iterations=4, batch_size=2, unlabelled_batch_size=2, seed=3, device="cpu", log_every=1,
        )  # fmt: skip
        results = []
        for disturb in (0, 1):
            # Global generators in another state before each run: the run seeds its own.
            random.seed(disturb), np.random.seed(disturb), torch.manual_seed(disturb)
            results.append(train_segmentation(data, **args))
            save_checkpoint(tmp_path / f"run{disturb}" / "model.pt", results[-1].state, {"seed": 3})
    finally:
        torch.set_num_threads(threads)
    first, second = (result.state["segmenter"] for result in results)
    assert first.keys() == second.keys() and len(first) > 0
    for key in first:
        assert torch.equal(first[key], second[key]), key
    pd.testing.assert_frame_equal(results[0].history, results[1].history)
    assert digests(tmp_path / "run0") == digests(tmp_path / "run1")
