"""Logging for workflow jobs: everything a job prints goes to the rule's log file."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path


def log_to(path: str | os.PathLike | None) -> logging.Logger:
    """Send this process's stdout, stderr (progress bars, warnings, C-level output) to ``path``.

    Args:
        path: the rule's ``log:`` file; None leaves the streams alone (interactive use).

    Returns:
        the ``radsynth`` logger, at INFO level.
    """
    logger = logging.getLogger("radsynth")
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a", buffering=1)
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
            os.dup2(handle.fileno(), stream.fileno())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    logger.setLevel(logging.INFO)
    return logger
