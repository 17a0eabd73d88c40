"""Per-sample noise seeds, so a synthetic image depends on (seed, source, sample) only."""

from __future__ import annotations

import numpy as np
import torch


def sample_seeds(seed: int, source_index: np.ndarray, sample: np.ndarray) -> np.ndarray:
    """Per-sample seeds from (seed, real slice, sample number), independent of batching."""
    states = [np.random.SeedSequence([int(seed), int(i), int(k)]).generate_state(1)[0] for i, k in zip(source_index, sample)]
    return np.array(states, dtype=np.int64)


def sample_noise(seeds: np.ndarray, shape: tuple[int, ...]) -> torch.Tensor:
    # CPU generators, one per sample: the same seed gives the same noise on any device and batch size.
    return torch.stack([torch.randn(shape, generator=torch.Generator().manual_seed(int(s))) for s in seeds])


def plan_samples(n: int, per_mask: int, seed: int) -> dict[str, np.ndarray]:
    """Which sample is which: K samples per source mask, ordered by source then sample.

    Args:
        n: number of source masks (real training slices).
        per_mask: K, samples per source.
        seed: base seed of the run.

    Returns:
        ``source_index`` int64 (N*K,), ``sample`` int64 (N*K,) in 0..K-1 and ``seed`` int64
        (N*K,) from :func:`sample_seeds`.
    """
    source_index = np.repeat(np.arange(n, dtype=np.int64), per_mask)
    sample = np.tile(np.arange(per_mask, dtype=np.int64), n)
    return {"source_index": source_index, "sample": sample, "seed": sample_seeds(seed, source_index, sample)}
