"""One GPU per job: claim_gpu over fake device lists, in processes, and under Snakemake (CPU only)."""

import itertools
import os
import select
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from radsynth import devices
from radsynth.devices import claim_gpu, release_gpu, visible_devices

REPO = Path(__file__).resolve().parents[1]
# claims from argv (lock dir, devices, timeout), prints the device, holds it until stdin closes
CLAIMANT = """
import sys
from radsynth.devices import claim_gpu
print(claim_gpu(sys.argv[1], sys.argv[2].split(","), timeout=float(sys.argv[3]), poll=0.05), flush=True)
sys.stdin.read()
"""


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID", devices._CLAIMED)}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return env | extra


def claimant(lock_dir, pool, timeout=20.0, env=None):
    command = [sys.executable, "-c", CLAIMANT, str(lock_dir), ",".join(pool), str(timeout)]
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env=clean_env() if env is None else env)  # fmt: skip


def first_line(process, wait):
    """The claimant's device, or None when it printed nothing within ``wait`` seconds."""
    ready, _, _ = select.select([process.stdout], [], [], wait)
    return process.stdout.readline().strip() if ready else None


@pytest.fixture(autouse=True)
def no_claim(monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.delenv(devices._CLAIMED, raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    yield
    release_gpu()


@pytest.fixture
def processes():
    started = []
    yield started
    for process in started:
        process.kill()
        process.wait()
        process.stdout.close()
        process.stdin.close()


@pytest.mark.parametrize(
    "value, expected",
    [("3,5", ["3", "5"]), ("", []), (" 1, 2 ", ["1", "2"]), ("-1", []), ("0,-1,1", ["0"]), ("GPU-ab12", ["GPU-ab12"])],
)
def test_visible_devices_reads_cuda_visible_devices(monkeypatch, value, expected):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", value)
    assert visible_devices() == expected


def test_visible_devices_counts_the_machine_when_unset(monkeypatch):
    import torch

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    assert visible_devices() == ["0", "1", "2"]


def test_claim_narrows_cuda_visible_devices_once_and_release_restores_it(tmp_path):
    lock_dir = tmp_path / "slots"
    assert claim_gpu(lock_dir) == "0"
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0"
    assert (lock_dir / "gpu0.lock").read_text() == f"{os.getpid()}\n"
    assert claim_gpu(lock_dir, ["1"]) == "0"  # one claim per process
    assert release_gpu() == "0"
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert devices._CLAIMED not in os.environ
    assert release_gpu() is None


def test_slurm_and_deviceless_machines_are_left_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert claim_gpu(tmp_path / "slots") is None
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    assert claim_gpu(tmp_path / "slots", []) is None
    monkeypatch.setenv("SLURM_JOB_ID", "1234")
    assert claim_gpu(tmp_path / "slots") is None
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert not (tmp_path / "slots").exists()


def test_claimants_get_distinct_devices_and_wait_for_a_free_one(tmp_path, processes):
    pool = ["0", "1", "2"]
    processes += [claimant(tmp_path, pool) for _ in pool]
    claimed = [first_line(process, 20) for process in processes]
    assert sorted(claimed) == pool
    processes.append(waiter := claimant(tmp_path, pool))
    assert first_line(waiter, 1.5) is None  # all three held: it waits
    processes[1].stdin.close()
    processes[1].wait(10)
    assert first_line(waiter, 20) == claimed[1]


def test_a_killed_claimant_frees_its_device(tmp_path, processes):
    processes.append(holder := claimant(tmp_path, ["7"]))
    assert first_line(holder, 20) == "7"
    with pytest.raises(TimeoutError, match=rf"7 \(pid {holder.pid}\)"):
        claim_gpu(tmp_path, ["7"], timeout=0.3, poll=0.05)
    holder.send_signal(signal.SIGKILL)
    holder.wait(10)
    assert claim_gpu(tmp_path, ["7"], timeout=10, poll=0.05) == "7"
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "7"


def test_a_child_of_the_claimant_uses_its_device_without_waiting(tmp_path, processes):
    assert claim_gpu(tmp_path) == "0"
    env = os.environ | {"PYTHONPATH": clean_env()["PYTHONPATH"]}
    processes.append(child := claimant(tmp_path, ["0", "1"], timeout=2, env=env))
    assert first_line(child, 20) == "0"


SNAKEFILE = """
rule all:
    input:
        expand("out/{i}.txt", i=range(4)),


rule job:
    output:
        "out/{i}.txt",
    resources:
        gpu=1,
    script:
        "job.py"
"""
JOB = """
import os, time
from radsynth.devices import claim_gpu

device = claim_gpu(poll=0.05)
start = time.time()
time.sleep(1.5)
with open(snakemake.output[0], "w") as out:
    out.write(f"{device} {os.environ['CUDA_VISIBLE_DEVICES']} {start} {time.time()}")
"""


@pytest.mark.integration
def test_snakemake_jobs_running_together_get_different_devices(tmp_path):
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    (tmp_path / "job.py").write_text(textwrap.dedent(JOB))
    command = [sys.executable, "-m", "snakemake", "--cores", "4", "--resources", "gpu=2", "--directory", str(tmp_path)]
    done = subprocess.run(command, cwd=tmp_path, env=clean_env(CUDA_VISIBLE_DEVICES="3,5"),
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    jobs = []
    for i in range(4):
        device, visible, start, end = (tmp_path / "out" / f"{i}.txt").read_text().split()
        assert visible == device
        jobs.append((device, float(start), float(end)))
    assert {device for device, _, _ in jobs} <= {"3", "5"}
    overlapping = [(a, b) for a, b in itertools.combinations(jobs, 2) if a[1] < b[2] and b[1] < a[2]]
    assert overlapping, jobs  # gpu=2: two jobs at a time
    assert all(a[0] != b[0] for a, b in overlapping), jobs
    assert sorted(p.name for p in (tmp_path / ".snakemake" / "gpu-slots").iterdir()) == ["gpu3.lock", "gpu5.lock"]
