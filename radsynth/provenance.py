"""Provenance sidecars: what made a model or a table, next to it.

``with provenance_sidecars(snakemake.output, snakemake.config, snakemake.input):`` around the
writes of a training or table script writes ``<output>.provenance.json`` beside every model
(``.pt``) and table (``.csv``, ``.tsv``, ``.md``, ``.tex``, ``.html``) output, before the output
itself is renamed into place (an output never exists without its sidecar), holding:

- ``config``: the run's whole config (after the scale preset and overrides);
- ``data_hash``: ``{input path: sha256}``; a folder is hashed by its files
  (:func:`radsynth.io.file_hash`), so the hash says which data a result came from;
- ``packages``: versions of Python and the packages that shape the results (null: missing);
- ``git``: ``{"commit", "dirty"}`` of the checkout the ``radsynth`` package was imported from,
  null when it is not a git checkout or git is missing;
- ``created``: when the sidecar was written (UTC, ISO 8601);
- ``output``: the path and sha256 of the file it describes (sidecars only), so a sidecar left
  beside a file that changed since is recognisable.

The sidecar is the one output of a run that differs between two identical runs (``created``);
the model or table itself does not.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import subprocess
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from radsynth.io import (
    BEFORE_RENAME,
    InputError,
    file_hash,
    package_versions,
    write_json,
)

MODEL_SUFFIXES = (".pt",)
TABLE_SUFFIXES = (".csv", ".tsv", ".md", ".tex", ".html")
SIDECAR_SUFFIX = ".provenance.json"
_GIT_TIMEOUT_S = 30
# The checkpoint sidecar's key for the subjects whose data the weights were trained on.
TRAINING_SUBJECTS = "training_subjects"
_SHOWN = 5  # overlapping subjects named in an error

logger = logging.getLogger("radsynth")


def provenance(config: dict, inputs: Iterable[str | os.PathLike]) -> dict[str, Any]:
    """The provenance record of a run's outputs.

    Args:
        config: the run's config (``snakemake.config``); kept as plain JSON values (anything
            JSON has no type for is written as its ``str``).
        inputs: the files and folders the outputs were made from (``snakemake.input``).
            Each distinct path is hashed once; a path that does not exist gets null.

    Returns:
        ``{"config", "data_hash", "packages", "git", "created"}`` (see the module docstring).
    """
    data_hash: dict[str, str | None] = {}
    for path in inputs:
        key = os.fspath(path)
        if key not in data_hash:
            data_hash[key] = file_hash(key) if os.path.exists(key) else None
    return {
        # JSON round trip: plain values, string keys (YAML's `255: 1` next to string keys
        # could not be sorted when the sidecar is written).
        "config": json.loads(json.dumps(config, default=str)),
        "data_hash": data_hash,
        "packages": package_versions(),
        "git": git_state(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def needs_sidecar(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a model or a table, the outputs that get a provenance sidecar."""
    name = os.fspath(path).lower()
    return name.endswith(MODEL_SUFFIXES + TABLE_SUFFIXES) and not os.path.isdir(path)


def sidecar_path(path: str | os.PathLike) -> Path:
    """``<path>.provenance.json``."""
    return Path(f"{os.fspath(path)}{SIDECAR_SUFFIX}")


