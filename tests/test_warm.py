"""The warm worker (radsynth.warm): rule scripts forked from a process that imported
everything once run as they would alone, report their status, streams and resource use, and
die with their client."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from radsynth.warm import SOCKET_ENV, usage_path

# A rule script as Snakemake runs it: its preamble defines ``snakemake``, then hand_off().
SCRIPT = textwrap.dedent('''
    import json, os, sys, time

    class Snakemake:
        log = [sys.argv[1]]

    snakemake = Snakemake()
    torch_at_start = "torch" in sys.modules  # before the script has imported anything heavy
    from radsynth.warm import hand_off

    hand_off(snakemake)
    with open(sys.argv[2], "w") as out:
        json.dump({"pid": os.getpid(), "parent": os.getppid(), "torch_at_start": torch_at_start,
                   "cwd": os.getcwd(), "argv": sys.argv,
                   "variable": os.environ.get("WARM_TEST")}, out)
    print("to stdout", flush=True)
    mode = sys.argv[3]
    if mode == "fail":
        raise ValueError("boom in the job")
    if mode == "exit":
        sys.exit(3)
    if mode == "sleep":
        time.sleep(60)
''')


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    folder = tmp_path_factory.mktemp("warm")
    path = str(folder / "socket")
    process = subprocess.Popen([sys.executable, "-m", "radsynth.warm", path, str(os.getpid())])
    deadline = time.monotonic() + 120
    while not os.path.exists(path):  # it appears once the worker listens, after its imports
        assert process.poll() is None, "the warm worker exited while importing"
        assert time.monotonic() < deadline, "the warm worker did not start in 120 s"
        time.sleep(0.2)
    yield path, process.pid
    process.terminate()
    process.wait(timeout=30)
    assert not os.path.exists(path), "the worker leaves its socket behind"


def run_script(tmp_path, socket_path, mode="ok", wait=True):
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    log, record = tmp_path / "job.log", tmp_path / "record.json"
    env = {**os.environ, "WARM_TEST": "from the client"}
    env.pop(SOCKET_ENV, None)
    if socket_path:
        env[SOCKET_ENV] = socket_path
    args = [sys.executable, str(script), str(log), str(record), mode]
    process = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if not wait:
        return process, record, log
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err, json.loads(record.read_text()), log


def test_job_is_forked_from_the_worker_with_the_clients_folder_environment_and_streams(tmp_path, worker):
    socket_path, worker_pid = worker
    status, out, err, record, log = run_script(tmp_path, socket_path)
    assert status == 0, err
    assert record["parent"] == worker_pid  # a child of the worker, not of the client
    assert record["torch_at_start"]  # imported by the worker, not by the job
    assert record["cwd"] == str(tmp_path)
    assert record["variable"] == "from the client"
    assert record["argv"][1:] == [str(log), str(tmp_path / "record.json"), "ok"]
    assert out == "to stdout\n"  # the client's own stdout
    usage = json.loads(open(usage_path(log)).read())
    # The child's peak RSS holds at least torch's libraries (a fresh interpreter alone has < 20 MB).
    assert usage["max_rss"] > 100 and usage["cpu_time"] >= 0 and usage["s"] >= 0


def test_failure_and_exit_status_reach_the_client(tmp_path, worker):
    status, _, err, _, _ = run_script(tmp_path, worker[0], mode="fail")
    assert status == 1
    assert "ValueError: boom in the job" in err
    assert f'File "{tmp_path / "job.py"}"' in err.splitlines()[1]  # traceback from the script's frame
    status, _, _, _, _ = run_script(tmp_path, worker[0], mode="exit")
    assert status == 3


def test_without_a_worker_the_script_runs_in_its_own_process(tmp_path):
    (tmp_path / "job.usage.json").write_text("{}")  # a record of an earlier warm run
    status, _, err, record, log = run_script(tmp_path, str(tmp_path / "no-socket"))
    assert status == 0, err
    assert record["parent"] == os.getpid() and not record["torch_at_start"]
    assert not os.path.exists(usage_path(log))  # the stale record is gone


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])  # forwarded; the client's end closes
def test_killing_the_client_kills_the_job(tmp_path, worker, sig):
    process, record, _ = run_script(tmp_path, worker[0], mode="sleep", wait=False)
    deadline = time.monotonic() + 60
    while not record.exists():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(0.2)
    child = json.loads(record.read_text())["pid"]
    process.send_signal(sig)
    process.wait(timeout=30)
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{child}") and open(f"/proc/{child}/stat").read().split()[2] != "Z":
        assert time.monotonic() < deadline, "the job outlived its client"
        time.sleep(0.1)


def test_usage_path_sits_beside_the_log():
    assert usage_path("results/x/logs/train_gan/cv0.log") == "results/x/logs/train_gan/cv0.usage.json"
