"""Mask-GAN synthesis: K synthetic images per real mask, each keeping that mask as its label.

By default the generator sees EMIT-Diff's control map too (the Canny edges of the real slice
plus the mask, as the ControlNet does), so it draws the real slice's anatomy around the lesion
instead of inventing a head: on the phantom at the quick scale it reached 82 % structure Dice
in 200 steps, against 79 % in 400 for the mask alone (``gan.condition: mask``).
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F

from radsynth.io import InputError, load_checkpoint
from radsynth.synthesis.control import control_map
from radsynth.synthesis.sampling import plan_samples, sample_noise
from radsynth.training.loop import autocast, pick_device, to_device
from radsynth.translation.networks import ResnetGenerator


def mask_inputs(
    labels: torch.Tensor, classes: int, noise: torch.Tensor, control: torch.Tensor | None = None
) -> torch.Tensor:
    """The generator's input: the one-hot mask in {-1, 1}, the control map if any, then the
    noise channels.

    Pix2Pix's only noise is dropout, which its authors found the generator nearly ignores;
    explicit noise channels are what make the K samples of one mask differ.

    Args:
        labels: integer (B, H, W) classes in 0..classes (0 is background).
        classes: foreground classes; the one-hot has ``classes + 1`` channels.
        noise: float (B, Z, H, W); Z may be 0.
        control: float (B, 1, H, W) control map (:func:`gan_control`), or None.

    Returns:
        (B, classes + 1 [+ 1] + Z, H, W) in the dtype of ``noise``.
    """
    one_hot = F.one_hot(labels.long(), int(classes) + 1).movedim(-1, 1).to(noise.dtype)
    parts = [one_hot * 2 - 1] + ([] if control is None else [control.to(noise.dtype)])
    return torch.cat([*parts, noise], dim=1)


def gan_control(images: np.ndarray, labels: np.ndarray, control: dict | None) -> np.ndarray | None:
    """The control map a GAN of ``architecture["control"]`` is given (None: the mask alone).

    Args:
        images: float (N, C, H, W) real slices in [-1, 1] (their edges).
        labels: integer (N, H, W) masks.
        control: ``{"edge_sigma", "mask_fill"}`` of :func:`radsynth.synthesis.control.control_map`, or None.
    """
    if control is None:
        return None
    return control_map(images, labels, control["edge_sigma"], control["mask_fill"])


class MaskGANGenerator:
    """A trained mask-to-image generator (:func:`radsynth.synthesis.mask_gan_trainer.train_mask_gan`).

    Args:
        network: the ``ResnetGenerator``.
        architecture: :attr:`MaskGANResult.architecture <radsynth.synthesis.mask_gan_trainer.MaskGANResult>`.
    """

    def __init__(self, network: ResnetGenerator, architecture: dict):
        self.network = network
        self.architecture = architecture
        self.classes = int(architecture["classes"])
        self.noise_channels = int(architecture["noise_channels"])
        self.image_channels = int(architecture["image_channels"])
        self.control = architecture.get("control")

    @classmethod
    def from_architecture(
        cls, architecture: dict, state: dict | None = None
    ) -> MaskGANGenerator:
        """Build the generator on the CPU, with ``state["generator"]``'s weights if given."""
        network = ResnetGenerator(**architecture["generator"])
        if state is not None:
            network.load_state_dict(state["generator"])
        return cls(network, architecture)

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, device=None) -> MaskGANGenerator:
        """Load a checkpoint whose sidecar has ``"generator": "gan"`` and an ``"architecture"``.

        Args:
            path: the ``.pt`` written by ``save_checkpoint``.
            device: where to put it; None picks CUDA when present.

        Raises:
            InputError: the checkpoint is not a mask GAN.
        """
        state, sidecar = load_checkpoint(path)
        if (
            sidecar.get("generator") != "gan"
            or "architecture" not in sidecar
            or "generator" not in state
        ):
            raise InputError(
                path,
                f"not a mask GAN checkpoint (generator {sidecar.get('generator')!r})",
            )
        return cls.from_architecture(sidecar["architecture"], state).to(
            pick_device() if device is None else device
        )

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device

    def to(self, device) -> MaskGANGenerator:
        """Move the network to ``device``; returns self."""
        self.network.to(torch.device(device))
        return self

    def sample(
        self,
        images: np.ndarray | None,
        labels: np.ndarray,
        per_mask: int,
        *,
        seed: int = 0,
        batch_size: int = 32,
        device=None,
        **_,
    ) -> dict[str, np.ndarray]:
        """Generate ``per_mask`` images per mask; each sample's noise depends only on its seed.

        Args:
            images: float (N, C, H, W) the real slices of the masks, whose edges make the
                control map (unused by a GAN that sees only the masks).
            labels: integer (N, H, W) masks in 0..classes (the real training masks).
            per_mask: K, synthetic images per mask.
            seed: base seed; sample noise comes from (seed, source_index, sample).
            batch_size: samples generated together; results depend on it only up to rounding.
            device: where to run (the network moves there); None keeps its current device.

        Returns:
            ``image`` float32 (N*K, C, H, W) in [-1, 1], ordered by mask then sample;
            ``label`` uint8 (N*K, H, W), the conditioning mask; ``source_index``, ``sample``
            and ``seed`` int64 (N*K,) from :func:`~radsynth.synthesis.sampling.plan_samples`.
        """
        labels = np.asarray(labels)
        if labels.ndim != 3:
            raise ValueError(f"need labels (N, H, W), got {labels.shape}")
        if labels.size and (labels.min() < 0 or labels.max() > self.classes):
            raise ValueError(
                f"labels must lie in 0..{self.classes}, got {labels.min()}..{labels.max()}"
            )
        if device is not None:
            self.to(device)
        device, network = self.device, self.network.eval()
        n, height, width = labels.shape
        plan = plan_samples(n, per_mask, seed)
        masks = to_device(labels, device, torch.long)
        control = gan_control(images, labels, self.control)
        control = None if control is None else to_device(control, device)
        rows = torch.as_tensor(plan["source_index"], device=device)
        out = np.empty(
            (len(rows), self.image_channels, height, width), dtype=np.float32
        )
        with torch.inference_mode():
            for start in range(0, len(rows), batch_size):
                part = slice(start, start + batch_size)
                noise = sample_noise(
                    plan["seed"][part], (self.noise_channels, height, width)
                ).to(device)
                with autocast(device):
                    condition = None if control is None else control[rows[part]]
                    image = network(mask_inputs(masks[rows[part]], self.classes, noise, condition))
                out[part] = image.float().clamp(-1.0, 1.0).cpu().numpy()
        return {
            "image": out,
            "label": labels[plan["source_index"]].astype(np.uint8),
            **plan,
        }
