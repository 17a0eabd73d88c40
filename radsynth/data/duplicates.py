"""Channels that are copies of one another, and the subjects a task should leave out for it.

Some releases fill a missing sequence with another one: in the Kaggle LGG set a missing
pre- or post-contrast T1 is replaced by FLAIR (6 patients have T1 = FLAIR, 10 T1c = FLAIR).
Such a subject passes every file check, yet T1 -> FLAIR translation on it is the identity.
:func:`duplicate_channels` finds equal or near-equal channels of one subject (the data report
row lists them), :func:`subjects_to_drop` says which subjects a task using given channels
should leave out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from itertools import combinations

import numpy as np
import SimpleITK as sitk
from skimage.filters import threshold_otsu

from radsynth.data.base import RawSubject

__all__ = ["DEFAULT_THRESHOLD", "duplicate_channels", "format_pairs", "parse_pairs", "subjects_to_drop"]

#: Correlation inside the foreground above which two channels count as one picture.
DEFAULT_THRESHOLD = 0.999
_PAIR = re.compile(r"^\s*([^=;\s]+)\s*=\s*([^=;\s]+)\s*$")


def duplicate_channels(raw: RawSubject, threshold: float = DEFAULT_THRESHOLD) -> list[tuple[str, str, float]]:
    """Pairs of channels of one subject that are the same picture.

    A pair is flagged when its arrays are exactly equal, or when their Pearson correlation
    inside the foreground exceeds ``threshold`` (a copy rescaled, re-quantised or with a
    little noise). The foreground is the dataset's mask, else the voxels above the Otsu
    threshold of the channels' mean (background would make any two images correlate).

    Args:
        raw: the subject as read by its adapter.
        threshold: correlation above which a pair is flagged.

    Returns:
        ``(channel, channel, r)`` per flagged pair, in channel order; r is 1.0 for equal arrays.
    """
    arrays = {name: sitk.GetArrayViewFromImage(image) for name, image in raw.images.items()}
    inside = _foreground(raw, arrays)
    standard = {}  # channel -> its foreground voxels as z-scores (None: constant there)
    for name, array in arrays.items():
        values = np.asarray(array[inside], dtype=np.float64)
        spread = values.std()
        standard[name] = (values - values.mean()) / spread if spread > 0 else None
    flagged = []
    for a, b in combinations(arrays, 2):
        if np.array_equal(arrays[a], arrays[b]):
            flagged.append((a, b, 1.0))
        elif standard[a] is not None and standard[b] is not None:
            r = float(np.mean(standard[a] * standard[b]))
            if r > threshold:
                flagged.append((a, b, r))
    return flagged


def _foreground(raw: RawSubject, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
    if raw.mask is not None:
        inside = sitk.GetArrayViewFromImage(raw.mask) > 0
        if inside.any():
            return inside
    mean = np.mean([np.asarray(a, dtype=np.float32) for a in arrays.values()], axis=0)
    if np.ptp(mean) == 0:  # e.g. a channel and its negative: no body to find, use every voxel
        return np.ones(mean.shape, dtype=bool)
    return mean > threshold_otsu(mean)


def format_pairs(pairs: Iterable[tuple[str, str, float]]) -> str:
    """The report's form of flagged pairs: ``"t1=flair;t1c=flair"`` ("" for none)."""
    return ";".join(f"{a}={b}" for a, b, _ in pairs)


def parse_pairs(text: str | None) -> list[tuple[str, str]]:
    """The pairs of a report cell written by :func:`format_pairs` (empty, NaN or None: none).

    Raises:
        ValueError: the cell is not of the form ``a=b;c=d``.
    """
    if not isinstance(text, str) or not text.strip():
        return []
    pairs = []
    for part in text.split(";"):
        match = _PAIR.match(part)
        if match is None:
            raise ValueError(f"duplicate_channels {text!r}: expected pairs like 't1=flair;t1c=flair'")
        pairs.append((match[1], match[2]))
    return pairs


def subjects_to_drop(
    rows: Iterable[Mapping], channels: Sequence[str], originals: Sequence[str] = ()
) -> dict[str, str]:
    """The subjects a task using ``channels`` should leave out, with the reason.

    Which channel of a flagged pair is the copy cannot be told from the pixels, so both
    count as suspect, unless one is in ``originals`` (LGG: ``[flair]``, the sequence that
    replaced the missing ones): then only the other one is. A subject is dropped when the
    task uses a suspect channel; tasks on other channels keep it.

    Args:
        rows: data report rows (:func:`radsynth.report.data.describe_subject`, or the
            ``verify/<subject>.json`` files), each with ``subject`` and ``duplicate_channels``.
        channels: the channels the task reads (translation: source and target;
            segmentation and synthesis: ``segmentation.channels``).
        originals: channels known to be the original of any copy.

    Returns:
        subject -> reason (``"t1=flair: t1 may be a copy"``), sorted by subject.
    """
    used, known = set(channels), set(originals)
    dropped = {}
    for row in rows:
        reasons = []
        for a, b in parse_pairs(row.get("duplicate_channels")):
            suspect = {a, b} - known or {a, b}
            hit = sorted(suspect & used)
            if hit:
                reasons.append(f"{a}={b}: {' and '.join(hit)} may be a copy")
        if reasons:
            dropped[str(row["subject"])] = "; ".join(reasons)
    return dict(sorted(dropped.items()))
