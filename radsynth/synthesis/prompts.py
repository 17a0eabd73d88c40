"""Text prompts of EMIT-Diff from a fixed vocabulary: modality, organ and pathology terms.

EMIT-Diff feeds CLIP embeddings of prompts such as "breast ultrasound, malignant tumour"; no
text encoder can be downloaded here, so a prompt is a short sequence of words from a fixed
vocabulary, and the diffusion model learns one embedding per word (see
:class:`radsynth.synthesis.networks.PromptEncoder`). The vocabulary is part of the checkpoint's
contract: a word's index must never change, so new words are only ever appended.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np

PAD = "<pad>"
MODALITIES = (
    "mri", "ct", "ultrasound", "x-ray", "pet",
    "t1", "t1ce", "t2", "flair", "pd", "dwi", "adc", "pre-contrast", "post-contrast",
)  # fmt: skip
ORGANS = (
    "brain", "head", "breast", "prostate", "spleen", "liver", "kidney", "pancreas", "lung",
    "heart", "left-atrium", "abdomen", "pelvis",
)  # fmt: skip
PATHOLOGIES = (
    "normal", "lesion", "tumour", "glioma", "benign", "malignant", "edema", "cyst", "cancer",
)  # fmt: skip
VOCABULARY: tuple[str, ...] = (PAD, *MODALITIES, *ORGANS, *PATHOLOGIES)
INDEX = {word: i for i, word in enumerate(VOCABULARY)}
#: Words per prompt (shorter prompts are padded): modality + sequence terms, organ, pathology.
MAX_WORDS = 8


def check_terms(terms: Mapping) -> None:
    """Raise a ValueError naming any prompt word outside the vocabulary.

    Args:
        terms: ``dataset.prompt`` from the config: ``modality``, ``organ`` and ``pathology``
            lists of words, optional ``pathology_pattern`` (a regex with one group).
    """
    words = [w for key in ("modality", "organ", "pathology") for w in terms.get(key) or []]
    unknown = [w for w in words if w not in INDEX]
    if unknown:
        raise ValueError(f"dataset.prompt: unknown words {unknown}; the vocabulary is {list(VOCABULARY[1:])}")
    if len(words) + bool(terms.get("pathology_pattern")) > MAX_WORDS:
        raise ValueError(f"dataset.prompt: at most {MAX_WORDS} words, got {words}")


def prompt_words(terms: Mapping, subject: str) -> list[str]:
    """The words of one subject's prompt: modality, organ, then pathology.

    Args:
        terms: as for :func:`check_terms`. ``pathology_pattern`` takes the pathology from the
            subject's name (BUSI: ``^(benign|malignant|normal)``) instead of ``pathology``; a
            name it does not match gets the fixed ``pathology`` words.
        subject: the subject's dataset name.

    Returns:
        A list of vocabulary words.
    """
    pathology = list(terms.get("pathology") or [])
    pattern = terms.get("pathology_pattern")
    match = re.search(pattern, subject) if pattern else None
    if match and match.group(1).lower() in INDEX:
        pathology = [match.group(1).lower()]
    return [*(terms.get("modality") or []), *(terms.get("organ") or []), *pathology]


def tokenize(prompts: Sequence[Sequence[str]]) -> np.ndarray:
    """Word indices, padded with 0 to :data:`MAX_WORDS`.

    Args:
        prompts: one list of vocabulary words per image.

    Returns:
        int64 (N, MAX_WORDS).
    """
    tokens = np.zeros((len(prompts), MAX_WORDS), dtype=np.int64)
    for row, words in enumerate(prompts):
        if len(words) > MAX_WORDS:
            raise ValueError(f"prompt {list(words)} has more than {MAX_WORDS} words")
        for column, word in enumerate(words):
            if word not in INDEX:
                raise ValueError(f"prompt word {word!r} is not in the vocabulary")
            tokens[row, column] = INDEX[word]
    return tokens


def subject_tokens(terms: Mapping, subjects: Sequence[str], names: Mapping[str, str] | None = None) -> np.ndarray:
    """Tokens of each row's prompt, from its subject.

    Args:
        terms: ``dataset.prompt``.
        subjects: the subject of each row (e.g. a packed file's ``subject`` array).
        names: subject -> dataset name, where the pathology pattern needs the original name.

    Returns:
        int64 (N, MAX_WORDS).
    """
    names = names or {}
    cache: dict[str, list[str]] = {}
    words = [cache.setdefault(s, prompt_words(terms, names.get(s, s))) for s in map(str, subjects)]
    return tokenize(words)


def describe(tokens: np.ndarray) -> str:
    """The words of one token row, for figures and provenance."""
    return " ".join(VOCABULARY[i] for i in np.asarray(tokens).ravel() if i != 0)
