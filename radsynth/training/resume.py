"""Resumable training: a state file saved every N steps and on SIGTERM, read back on re-run.

Snakemake deletes a failed job's declared outputs, so the state lives at a path of its own
(``results/<dataset>/resume/...``). A preempted or killed job that is run again continues
from the last saved step instead of starting over; because the state holds every random
generator the loop draws from, the resumed run ends with the same weights as an
uninterrupted one. On SLURM, ``--requeue`` plus Snakemake's retries give the same effect.
A state is resumed only by the same settings and the same ``radsynth`` code (its source
hash): a job re-run after a fix starts over instead of continuing what the old code built.

Usage in a training loop::

    resume = Resume(path, every=100, fingerprint=settings)
    resume.track(model=model, optimizer=optim, generator=generator, log=log)
    for step in range(resume.start(), iterations):
        ...one optimiser step...
        resume.step(step + 1)
    resume.finish()
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import signal
import threading
from pathlib import Path

import numpy as np
import torch

from radsynth.io import file_hash
from radsynth.provenance import package_hash

logger = logging.getLogger("radsynth")

__all__ = ["Preempted", "Resume", "fingerprint_of", "job_resume", "numpy_state", "set_numpy_state"]


class Preempted(SystemExit):
    """Raised after the state is saved because SIGTERM arrived (exit status 143, as SIGTERM's)."""

    def __init__(self, step: int):
        super().__init__(143)
        self.step = step


def numpy_state(state: np.random.RandomState) -> dict:
    """A NumPy generator's state as tensors and numbers (loadable with ``weights_only=True``)."""
    name, keys, pos, has_gauss, gauss = state.get_state()
    return {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "gauss": float(gauss)}


def set_numpy_state(state: np.random.RandomState, saved: dict) -> None:
    keys = saved["keys"].numpy().astype(np.uint32)
    state.set_state((saved["name"], keys, saved["pos"], saved["has_gauss"], saved["gauss"]))


def _global_rng() -> dict:
    return {
        "python": [list(x) if isinstance(x, tuple) else x for x in random.getstate()],
        "numpy": numpy_state(np.random.mtrand._rand),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
    }


def _set_global_rng(saved: dict) -> None:
    version, internal, gauss = saved["python"]
    random.setstate((version, tuple(internal), gauss))
    set_numpy_state(np.random.mtrand._rand, saved["numpy"])
    torch.set_rng_state(saved["torch"])
    if saved["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(saved["cuda"])


def _state_of(part) -> object:
    if isinstance(part, torch.Generator):
        return part.get_state()
    if isinstance(part, np.random.RandomState):
        return numpy_state(part)
    return part.state_dict()


def _restore(part, saved) -> None:
    if isinstance(part, torch.Generator):
        part.set_state(saved)
    elif isinstance(part, np.random.RandomState):
        set_numpy_state(part, saved)
    else:
        part.load_state_dict(saved)


def fingerprint_of(settings: object) -> str:
    """A short hash of the run's settings: a state saved under other settings is not resumed."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Resume:
    """The resumable state of one training run.

    Args:
        path: the state file; None turns resuming off (every call is then a no-op).
        every: save after every ``every`` completed steps (0: only on SIGTERM).
        fingerprint: the run's settings (any JSON-able value); a saved state made under other
            settings, or by other ``radsynth`` code (:func:`radsynth.provenance.package_hash`),
            is ignored and the run starts over.
    """

    def __init__(self, path: str | os.PathLike | None, every: int = 0, fingerprint: object = None):
        self.path = None if path is None else Path(path)
        self.every = max(0, int(every))
        self.fingerprint = fingerprint_of(fingerprint)
        self.code = package_hash()
        self.parts: dict[str, object] = {}
        self.resumed_from = 0
        self._terminated = False
        self._previous_handler = None

    def track(self, **parts) -> None:
        """Register what the state holds: modules, optimisers, schedulers, scalers, generators
        (torch or NumPy) and any object with ``state_dict``/``load_state_dict``."""
        self.parts.update(parts)

    def start(self) -> int:
        """Restore a saved state if there is one; return the number of steps already done."""
        if self.path is None:
            return 0
        if threading.current_thread() is threading.main_thread():
            self._previous_handler = signal.signal(signal.SIGTERM, self._on_sigterm)
        if not self.path.exists():
            return 0
        saved = torch.load(self.path, map_location="cpu", weights_only=True)
        if saved.get("code") != self.code:
            # A fix changes what the saved weights and statistics mean; they are not reused.
            logger.warning("%s was saved by other radsynth code (source changed): starting over", self.path)
            return 0
        if saved.get("fingerprint") != self.fingerprint or set(saved["parts"]) != set(self.parts):
            logger.warning("%s was saved by a run with other settings: starting over", self.path)
            return 0
        for name, part in self.parts.items():
            _restore(part, saved["parts"][name])
        _set_global_rng(saved["rng"])
        self.resumed_from = int(saved["step"])
        logger.info("resumed from %s at step %d", self.path, self.resumed_from)
        return self.resumed_from

    def step(self, done: int) -> None:
        """Call after each completed step: saves on schedule, and saves and exits on SIGTERM."""
        if self.path is None:
            return
        if self._terminated:
            self.save(done)
            logger.warning("SIGTERM: state saved at step %d in %s; re-run to resume", done, self.path)
            raise Preempted(done)
        if self.every and done % self.every == 0:
            self.save(done)

    def save(self, done: int) -> None:
        """Write the state atomically (a kill during the write leaves the previous one)."""
        state = {
            "step": int(done),
            "fingerprint": self.fingerprint,
            "code": self.code,
            "parts": {name: _state_of(part) for name, part in self.parts.items()},
            "rng": _global_rng(),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        torch.save(state, partial)
        os.replace(partial, self.path)

    def finish(self) -> None:
        """The run is complete: drop the state file and the SIGTERM handler."""
        if self.path is None:
            return
        self.path.unlink(missing_ok=True)
        if self._previous_handler is not None:
            signal.signal(signal.SIGTERM, self._previous_handler)
            self._previous_handler = None

    def _on_sigterm(self, signum, frame) -> None:
        # Only a flag: the loop saves at the next step boundary, where the state is consistent.
        self._terminated = True


def job_resume(job) -> Resume:
    """The :class:`Resume` of a workflow job (a rule script's ``snakemake`` object): its state
    file is the rule's ``resume`` param, saved every ``resume_every`` steps; a state saved
    under other params, wildcards or input files (upstream models included) is not resumed.
    """
    params = dict(job.params.items())
    kept = {key: value for key, value in params.items() if key not in ("resume", "resume_every")}
    hashed = file_hash(*[str(path) for path in job.input if path])
    fingerprint = {"params": kept, "wildcards": dict(job.wildcards.items()), "inputs": hashed}
    return Resume(params["resume"], params["resume_every"], fingerprint=fingerprint)
