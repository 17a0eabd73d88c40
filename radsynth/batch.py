"""Many subjects per workflow job: batches by name, a worker pool, atomic subject folders and
one record per subject.

A job per subject costs more to start (a Python process that imports the stack, Snakemake's
bookkeeping) than the work itself on most datasets: 1,817 jobs took 1 h 51 min to prepare 647
ultrasound pictures. nnU-Net preprocesses thousands of cases with a worker pool in one
process; the per-subject stages of the workflow do the same, one job per batch.

A subject's batch depends only on its name and the number of batches, so adding or removing
one subject changes one batch, not all of them. A batch job writes each subject's files into a
folder of its own (replaced atomically, so a subject is either complete or absent) and a JSON
record per subject (``status`` "ok" or "failed", with the file and the reason), which is the
job's declared output: a subject that fails leaves no file and the others finish.
"""

from __future__ import annotations

import json
import logging
import math
import multiprocessing
import os
import shutil
import tempfile
import traceback
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from radsynth.io import InputError, write_json

logger = logging.getLogger(__name__)

OK, FAILED = "ok", "failed"
_UMASK = os.umask(0)
os.umask(_UMASK)
_FOLDER_MODE = 0o777 & ~_UMASK


def batch_count(subjects: int, batch_size: int) -> int:
    """Batches of at most about ``batch_size`` subjects (at least one batch)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return max(1, math.ceil(subjects / batch_size))


def batch_of(subject: str, batches: int) -> str:
    """The batch of a subject, ``b<k>`` with k = crc32(name) mod ``batches``."""
    width = len(str(batches - 1))
    return f"b{zlib.crc32(subject.encode()) % batches:0{width}d}"


def batches(subjects: Iterable[str], batch_size: int) -> dict[str, list[str]]:
    """Batch name -> its subjects (sorted), for every non-empty batch, in batch order.

    Args:
        subjects: subject identifiers.
        batch_size: the size a batch should have on average.
    """
    subjects = sorted(subjects)
    count = batch_count(len(subjects), batch_size)
    grouped: dict[str, list[str]] = {}
    for subject in subjects:
        grouped.setdefault(batch_of(subject, count), []).append(subject)
    return dict(sorted(grouped.items()))


def _guarded(work: Callable[..., dict], subject: str, args: tuple) -> dict:
    """``work(*args)``'s record, or a failure record: bad data (InputError) names the file and
    the reason; any other error is a fault of ours, recorded with its traceback."""
    try:
        record = work(*args)
    except InputError as error:
        return {"subject": subject, "status": FAILED, "file": str(error.path), "reason": error.reason}
    except Exception as error:  # noqa: BLE001 (one subject must not take the batch down)
        return {
            "subject": subject, "status": FAILED, "file": "", "reason": f"{type(error).__name__}: {error}",
            "traceback": traceback.format_exc(),
        }  # fmt: skip
    return {"subject": subject, "status": OK, **record}


def map_subjects(
    work: Callable[..., dict], jobs: Sequence[tuple[str, tuple]], workers: int = 1
) -> list[dict]:
    """Run ``work(*args)`` for each ``(subject, args)``, in a pool of ``workers`` processes.

    Args:
        work: a module-level function (it is pickled to the workers) returning the subject's
            record (a JSON-serialisable dict).
        jobs: ``(subject, args)`` pairs.
        workers: processes; 1 (or one job) runs in this process.

    Returns:
        One record per job, in order, each with ``subject`` and ``status`` ("ok" or
        "failed"; failures carry ``file`` and ``reason``).
    """
    workers = max(1, min(int(workers), len(jobs)))
    if workers == 1:
        results = [_guarded(work, subject, args) for subject, args in jobs]
    else:
        # fork, not spawn: spawn re-runs the parent's main module in every worker, and a
        # workflow script is that module. The parent does no work before the pool starts.
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            futures = [pool.submit(_guarded, work, subject, args) for subject, args in jobs]
            results = [future.result() for future in futures]
    for record in results:
        if record["status"] == FAILED:
            logger.error("%s failed: %s %s", record["subject"], record["file"], record["reason"])
            if "traceback" in record:
                logger.error(record["traceback"])
        else:
            logger.info("%s done", record["subject"])
    return results


@contextmanager
def subject_folder(folder: str | os.PathLike) -> Iterator[Path]:
    """A temporary folder that replaces ``folder`` when the block ends without an error.

    The subject's files appear together or not at all: on error the temporary folder is
    removed and an existing ``folder`` is left as it was.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        yield tmp
        os.chmod(tmp, _FOLDER_MODE)  # mkdtemp's 0o700 -> what a plain mkdir would give
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old{os.getpid()}")
            os.replace(folder, old)
            os.replace(tmp, folder)
            shutil.rmtree(old)
        else:
            os.replace(tmp, folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def remove_subject(folder: str | os.PathLike) -> None:
    """Remove a subject's folder left by an earlier run (the subject failed this time)."""
    if Path(folder).exists():
        shutil.rmtree(folder)


def write_records(path: str | os.PathLike, records: Sequence[dict]) -> None:
    """The batch's records as one JSON list, written atomically."""
    write_json(path, {"subjects": [{k: v for k, v in r.items() if k != "traceback"} for r in records]})


def read_records(paths: Iterable[str | os.PathLike]) -> list[dict]:
    """The records of several batches, sorted by subject."""
    records = []
    for path in paths:
        records += json.loads(Path(path).read_text())["subjects"]
    return sorted(records, key=lambda record: record["subject"])


def usable(records: Iterable[dict]) -> list[str]:
    """The subjects whose record says ``ok``, sorted."""
    return sorted(record["subject"] for record in records if record["status"] == OK)
