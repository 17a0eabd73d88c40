"""The pretraining pool: slices of other datasets, on the task's grid and channels, with prompts.

EMIT-Diff pretrains on RadImageNet and fine-tunes per task; here the pool is every extra dataset
a run names (``diffusion.pretrain.pool``), read with the same adapters and preprocessing as the
task. The text prompt (modality, organ, pathology) is what tells the pool's datasets apart, so
one model learns them all and the fine-tuning starts from a prior over medical images.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from radsynth.data import discover, load_subject
from radsynth.preprocess import foreground_slices, preprocess_subject
from radsynth.synthesis.prompts import check_terms, subject_tokens


def pool_channels(available: Sequence[str], chosen: Sequence[str] | None, count: int) -> list[str]:
    """Which of a pool dataset's channels fill the task's ``count`` channels, in order.

    Args:
        available: the pool dataset's channel names.
        chosen: the entry's ``channels`` (None: the first ``count`` available ones); one name
            is repeated ``count`` times (a grey picture feeding a multi-channel task).
        count: the task's channels (``segmentation.channels``).

    Returns:
        ``count`` channel names.
    """
    chosen = list(chosen or available[:count])
    unknown = [name for name in chosen if name not in available]
    if unknown:
        raise ValueError(f"pool channels {unknown} are not among the dataset's channels {list(available)}")
    if len(chosen) == 1:
        chosen = chosen * count
    if len(chosen) != count:
        raise ValueError(f"a pool dataset must give 1 or {count} channels, not {chosen}")
    return chosen


def pool_slices(
    dataset: Mapping,
    preprocess: Mapping,
    channels: Sequence[str],
    min_foreground: float = 0.1,
) -> dict[str, np.ndarray]:
    """Every foreground slice of one pool dataset, preprocessed onto the task's grid.

    Args:
        dataset: the pool dataset's config (as ``dataset`` of a run: kind, root, channels,
            prompt, ...).
        preprocess: :func:`radsynth.preprocess.preprocess_subject` options, with the task's
            2D ``size`` so pool and task slices have one shape.
        channels: the pool channels filling the task's channels (:func:`pool_channels`).
        min_foreground: minimum foreground fraction of a kept slice.

    Returns:
        ``image`` float32 (N, C, H, W) in [-1, 1], ``tokens`` int64 (N, MAX_WORDS) of the
        dataset's prompt, ``subject`` (N,) the subject of each slice.
    """
    check_terms(dataset.get("prompt") or {})
    images, subjects, names = [], [], {}
    for source in discover(dict(dataset)):
        subject = preprocess_subject(load_subject(source, dict(dataset)), **preprocess)
        keep = foreground_slices(subject.mask, min_foreground)
        volume = np.stack([subject.images[name] for name in channels])  # (C, X, Y, Z)
        images.append(np.moveaxis(volume[..., keep], -1, 0))
        subjects += [source.subject] * len(keep)
        names[source.subject] = source.name
    if not subjects:
        raise ValueError(f"pool dataset {dataset.get('name')!r}: no slice with foreground")
    return {
        "image": np.concatenate(images).astype(np.float32),
        "tokens": subject_tokens(dataset.get("prompt") or {}, subjects, names),
        "subject": np.array(subjects),
    }
