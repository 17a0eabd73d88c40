"""EMIT-Diff synthesis: control maps from real slices, and synthetic images paired with real masks.

Each real training mask conditions ``per_mask`` DDIM samples; every synthetic image keeps the
mask it was conditioned on as its label, so it can be added to a segmentation training set.
"""

from __future__ import annotations

import numpy as np
import torch
from monai.inferers import DiffusionInferer
from skimage.feature import canny
from skimage.segmentation import find_boundaries

from radsynth.nets.diffusion import CFG_FILL_VALUE, DiffusionSynthesizer, ddim_scheduler
from radsynth.train.common import autocast, pick_device, to_device


def control_map(image: np.ndarray, label: np.ndarray, sigma: float, mask_fill: float | None = None) -> np.ndarray:
    """EMIT-Diff's control image: Canny edges of the image, max-combined with the mask boundary.

    Args:
        image: float (N, C, H, W) in [-1, 1]; edges are found on the mean over channels.
        label: integer (N, H, W) classes; boundaries between any two classes are marked,
            on the inside of the labelled region (``find_boundaries(mode="inner")``).
        sigma: Gaussian sigma of the Canny detector (pixels); larger keeps only coarse edges.
        mask_fill: if set (in (-1, 1)), the value of the foreground's interior, so the map says
            which side of the boundary is the lesion (an extension of EMIT-Diff that a model
            trained from scratch learns far sooner); None keeps EMIT-Diff's boundary only.

    Returns:
        float32 (N, 1, H, W) with values in [-1, 1]: 1 on an edge or mask boundary,
        ``mask_fill`` inside the foreground, -1 elsewhere (-1 is also the classifier-free-
        guidance fill, i.e. "no structure"); only {-1, 1} when ``mask_fill`` is None.
    """
    image = np.asarray(image, dtype=np.float32)
    label = np.asarray(label)
    if image.ndim != 4 or label.shape != (image.shape[0],) + image.shape[2:]:
        raise ValueError(f"need image (N, C, H, W) and label (N, H, W), got {image.shape} and {label.shape}")
    # Map to [0, 1] so Canny's default thresholds (fractions of the float range) apply.
    gray = (image.mean(axis=1) + 1.0) / 2.0
    out = np.full((image.shape[0], 1) + image.shape[2:], -1.0, dtype=np.float32)
    for i in range(image.shape[0]):  # both detectors are 2D; a volume call would link slices
        if mask_fill is not None:
            out[i, 0][label[i] > 0] = mask_fill
        edges = canny(gray[i], sigma=sigma) | find_boundaries(label[i], mode="inner")
        out[i, 0][edges] = 1.0
    return out


def sample_seeds(seed: int, source_index: np.ndarray, sample: np.ndarray) -> np.ndarray:
    """Per-sample seeds from (seed, real slice, sample number), independent of batching."""
    states = [np.random.SeedSequence([int(seed), int(i), int(k)]).generate_state(1)[0] for i, k in zip(source_index, sample)]
    return np.array(states, dtype=np.int64)


def _noise(seeds: np.ndarray, shape: tuple[int, ...]) -> torch.Tensor:
    # CPU generators, one per sample: the same seed gives the same noise on any device and batch size.
    return torch.stack([torch.randn(shape, generator=torch.Generator().manual_seed(int(s))) for s in seeds])


def synthesize(
    model: DiffusionSynthesizer,
    images: np.ndarray,
    labels: np.ndarray,
    per_mask: int,
    steps: int = 20,
    seed: int = 0,
    batch_size: int = 32,
    guidance_scale: float | None = None,
    device: torch.device | str | None = None,
) -> dict[str, np.ndarray]:
    """Generate ``per_mask`` synthetic images per real slice with DDIM, conditioned on its control map.

    Args:
        model: a trained :class:`~radsynth.nets.diffusion.DiffusionSynthesizer`.
        images: float (N, C, H, W) in [-1, 1], the real slices (their edges form the control map).
        labels: integer (N, H, W), the real masks paired with the synthetic images.
        per_mask: K, synthetic images per real slice.
        steps: DDIM steps.
        seed: base seed; each sample's noise comes from (seed, source_index, sample).
        batch_size: samples denoised together (larger is faster on a GPU).
        guidance_scale: classifier-free guidance weight w (output = uncond + w (cond - uncond));
            None or 1 samples from the conditional model alone, at half the cost. Needs a model
            trained with ``condition_dropout > 0``.
        device: "cpu", "cuda" or a torch device; None picks CUDA when present.

    Returns:
        ``image`` float32 (M, C, H, W) in [-1, 1], M = N * K, ordered by real slice then sample;
        ``label`` uint8 (M, H, W), the conditioning mask; ``source_index`` int64 (M,) its slice;
        ``sample`` int64 (M,) in 0..K-1; ``seed`` int64 (M,) the sample's noise seed;
        ``control`` float32 (M, 1, H, W) the control map it was conditioned on.
    """
    device = pick_device() if device is None else torch.device(device)
    images = np.asarray(images, dtype=np.float32)
    labels = np.asarray(labels)
    n, channels, height, width = images.shape
    if model.unet.out_channels != channels:
        raise ValueError(f"model makes {model.unet.out_channels} channels, images have {channels}")
    if guidance_scale is not None and guidance_scale != 1.0 and model.condition_dropout <= 0:
        raise ValueError("guidance_scale needs a model trained with condition_dropout > 0")
    cfg = None if guidance_scale is None or guidance_scale == 1.0 else float(guidance_scale)

    source_index = np.repeat(np.arange(n, dtype=np.int64), per_mask)
    sample = np.tile(np.arange(per_mask, dtype=np.int64), n)
    seeds = sample_seeds(seed, source_index, sample)
    # Once for all slices, on the device; batches index it there.
    control = to_device(control_map(images, labels, model.edge_sigma, model.mask_fill), device)
    scheduler = ddim_scheduler(model.scheduler, steps)
    inferer = DiffusionInferer(scheduler)
    unet = model.unet.to(device).eval()

    out = np.empty((len(seeds), channels, height, width), dtype=np.float32)
    for start in range(0, len(seeds), batch_size):
        stop = min(start + batch_size, len(seeds))
        noise = _noise(seeds[start:stop], (channels, height, width)).to(device)
        rows = torch.as_tensor(source_index[start:stop], device=device)
        with torch.inference_mode(), autocast(device):
            result = inferer.sample(
                noise,
                unet,
                scheduler=scheduler,
                conditioning=control[rows],
                mode="concat",
                verbose=False,
                cfg=cfg,
                cfg_fill_value=CFG_FILL_VALUE,
            )
        out[start:stop] = result.float().clamp(-1.0, 1.0).cpu().numpy()
    return {
        "image": out,
        "label": labels[source_index].astype(np.uint8),
        "source_index": source_index,
        "sample": sample,
        "seed": seeds,
        "control": control[torch.as_tensor(source_index, device=device)].cpu().numpy(),
    }
