"""One GPU per job: which device a workflow job runs on, when a machine has several.

Snakemake counts a ``gpu`` resource (``--resources gpu=N``, ``resources: gpu=1``) but only
limits how many GPU jobs run at once; it never says *which* device a job should use, so
without help every job lands on device 0. :func:`claim_gpu` picks one: each device has a
lock file, ``<lock_dir>/gpu<device>.lock``, and a job takes the first device whose file it
can ``flock`` and narrows ``CUDA_VISIBLE_DEVICES`` to it. An flock belongs to an open file,
not to a path: the OS drops it when the process exits, crashes or is SIGKILLed, so no stale
lock outlives its job and nothing needs cleaning up (the lock files themselves stay).

Semantics:

* The pool is :func:`visible_devices` of the job: the ``CUDA_VISIBLE_DEVICES`` it inherited
  from Snakemake (so ``CUDA_VISIBLE_DEVICES=3,5 snakemake ...`` shares devices 3 and 5), or
  every device of the machine. A pool of one device is still a pool: jobs queue for it.
* One claim per process, held until the process ends (or :func:`release_gpu`). Claiming
  again returns the same device; so does a claim in a child process that inherited the
  claimed device (``shell:`` commands, spawned workers), which would otherwise wait for a
  lock its own parent holds. Forked children share the lock, which lasts until they end too.
* Nothing changes, and the result is None, on a machine without devices and under SLURM
  (``SLURM_JOB_ID`` set), where Slurm already sets ``CUDA_VISIBLE_DEVICES`` per job.
* The lock directory is per working directory (``.snakemake/gpu-slots``): two workflows run
  from different folders on one machine do not see each other's claims.
"""

from __future__ import annotations

import ctypes
import fcntl
import logging
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

DEFAULT_LOCK_DIR = Path(".snakemake") / "gpu-slots"
_CLAIMED = "RADSYNTH_GPU_CLAIMED"  # the device an ancestor process holds the lock of
_UNSET = object()
_held: tuple[str, int, object] | None = None  # (device, lock fd, CUDA_VISIBLE_DEVICES before)
logger = logging.getLogger("radsynth")


def visible_devices() -> list[str]:
    """The devices this machine offers the workflow, as ``CUDA_VISIBLE_DEVICES`` names them.

    The inherited ``CUDA_VISIBLE_DEVICES`` when set (a comma list; empty or ``-1`` means
    none; as in CUDA, the list ends at a negative index), otherwise ``0 .. n-1`` for the
    ``torch.cuda.device_count()`` devices. That count comes from NVML and does not
    initialise CUDA, so ``CUDA_VISIBLE_DEVICES`` can still be narrowed afterwards.
    """
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        import torch

        return [str(index) for index in range(torch.cuda.device_count())]
    devices = []
    for name in (part.strip() for part in value.split(",")):
        if name.startswith("-"):
            break
        if name:
            devices.append(name)
    return devices


def _lock_path(lock_dir: Path, device: str) -> Path:
    return lock_dir / f"gpu{re.sub(r'[^A-Za-z0-9_.-]', '_', device)}.lock"


def _try_lock(path: Path) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)  # who holds it, for the waiting message
    return fd


def _holders(lock_dir: Path, devices: Sequence[str]) -> str:
    names = []
    for device in devices:
        try:
            pid = _lock_path(lock_dir, device).read_text().strip() or "?"
        except OSError:
            pid = "?"
        names.append(f"{device} (pid {pid})")
    return ", ".join(names)


