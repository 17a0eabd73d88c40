"""A warm worker for local runs: one process imports torch, MONAI and radsynth once, and every
rule script's job is forked from it instead of importing them afresh.

Why: a job's imports take about 4.5 s on a 2-core laptop CPU (torch 1.2 s, MONAI's eager
import of all its submodules with SciPy's statistics 2-3 s), which is most of a short job
(the tiny DAG's 74 jobs spent 200 of their 318 s importing) and 5 minutes of the quick demo.
Forking a process that already holds them costs a few milliseconds; the job then runs exactly
as it would alone (same code, same seeds, its own process: nothing is shared but read-only
memory). It is the pattern of PyTorch's DataLoader workers: the parent imports, never computes.

How: the workflow's ``onstart`` starts :func:`serve` (``python -m radsynth.warm``) on a Unix
socket in a private folder and exports its path; each rule script calls :func:`hand_off`
first. There, the job's own Python process (the "client", the one Snakemake started, times and
can kill) sends its script, working folder, environment and standard streams to the worker,
which forks a child that runs the script; the client waits, forwards signals and exits with
the child's status. Without a worker (cluster jobs, a worker still importing, a dry run) the
script runs in the client as usual. Snakemake's benchmark sees the client only, so the child
reports its peak memory and CPU time, which the client writes beside the job's log
(:func:`usage_path`) for the benchmark table.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import pkgutil
import resource
import runpy
import signal
import socket
import sys
import threading
import traceback

SOCKET_ENV = "RADSYNTH_WARM_SOCKET"
_in_worker = False  # True in a forked child: its script's hand_off() must run it, not send it


def usage_path(log: str | os.PathLike) -> str:
    """Where a warm job's peak memory and CPU time go: beside its log, ``<log stem>.usage.json``."""
    stem, _ = os.path.splitext(os.fspath(log))
    return stem + ".usage.json"


def _send(conn: socket.socket, message: dict) -> None:
    conn.sendall(json.dumps(message).encode() + b"\n")


def _receive(conn: socket.socket, buffer: bytearray) -> dict | None:
    """The next newline-terminated JSON message, or None when the other side has gone."""
    while b"\n" not in buffer:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        buffer += chunk
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return json.loads(line)


def hand_off(snakemake) -> None:
    """Run this rule script's job in the warm worker, if the workflow started one.

    Call it first in a rule script. Returns at once (the script then runs here) when no worker
    is listening or inside the worker's child; otherwise exits with the job's status.

    Args:
        snakemake: the script's ``snakemake`` object (its first log locates the usage record).
    """
    log = snakemake.log[0] if len(snakemake.log) else None
    if _in_worker:
        return
    if log and os.path.exists(usage_path(log)):
        os.remove(usage_path(log))  # a record of an earlier warm run of this job
    path = os.environ.get(SOCKET_ENV)
    if not path:
        return
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except OSError:  # the worker is still importing, or has ended: run here
        conn.close()
        return
    request = {"script": os.path.abspath(sys.argv[0]), "argv": sys.argv, "cwd": os.getcwd(),
               "env": dict(os.environ)}
    sys.stdout.flush()
    sys.stderr.flush()
    socket.send_fds(conn, [json.dumps(request).encode() + b"\n"], [0, 1, 2])
    buffer = bytearray()
    started = _receive(conn, buffer)
    if started is None:
        sys.exit(f"radsynth warm worker ({path}): closed the connection before starting the job")
    child = int(started["pid"])
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda number, frame: os.kill(child, number))
    finished = _receive(conn, buffer)
    if finished is None:
        sys.exit(f"radsynth warm worker: job process {child} ended without a status (killed?)")
    if log:
        usage = {key: finished[key] for key in ("max_rss", "cpu_time", "s")}
        with open(usage_path(log) + ".part", "w") as handle:
            json.dump(usage, handle)
        os.replace(usage_path(log) + ".part", usage_path(log))
    sys.exit(finished["status"])


def _run_job(conn: socket.socket) -> None:
    """In the forked child: take over the client's streams, folder and environment, run its
    script, report the status and resource use, and exit. Never returns."""
    global _in_worker
    _in_worker = True
    gc.enable()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the worker ignores it; the job's subprocesses need it
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    message, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
    buffer = bytearray(message)
    request = _receive(conn, buffer)
    for target, fd in zip((0, 1, 2), fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = list(request["argv"])
    _send(conn, {"pid": os.getpid()})

    def watch_client():  # the client's end closes when it dies: then so does the job
        try:
            conn.recv(1)
        finally:
            os._exit(1)

    threading.Thread(target=watch_client, daemon=True).start()
    start = os.times()
    status = 0
    try:
        runpy.run_path(request["script"], run_name="__main__")
    except SystemExit as stop:
        status = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        if not isinstance(stop.code, int) and stop.code is not None:
            print(stop.code, file=sys.stderr)
    except BaseException as error:  # noqa: BLE001 - the job's failure, reported as Python would
        frames = error.__traceback__
        while frames is not None and frames.tb_frame.f_code.co_filename != request["script"]:
            frames = frames.tb_next  # from the script's own frames on, as a fresh run shows it
        traceback.print_exception(type(error), error, frames or error.__traceback__)
        status = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        end = os.times()
        own = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        _send(conn, {
            "status": status,
            "max_rss": max(own.ru_maxrss, children.ru_maxrss) / 1024.0,  # KiB -> MiB
            "cpu_time": sum(end[:4]) - sum(start[:4]),
            "s": end.elapsed - start.elapsed,
        })
    finally:
        os._exit(status)


def preload() -> None:
    """Import every radsynth module (and so torch, MONAI and the rest) without running any
    computation: a process that has used OpenMP threads cannot safely fork."""
    import radsynth

    for module in pkgutil.walk_packages(radsynth.__path__, "radsynth."):
        importlib.import_module(module.name)


def serve(path: str, parent: int) -> None:
    """Listen on ``path`` and fork one child per job until ``parent`` (Snakemake) has gone.

    Args:
        path: the Unix socket to create (its folder should be private to the user).
        parent: process id whose end ends the worker.
    """
    # Python's advice for a server that forks without exec: no collection in the parent (it
    # would leave holes in pages the children share), and the imported objects frozen out of
    # the children's collections (each full one would walk, and copy, every page of them:
    # the children trained 4-5 % slower without it).
    gc.disable()
    preload()
    gc.freeze()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".binding")
    listener.listen(64)
    os.rename(path + ".binding", path)  # clients never find a socket that is not listening yet
    listener.settimeout(1.0)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # finished children are reaped by the kernel
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(0))
    try:
        while _alive(parent):
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(None)
            if os.fork() == 0:
                listener.close()
                _run_job(conn)
            conn.close()
    finally:
        listener.close()
        if os.path.exists(path):
            os.remove(path)
        try:
            os.rmdir(os.path.dirname(path))  # the private folder, when the worker was its only user
        except OSError:
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


if __name__ == "__main__":
    # Through the package's module, not this __main__ copy: the children's scripts import
    # radsynth.warm, and its flag is the one that tells their hand_off() where it runs.
    from radsynth import warm

    warm.serve(sys.argv[1], int(sys.argv[2]))
