"""Resumable training: the state file round-trips, and segmentation and translation runs
stopped by SIGTERM or SIGKILL and run again end exactly where an uninterrupted run ends."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from functools import cache
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

import radsynth.provenance
import radsynth.training.resume as resume_module
from radsynth.augment import DeepStack
from radsynth.segmentation.consistency import MeanTeacher
from radsynth.segmentation.trainer import train_segmentation
from radsynth.training.loop import LossLog
from radsynth.training.resume import Preempted, Resume, job_resume
from radsynth.translation.step import ReplayBuffer
from radsynth.translation.trainer import Validation, _Running, train_translation

EVERY = 5


@pytest.fixture(autouse=True)
def one_thread():
    """One thread here and in the helper processes: CPU results are then bit-identical."""
    threads, handler = torch.get_num_threads(), signal.getsignal(signal.SIGTERM)
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    # A run stopped by Preempted leaves its handler (a real job exits right after).
    signal.signal(signal.SIGTERM, handler)


def assert_same(a, b, where="state"):
    """Nested state dicts equal, tensors bit for bit."""
    if isinstance(a, torch.Tensor):
        # Bytes, not values: the replay buffer's unused slots are uninitialised memory, which
        # may hold NaN (never equal to itself).
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape, where
        assert torch.equal(a.reshape(-1).view(torch.uint8), b.reshape(-1).view(torch.uint8)), where
    elif isinstance(a, dict):
        assert set(a) == set(b), where
        for key in a:
            assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def parts(seed: int) -> dict:
    """One of every kind of state the trainers track, each advanced a little."""
    torch.manual_seed(seed)
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5**step)
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step(), scheduler.step()
    log = LossLog(2)
    for i in range(3):
        log.add(i + 1, loss=float(i))
    teacher = MeanTeacher(model)
    teacher.target(torch.randn(2, 3), torch.Generator().manual_seed(seed))
    buffer = ReplayBuffer(4, torch.Generator())
    buffer.push_and_pop(torch.randn(2, 1, 4, 4))
    running = _Running(torch.device("cpu"), 10)
    running.sums.add({"g_total": torch.tensor(1.5)})
    running.validated = [{"iteration": 3, "val_mae": 0.25}]
    running.best_mae, running.selected, running.best_state = 0.25, 3, {"generator": {"w": torch.ones(2)}}
    deepstack = DeepStack(seed)
    deepstack(torch.zeros(1, 1, 8, 8), torch.zeros(1, 8, 8, dtype=torch.uint8))
    return dict(
        model=model, optimizer=optimizer, scheduler=scheduler, log=log, teacher=teacher, buffer=buffer,
        running=running, deepstack=deepstack, generator=torch.Generator().manual_seed(seed),
        numpy=np.random.RandomState(seed),
    )


def states(tracked: dict) -> dict:
    out = {}
    for name, part in tracked.items():
        if isinstance(part, torch.Generator):
            out[name] = part.get_state()
        elif isinstance(part, np.random.RandomState):
            out[name] = part.get_state()[1].tolist()
        else:
            out[name] = part.state_dict()
    return out


def test_state_round_trips_every_part_and_the_global_generators(tmp_path):
    path = tmp_path / "state.pt"
    saved = parts(0)
    resume = Resume(path, every=2, fingerprint={"lr": 1})
    resume.track(**saved)
    assert resume.start() == 0
    resume.step(1)
    assert not path.exists()
    resume.step(2)
    expected = states(saved)
    draws = (random.random(), np.random.rand(), torch.rand(2))
    # Loadable without unpickling arbitrary objects (what Resume.start does).
    assert torch.load(path, weights_only=True)["step"] == 2

    restored = parts(1)
    again = Resume(path, every=2, fingerprint={"lr": 1})
    again.track(**restored)
    assert again.start() == 2 and again.resumed_from == 2
    assert_same(states(restored), expected)
    assert random.random() == draws[0] and np.random.rand() == draws[1] and torch.equal(torch.rand(2), draws[2])
    again.finish()
    assert not path.exists()


def test_a_state_of_other_settings_or_parts_is_ignored(tmp_path, caplog):
    path = tmp_path / "state.pt"
    resume = Resume(path, every=1, fingerprint={"lr": 1})
    resume.track(**parts(0))
    resume.start()
    resume.step(1)
    for fingerprint, tracked in [({"lr": 2}, parts(1)), ({"lr": 1}, {"model": parts(1)["model"]})]:
        before = states(tracked)
        other = Resume(path, every=1, fingerprint=fingerprint)
        other.track(**tracked)
        assert other.start() == 0 and other.resumed_from == 0
        assert_same(states(tracked), before)
    assert "starting over" in caplog.text


def test_a_state_saved_by_other_code_is_ignored(tmp_path, caplog, monkeypatch):
    path = tmp_path / "state.pt"
    monkeypatch.setattr(resume_module, "package_hash", lambda: "old code")
    saved = parts(0)
    resume = Resume(path, every=1, fingerprint={"lr": 1})
    resume.track(**saved)
    resume.start()
    resume.step(3)
    expected = states(saved)

    # After a fix (another source hash) the same settings start over and say why.
    monkeypatch.setattr(resume_module, "package_hash", lambda: "fixed code")
    tracked = parts(1)
    before = states(tracked)
    fixed = Resume(path, every=1, fingerprint={"lr": 1})
    fixed.track(**tracked)
    assert fixed.start() == 0 and fixed.resumed_from == 0
    assert_same(states(tracked), before)
    assert "saved by other radsynth code" in caplog.text

    # The code that saved it resumes it.
    monkeypatch.setattr(resume_module, "package_hash", lambda: "old code")
    same = Resume(path, every=1, fingerprint={"lr": 1})
    same.track(**tracked)
    assert same.start() == 3
    assert_same(states(tracked), expected)


def test_package_hash_follows_the_source_files(tmp_path, monkeypatch):
    package = tmp_path / "radsynth"
    (package / "training").mkdir(parents=True)
    (package / "training" / "loop.py").write_text("x = 1\n")
    (package / "io.py").write_text("y = 2\n")
    monkeypatch.setattr(radsynth.provenance, "__file__", str(package / "provenance.py"))

    def fresh():
        radsynth.provenance.package_hash.cache_clear()
        return radsynth.provenance.package_hash()

    try:
        first = fresh()
        (package / "__pycache__").mkdir()
        (package / "__pycache__" / "io.cpython-311.pyc").write_bytes(b"compiled")  # not source
        assert fresh() == first
        (package / "training" / "loop.py").write_text("x = 2\n")
        assert fresh() != first
    finally:  # later tests hash the real package again
        monkeypatch.undo()
        radsynth.provenance.package_hash.cache_clear()


def test_sigterm_saves_at_the_next_step_and_exits_143(tmp_path):
    path = tmp_path / "state.pt"
    resume = Resume(path, every=0, fingerprint=None)
    resume.track(generator=torch.Generator())
    resume.start()
    resume.step(1)
    assert not path.exists()  # every=0: no periodic saves
    os.kill(os.getpid(), signal.SIGTERM)
    with pytest.raises(Preempted, match="^143$") as stopped:
        resume.step(2)
    assert stopped.value.code == 143 and stopped.value.step == 2
    assert torch.load(path, weights_only=True)["step"] == 2


# Segmentation: a helper process is stopped mid-run, this process finishes the run.

HELPER = """
import json, sys
import numpy as np, torch
torch.set_num_threads(1)
from radsynth.training.resume import Resume
from radsynth.segmentation.trainer import train_segmentation
data, settings, path = dict(np.load(sys.argv[1])), json.loads(sys.argv[2]), sys.argv[3]
train_segmentation(data, resume=Resume(path, {every}, fingerprint=settings), **settings)
""".replace("{every}", str(EVERY))

SUPERVISED = dict(
    method="supervised", labelled_subjects=["s0", "s1", "s2", "s3"], network=dict(channels=[8, 16], strides=[2],
    res_units=1, features=4), lr=1e-2, iterations=80, batch_size=2, seed=0, device="cpu", log_every=3,
)
# Every stateful part: augmentation generator, EMA teacher and its noise, SGD's lr schedule.
MEAN_TEACHER = {
    **SUPERVISED, "method": "mean_teacher", "labelled_subjects": ["s0", "s1"], "unlabelled_batch_size": 2,
    "augmentation": "deepstack", "optimizer": "sgd", "rotate_flip": True, "iterations": 30,
}
# DTC: both heads, the SDF targets, the consistency ramp over the iterations, and the classic
# augmentation's own generator.
DTC = {
    **SUPERVISED, "method": "dtc", "labelled_subjects": ["s0", "s1"], "unlabelled_batch_size": 2,
    "augmentation": "rotate", "augmentation_prob": 0.5, "iterations": 20,
}
RUNS = {"supervised": SUPERVISED, "mean_teacher": MEAN_TEACHER, "dtc": DTC}


@cache
def slices() -> dict:
    """16 slices of 4 subjects, 32x32: a bright square and its label, a stand-in SDF."""
    rng = np.random.default_rng(0)
    label = np.zeros((16, 32, 32), np.uint8)
    for i in range(16):
        r, c = rng.integers(4, 18, size=2)
        label[i, r : r + 10, c : c + 10] = 1
    image = np.where(label[:, None] == 1, 0.5, -0.5) + rng.normal(0, 0.1, (16, 2, 32, 32))
    sdf = np.where(label[:, None] == 1, -0.5, 0.5).astype(np.float32)
    subject = np.array([f"s{i % 4}" for i in range(16)])
    return {"image": image.astype(np.float32), "label": label, "sdf": sdf, "subject": subject}


@cache
def uninterrupted(run: str):
    return train_segmentation(slices(), **RUNS[run])


def stop_helper(tmp_path, run: str, sig: int):
    """Start the helper, send ``sig`` once its first state is saved; return its exit status."""
    data, path = tmp_path / "train.npz", tmp_path / "resume" / "state.pt"
    np.savez(data, **slices())
    script = tmp_path / "helper.py"
    script.write_text(HELPER)
    # The helper imports the radsynth under test, as workflow jobs import their checkout's
    # (an installed copy elsewhere is other code: its states would not be resumed here).
    checkout = str(Path(radsynth.provenance.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [checkout, os.environ.get("PYTHONPATH")]))}
    helper = subprocess.Popen([sys.executable, str(script), str(data), json.dumps(RUNS[run]), str(path)], env=env)
    try:
        deadline = time.monotonic() + 60
        while not path.exists() and helper.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert path.exists(), "the helper saved no state"
        helper.send_signal(sig)
        return helper.wait(timeout=60), path
    finally:
        if helper.poll() is None:
            helper.kill()


def resumed_segmentation(path, run: str):
    resume = Resume(path, EVERY, fingerprint=RUNS[run])
    result = train_segmentation(slices(), resume=resume, **RUNS[run])
    return result, resume


def assert_same_run(result, reference):
    for key, value in reference.state["segmenter"].items():
        assert torch.equal(result.state["segmenter"][key], value), key
    pd.testing.assert_frame_equal(result.history, reference.history)


@pytest.mark.parametrize("run", ["supervised", "mean_teacher", "dtc"])
def test_segmentation_stopped_by_sigterm_resumes_to_the_same_weights(tmp_path, run):
    status, path = stop_helper(tmp_path, run, signal.SIGTERM)
    assert status == 143 and path.exists()
    stopped_at = torch.load(path, weights_only=True)["step"]
    result, resume = resumed_segmentation(path, run)
    assert resume.resumed_from == stopped_at > 0
    assert not path.exists()  # finished: the state is dropped
    assert_same_run(result, uninterrupted(run))


def test_segmentation_killed_resumes_from_the_last_periodic_save(tmp_path):
    status, path = stop_helper(tmp_path, "supervised", signal.SIGKILL)
    assert status == -signal.SIGKILL and path.exists()
    result, resume = resumed_segmentation(path, "supervised")
    assert resume.resumed_from > 0 and resume.resumed_from % EVERY == 0
    assert_same_run(result, uninterrupted("supervised"))


# Translation: the augment hook stops the run in this process by SIGTERM at a chosen step.


def flips(stop_at: int | None = None):
    """A random horizontal flip of each pair; at call ``stop_at`` it also sends SIGTERM."""
    calls = [0]

    def augment(a, b, generator):
        calls[0] += 1
        if calls[0] == stop_at:
            os.kill(os.getpid(), signal.SIGTERM)  # handled at the step's end: the state is saved
        flip = (torch.rand(len(a), generator=generator) < 0.5).view(-1, 1, 1, 1)
        return torch.where(flip, a.flip(-1), a), torch.where(flip, b.flip(-1), b)

    return augment


@pytest.mark.parametrize("mode", ["nc_r", "c_r"])  # c_r: a cycle and replay buffers too
def test_translation_stopped_by_sigterm_resumes_to_the_same_networks(tmp_path, mode):
    rng = np.random.default_rng(0)
    source = np.tanh(rng.normal(size=(6, 1, 16, 16))).astype(np.float32)
    held = np.tanh(rng.normal(size=(2, 1, 16, 16))).astype(np.float32)
    settings = dict(
        generator={"filters": 4, "residual_blocks": 1}, discriminator={"filters": 4, "layers": 2},
        registration={"channels": [8, 16, 16]}, iterations=12, batch_size=2, lr=5e-3, lr_decay_start=0.5,
        seed=0, device="cpu", log_every=5, buffer_size=3,
        validation=Validation(held, -held, held[:, 0] > 0, every=3),
    )
    reference = train_translation(source, -source, mode, augment=flips(), **settings)

    path = tmp_path / "state.pt"
    with pytest.raises(Preempted, match="^143$"):  # at step 7: inside a history row, after a validation
        train_translation(source, -source, mode, augment=flips(stop_at=7), resume=Resume(path, 4), **settings)
    resume = Resume(path, 4)
    result = train_translation(source, -source, mode, augment=flips(), resume=resume, **settings)
    assert resume.resumed_from == 7
    for name, state in reference.state.items():
        for key, value in state.items():
            assert torch.equal(result.state[name][key], value), f"{name}.{key}"
    pd.testing.assert_frame_equal(result.history, reference.history)
    pd.testing.assert_frame_equal(result.validation, reference.validation)
    assert result.selected_iteration == reference.selected_iteration


def test_job_resume_starts_over_when_an_input_file_changes(tmp_path):
    data, state = tmp_path / "train.npz", tmp_path / "state.pt"
    data.write_bytes(b"first")

    def job(every, inputs):  # what a rule script's `snakemake` object offers
        params = {"settings": {"lr": 1.0}, "resume": str(state), "resume_every": every}
        return SimpleNamespace(params=params, wildcards={"fold": "0"}, input=inputs)

    model = torch.nn.Linear(2, 1)
    saved = job_resume(job(1, [str(data), ""]))  # an empty optional input is skipped
    saved.track(model=model)
    assert saved.start() == 0
    saved.save(3)
    same = job_resume(job(5, [str(data)]))  # resume_every is not part of the fingerprint
    same.track(model=model)
    assert same.start() == 3
    data.write_bytes(b"second")
    changed = job_resume(job(1, [str(data)]))
    changed.track(model=model)
    assert changed.start() == 0
