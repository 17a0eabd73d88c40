"""The pretraining pool: slices of other datasets, on the task's grid and channels, with prompts.

EMIT-Diff pretrains on RadImageNet and fine-tunes per task; here the pool is every extra dataset
a run names (``diffusion.pretrain.pool``), read with the same adapters and preprocessing as the
task. The text prompt (modality, organ, pathology) is what tells the pool's datasets apart, so
one model learns them all and the fine-tuning starts from a prior over medical images.

A pool dataset must not be the task's own data under another name: pretraining on it would
show the model every fold's test subjects. :func:`refuse_task_data` compares file contents. A
phantom pool is rendered from its own seed (subjects the task never has), so a CPU run can
pretrain once on phantom subjects of its own.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence

import numpy as np

from radsynth.data import discover, load_subject
from radsynth.data.base import SubjectSource
from radsynth.data.phantom import subject_names, write_phantom_subject
from radsynth.io import InputError, file_hash, load_arrays
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


def refuse_task_data(dataset: Mapping, sources: Sequence[SubjectSource], task: Mapping) -> None:
    """Refuse a pool subject whose files are copies of the task's files.

    A pool subject is a copy when every one of its files has the content of some file of the
    task's dataset, whatever the folder or dataset name (one equal file alone, such as an
    empty mask, does not make a copy). Only files whose size equals a task file's are hashed,
    so a pool of other data costs one ``stat`` per file.

    Args:
        dataset: the pool dataset's config (its ``name`` is in the error).
        sources: its subjects (:func:`radsynth.data.discover`).
        task: the task's ``dataset`` config; its files not written yet (the phantom's) are
            skipped.

    Raises:
        InputError: naming the pool file, the task file with the same content and the reason.
    """
    by_size: dict[int, list[str]] = {}
    for source in discover(dict(task)):
        for path in source.files:
            if os.path.isfile(path):
                by_size.setdefault(os.path.getsize(path), []).append(path)
    hashed: dict[int, dict[str, str]] = {}  # size -> {sha256: task file}, hashed on demand

    def task_twin(path: str) -> str | None:
        size = os.path.getsize(path) if os.path.isfile(path) else -1
        if size not in by_size:
            return None
        if size not in hashed:
            hashed[size] = {file_hash(twin): twin for twin in by_size[size]}
        return hashed[size].get(file_hash(path))

    for source in sources:
        twins = {}
        for path in source.files:
            twins[path] = task_twin(path)
            if twins[path] is None:
                break
        else:
            if twins:
                path, twin = next(iter(twins.items()))
                raise InputError(
                    path,
                    f"pool dataset {dataset.get('name')!r} (subject {source.subject}) is the task's "
                    f"data: it has the content of {twin} of dataset {task.get('name')!r}, and "
                    "pretraining on the task's subjects would show the model every fold's test "
                    "subjects; point the pool at other data",
                )


def pool_slices(
    dataset: Mapping,
    preprocess: Mapping,
    channels: Sequence[str],
    min_foreground: float = 0.1,
    *,
    task: Mapping,
    seed: int | None = None,
) -> dict[str, np.ndarray]:
    """Every foreground slice of one pool dataset, preprocessed onto the task's grid.

    Args:
        dataset: the pool dataset's config (as ``dataset`` of a run: kind, root, channels,
            prompt, ...).
        preprocess: :func:`radsynth.preprocess.preprocess_subject` options, with the task's
            2D ``size`` so pool and task slices have one shape.
        channels: the pool channels filling the task's channels (:func:`pool_channels`).
        min_foreground: minimum foreground fraction of a kept slice.
        task: the task's ``dataset`` config: a pool subject that is a copy of task data is
            refused (:func:`refuse_task_data`).
        seed: a phantom pool's seed (required for kind ``phantom``; the run's seed would render
            the task's own subjects, which the config check refuses). Its subjects are named
            ``<pool name>.phantom_<index>``, apart from the task's.

    Returns:
        ``image`` float32 (N, C, H, W) in [-1, 1], ``label`` uint8 (N, H, W) (zeros for a
        dataset without labels), ``tokens`` int64 (N, MAX_WORDS) of the
        dataset's prompt, ``subject`` (N,) the subject of each slice.
    """
    check_terms(dataset.get("prompt") or {})
    if dataset["kind"] == "phantom":
        if seed is None:
            raise ValueError(f"pool dataset {dataset.get('name')!r}: a phantom pool needs its own seed")
        with tempfile.TemporaryDirectory() as root:
            rendered = {**dataset, "root": root}
            for name in subject_names(dataset["subjects"]):
                write_phantom_subject(name, seed, rendered)
            return _slices(rendered, discover(rendered), preprocess, channels, min_foreground, prefix=f"{dataset['name']}.")
    sources = discover(dict(dataset))
    refuse_task_data(dataset, sources, task)
    return _slices(dataset, sources, preprocess, channels, min_foreground)


def _slices(dataset: Mapping, sources: Sequence[SubjectSource], preprocess: Mapping, channels: Sequence[str],
            min_foreground: float, prefix: str = "") -> dict[str, np.ndarray]:
    images, labels, subjects, names = [], [], [], {}
    for source in sources:
        subject = preprocess_subject(load_subject(source, dict(dataset)), **preprocess)
        keep = foreground_slices(subject.mask, min_foreground)
        volume = np.stack([subject.images[name] for name in channels])  # (C, X, Y, Z)
        images.append(np.moveaxis(volume[..., keep], -1, 0))
        # The pool ControlNet's control maps mark label boundaries; unlabelled data, edges only.
        label = subject.label if subject.label is not None else np.zeros(subject.mask.shape, np.uint8)
        labels.append(np.moveaxis(label[..., keep], -1, 0))
        subjects += [prefix + source.subject] * len(keep)
        names[prefix + source.subject] = source.name
    if not subjects:
        raise ValueError(f"pool dataset {dataset.get('name')!r}: no slice with foreground")
    return {
        "image": np.concatenate(images).astype(np.float32),
        "label": np.concatenate(labels).astype(np.uint8),
        "tokens": subject_tokens(dataset.get("prompt") or {}, subjects, names),
        "subject": np.array(subjects),
    }


def labelled_slices(pool: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The slices of a pool dataset with a labelled structure; all of them when it has no labels.

    Args:
        pool: one pool dataset's arrays (:func:`pool_slices`).

    Returns:
        The same arrays, rows with a labelled voxel only (every row of an unlabelled dataset).
    """
    labelled = np.asarray(pool["label"]).reshape(len(pool["label"]), -1).any(axis=1)
    if not labelled.any():
        return dict(pool)
    return {key: np.asarray(value)[labelled] for key, value in pool.items()}


def joint_pool(paths: Sequence[str], classes: int) -> dict[str, np.ndarray]:
    """What the joint image + mask DDPM pretrains on: the labelled slices of the pool's labelled
    datasets (an unlabelled one would teach it to draw empty masks).

    Args:
        paths: the pool datasets' slice files (``pool/<name>.npz``).
        classes: the task's foreground classes; a pool label above them has no mask value.

    Raises:
        InputError: a pool file with a label above ``classes``.
        ValueError: no pool file has a labelled slice.
    """
    parts = []
    for path in paths:
        part = load_arrays(path)
        top = int(np.max(part["label"], initial=0))
        if top > classes:
            raise InputError(path, f"has label {top}, but the task has {classes} foreground classes")
        if top:
            parts.append(labelled_slices(part))
    if not parts:
        raise ValueError(f"no pool dataset of {list(paths)} has a labelled slice for the joint DDPM to pretrain on")
    return {key: np.concatenate([part[key] for part in parts]) for key in ("image", "label", "subject")}