def _cuda_started() -> bool:
    """Whether this process has started the CUDA driver, which then ignores later changes to
    ``CUDA_VISIBLE_DEVICES``. ``torch.cuda.is_initialized()`` misses a driver started by
    ``torch.cuda.is_available()``; the driver itself answers NOT_INITIALIZED until started."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        return True
    try:
        driver = ctypes.CDLL("libcuda.so.1")  # the copy already loaded, if any: no new state
    except OSError:
        return False
    count = ctypes.c_int()
    return driver.cuDeviceGetCount(ctypes.byref(count)) == 0  # 0 = success, 3 = not initialised


def claim_gpu(
    lock_dir: str | os.PathLike = DEFAULT_LOCK_DIR,
    devices: Sequence[str] | None = None,
    *,
    timeout: float | None = 24 * 3600.0,
    poll: float = 0.5,
    log_every: float = 60.0,
) -> str | None:
    """Take a free device for this process and set ``CUDA_VISIBLE_DEVICES`` to it.

    Call it first thing in a job, before anything starts CUDA (``torch.cuda.is_available()``
    and the first GPU tensor both do; importing torch does not): CUDA reads
    ``CUDA_VISIBLE_DEVICES`` once, when it starts. The job then sees its device as ``cuda:0``.
    When every device is taken (``--resources gpu`` above the device count, or other
    processes holding them) it waits, logging the holders every ``log_every`` seconds.

    Args:
        lock_dir: folder of the lock files, created if missing; relative to the working
            directory, which for a Snakemake job is the workflow's.
        devices: the pool to pick from, as ``CUDA_VISIBLE_DEVICES`` names them; None means
            :func:`visible_devices`.
        timeout: seconds to wait for a free device; None waits for ever.
        poll: seconds between tries while waiting.
        log_every: seconds between the log messages while waiting.

    Returns:
        the claimed device; None, with nothing changed, without devices or under SLURM.

    Raises:
        TimeoutError: no device became free within ``timeout`` seconds.
        RuntimeError: CUDA has already started in this process.
    """
    global _held
    if os.environ.get("SLURM_JOB_ID"):
        return None
    if _held is not None:
        return _held[0]
    inherited = os.environ.get(_CLAIMED)
    if inherited and inherited == os.environ.get("CUDA_VISIBLE_DEVICES"):
        return inherited
    pool = list(visible_devices() if devices is None else devices)
    if not pool:
        return None
    if _cuda_started():
        raise RuntimeError(
            "claim_gpu must run before CUDA starts in this process (before torch.cuda.is_available() "
            "too): CUDA reads CUDA_VISIBLE_DEVICES once, so narrowing it now would do nothing. If "
            "counting the devices started it (no NVML), set CUDA_VISIBLE_DEVICES for Snakemake."
        )
    lock_dir = Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    last_log = start
    while True:
        for device in pool:
            fd = _try_lock(_lock_path(lock_dir, device))
            if fd is not None:
                _held = (device, fd, os.environ.get("CUDA_VISIBLE_DEVICES", _UNSET))
                os.environ["CUDA_VISIBLE_DEVICES"] = device
                os.environ[_CLAIMED] = device
                logger.info("using GPU %s (CUDA_VISIBLE_DEVICES=%s)", device, device)
                return device
        now = time.monotonic()
        if timeout is not None and now - start >= timeout:
            raise TimeoutError(
                f"no free GPU after {timeout:g} s: devices {_holders(lock_dir, pool)} are held "
                f"(locks in {lock_dir}). Run with --resources gpu=N no larger than the device "
                f"count, or stop the processes holding them."
            )
        if now - last_log >= log_every:
            logger.warning("waiting %.0f s for a GPU: all held: %s", now - start, _holders(lock_dir, pool))
            last_log = now
        time.sleep(poll)


def release_gpu() -> str | None:
    """Give back this process's device and restore ``CUDA_VISIBLE_DEVICES``.

    Not needed in a workflow job, whose exit releases the device; for tests and processes
    that outlive their GPU work (CUDA keeps the device it started with either way).

    Returns:
        the released device; None when this process held none.
    """
    global _held
    if _held is None:
        return None
    device, fd, before = _held
    _held = None
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
    if before is _UNSET:
        os.environ.pop("CUDA_VISIBLE_DEVICES", None)
    else:
        os.environ["CUDA_VISIBLE_DEVICES"] = before
    if os.environ.get(_CLAIMED) == device:
        os.environ.pop(_CLAIMED)
    return device