@contextlib.contextmanager
def provenance_sidecars(
    outputs: Iterable[str | os.PathLike], config: dict, inputs: Iterable[str | os.PathLike]
) -> Iterator[None]:
    """Give every model and table in ``outputs`` that the block writes its sidecar, first.

    Wrap a script's writes in it::

        with provenance_sidecars(snakemake.output, snakemake.config, snakemake.input):
            save_checkpoint(snakemake.output.model, state, sidecar)
            write_csv(snakemake.output.history, history, sep="\t")

    Each ``<output>.provenance.json`` is written atomically while its output is still at its
    temporary name (:data:`radsynth.io.BEFORE_RENAME`), and the output is renamed into place
    after it: a job killed in between leaves an output's sidecar without the output (harmless:
    no rule reads sidecars, the output is missing and the job runs again), never an output
    without its sidecar. Inputs are hashed once, on entry, for all the sidecars; outputs that
    are neither models nor tables (arrays, figures, logs) get none.

    Args:
        outputs: the script's outputs (``snakemake.output``).
        config: the run's config (``snakemake.config``).
        inputs: the script's inputs (``snakemake.input``).

    Raises:
        ValueError: a model or table of ``outputs`` was written by other means than the
            atomic writers of :mod:`radsynth.io`, so its sidecar could not come first.
    """
    # By name: directory() outputs do not exist yet; they are left out on exit.
    targets = {os.path.abspath(path): os.fspath(path) for path in outputs if needs_sidecar(path)}
    if not targets:
        yield
        return
    record = provenance(config, inputs)
    described: set[str] = set()

    def write_sidecar(path: Path, tmp: Path) -> None:
        key = targets.get(os.path.abspath(path))
        if key is not None:
            write_json(sidecar_path(key), {**record, "output": {"path": key, "sha256": file_hash(tmp)}})
            described.add(key)

    BEFORE_RENAME.append(write_sidecar)
    try:
        yield
    finally:
        BEFORE_RENAME.remove(write_sidecar)
    bare = [path for path in targets.values() if os.path.isfile(path) and path not in described]
    if bare:
        raise ValueError(f"{bare}: written outside radsynth.io's atomic writers, so without a provenance sidecar")


def check_pretrained(path: str | os.PathLike, sidecar: dict, held_out: Iterable[str]) -> None:
    """Refuse pretrained weights that were trained on a subject some evaluation tests on.

    Fine-tuning from them would let every fold's model see those test subjects. Weights
    without a record of their subjects (a user's own, trained elsewhere) cannot be checked:
    they are accepted with a warning.

    Args:
        path: the checkpoint (named in the error).
        sidecar: its JSON sidecar; :data:`TRAINING_SUBJECTS` lists the subjects it saw.
        held_out: the subjects any fold tests on (:func:`radsynth.split.held_out_subjects`).

    Raises:
        InputError: naming the checkpoint, a few overlapping subjects and the reason.
    """
    recorded = sidecar.get(TRAINING_SUBJECTS)
    if recorded is None:
        logger.warning(
            "%s records no training subjects: it cannot be checked for test subjects, and is "
            "used as weights trained on other data", path,
        )  # fmt: skip
        return
    overlap = sorted(set(map(str, recorded)) & set(map(str, held_out)))
    if overlap:
        shown = ", ".join(overlap[:_SHOWN]) + (f" and {len(overlap) - _SHOWN} more" if len(overlap) > _SHOWN else "")
        raise InputError(
            path,
            f"pretrained on {len(overlap)} subject(s) that a fold tests on ({shown}): fine-tuning "
            "from it would leak test subjects into training; use weights trained on other data",
        )


@functools.cache
def package_hash() -> str:
    """SHA-256 over the ``.py`` files of the ``radsynth`` package: which code is running.

    Unlike :func:`git_state` it works for an installed copy and sees uncommitted edits. The
    hash covers names (relative, ``/``-separated) and contents, so it is the same wherever the
    package lies; computed once per process (a hundred small files).
    """
    package = Path(__file__).resolve().parent
    names = sorted(path.relative_to(package).as_posix() for path in package.rglob("*.py"))
    manifest = "".join(f"{file_hash(package / name)}  {name}\n" for name in names)
    return hashlib.sha256(manifest.encode()).hexdigest()


def git_state() -> dict[str, Any] | None:
    """``{"commit": sha, "dirty": bool}`` of the git checkout holding the ``radsynth`` package.

    ``dirty`` is true when tracked files differ from the commit or untracked, non-ignored
    files exist (results are git-ignored). None when the package is not a tracked part of a
    git checkout (an installed copy) or git is missing or fails.
    """
    package = Path(__file__).resolve().parent
    # GIT_OPTIONAL_LOCKS=0: `git status` must not take the index lock that a user's own git
    # command (or a parallel job) may hold.
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(package), *args],
            capture_output=True, text=True, timeout=_GIT_TIMEOUT_S, env=env, check=True,
        )  # fmt: skip
        return done.stdout

    try:
        # An installed copy inside some other repository (a venv in a project) is not ours.
        git("ls-files", "--error-unmatch", "__init__.py")
        commit = git("rev-parse", "HEAD").strip()
        dirty = bool(git("status", "--porcelain").strip())
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": dirty}
