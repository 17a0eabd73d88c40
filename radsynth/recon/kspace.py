"""k-space of single-coil MR slices: centred FFTs, simulated phase, fastMRI sampling masks.

Complex slices are real tensors with a trailing real/imaginary pair folded into the channel
axis: ``(N, 2, H, W)``, channel 0 real, 1 imaginary, which is what the networks see. The FFTs
are MONAI's centred orthonormal ones (``fftn_centered_t``), so white noise in the image is
white noise of the same variance in k-space, which both diffusion methods rely on.
"""

from __future__ import annotations

import numpy as np
import torch
from monai.apps.reconstruction.transforms.array import RandomKspaceMask
from monai.networks.blocks.fft_utils_t import fftn_centered_t, ifftn_centered_t
from scipy.ndimage import gaussian_filter

# fastMRI's retrospective masks: random columns, a fully sampled centre (4x: 8 %, 8x: 4 %).
CENTRE_FRACTIONS = {4: 0.08, 8: 0.04}


def _pairs(x: torch.Tensor) -> torch.Tensor:
    """(N, 2, H, W) -> (N, H, W, 2), MONAI's complex layout."""
    return x.movedim(1, -1).contiguous()


def fft2(image: torch.Tensor) -> torch.Tensor:
    """Centred orthonormal 2D FFT of (N, 2, H, W) complex slices (real, imaginary channels)."""
    return fftn_centered_t(_pairs(image), spatial_dims=2).movedim(-1, 1)


def ifft2(kspace: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`fft2`."""
    return ifftn_centered_t(_pairs(kspace), spatial_dims=2).movedim(-1, 1)


def magnitude(x: torch.Tensor | np.ndarray):
    """|z| of (N, 2, H, W) complex slices -> (N, H, W)."""
    return (x[:, 0] ** 2 + x[:, 1] ** 2) ** 0.5


def smooth_phase(shape: tuple[int, int], rng: np.random.Generator, sigma: float = 0.15, max_phase: float = np.pi) -> np.ndarray:
    """A random phase map that varies slowly across the slice, as an MR phase does (B0
    inhomogeneity, coil phase): white noise low-passed with a Gaussian of ``sigma`` x the
    slice width, scaled to span [-max_phase, max_phase] at most."""
    noise = gaussian_filter(rng.standard_normal(shape), sigma=sigma * shape[-1], mode="wrap")
    return noise / max(np.abs(noise).max(), 1e-12) * max_phase


def simulate_complex(magnitudes: np.ndarray, seeds: np.ndarray, max_phase: float = np.pi) -> np.ndarray:
    """Complex slices from magnitude images, the way fastMRI's emulated single-coil data are
    made from real images: each slice gets its own smooth phase (seeded, so reproducible).

    Args:
        magnitudes: float (N, H, W), non-negative.
        seeds: int (N,), one per slice.
        max_phase: bound of the phase (radians).

    Returns:
        float32 (N, 2, H, W): real and imaginary channels.
    """
    magnitudes = np.asarray(magnitudes, np.float64)
    if magnitudes.ndim != 3 or (magnitudes < 0).any():
        raise ValueError(f"simulate_complex needs non-negative (N, H, W) magnitudes, got shape {magnitudes.shape}")
    phases = np.stack([smooth_phase(m.shape, np.random.default_rng(int(s)), max_phase=max_phase)
                       for m, s in zip(magnitudes, seeds)]) if len(magnitudes) else magnitudes
    return np.stack([magnitudes * np.cos(phases), magnitudes * np.sin(phases)], axis=1).astype(np.float32)


def column_mask(width: int, acceleration: int, seed: int, centre_fraction: float | None = None) -> np.ndarray:
    """A fastMRI random column mask (MONAI's ``RandomKspaceMask``): the centre's
    ``round(width x centre_fraction)`` columns always, the others with the probability that makes
    the expected count ``width / acceleration``.

    Args:
        width: columns of k-space (the phase-encoding direction, the last axis).
        acceleration: 4 or 8 (other values need ``centre_fraction``).
        seed: the mask's seed (fixed per test slice, random per training step).
        centre_fraction: fully sampled centre fraction; None takes fastMRI's for the acceleration.

    Returns:
        float32 (width,), 1 where a column is measured.
    """
    if centre_fraction is None:
        if acceleration not in CENTRE_FRACTIONS:
            raise ValueError(f"acceleration {acceleration}: fastMRI defines centre fractions for {sorted(CENTRE_FRACTIONS)} only")
        centre_fraction = CENTRE_FRACTIONS[acceleration]
    sampler = RandomKspaceMask([centre_fraction], [acceleration], spatial_dims=2, is_complex=True)
    sampler.set_random_state(seed=int(seed) % 2**32)
    sampler(torch.zeros(1, 1, width, 2))  # MONAI draws the mask while masking a k-space
    return np.asarray(sampler.mask, np.float32).reshape(width)


def masks_for(n: int, width: int, acceleration: int, seeds) -> torch.Tensor:
    """(n, 1, 1, width) column masks, broadcastable over (n, 2, H, width) k-space."""
    rows = [column_mask(width, acceleration, int(s)) for s in np.broadcast_to(seeds, (n,))]
    return torch.as_tensor(np.stack(rows)).reshape(n, 1, 1, width)


def zero_filled(image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(measured k-space M·FFT(x), zero-filled image IFFT of it) of complex slices."""
    measured = fft2(image) * mask
    return measured, ifft2(measured)


def peak_scale(image: torch.Tensor) -> torch.Tensor:
    """1 / max |image| per slice, (N, 1, 1, 1). Of the zero-filled image, it sets every method's
    units (MC-DDPM's official scaling; that image is all a scan offers before reconstruction)."""
    return 1 / magnitude(image).flatten(1).amax(1).clamp(min=1e-8).reshape(-1, 1, 1, 1)


def random_masks(n: int, width: int, accelerations, generator: torch.Generator) -> torch.Tensor:
    """(n, 1, 1, width) training masks: an acceleration drawn from the list, a fresh seed each."""
    picks = torch.randint(len(accelerations), (n,), generator=generator).tolist()
    seeds = torch.randint(2**31 - 1, (n,), generator=generator).tolist()
    rows = [column_mask(width, int(accelerations[p]), s) for p, s in zip(picks, seeds)]
    return torch.as_tensor(np.stack(rows)).reshape(n, 1, 1, width)


def data_consistency(image: torch.Tensor, measured: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The image whose k-space is the measurement where measured and the image's elsewhere."""
    return ifft2(fft2(image) * (1 - mask) + measured * mask)


def magnitude_stats(draws: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) over draws of their magnitudes: (B, S, 2, H, W) -> (B, H, W) each (MC-DDPM's
    reconstruction and uncertainty; std with ddof 0, as the official)."""
    images = magnitude(draws.flatten(0, 1)).reshape(*draws.shape[:2], *draws.shape[-2:])
    return images.mean(1), images.std(1, unbiased=False)
