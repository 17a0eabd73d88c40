"""Building the translation networks and using a trained one: :class:`Translator`, loading.

The trainer (:mod:`radsynth.translation.trainer`) builds its networks here; this module
imports neither it nor the mode table.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from radsynth.io import InputError, load_checkpoint
from radsynth.training.loop import pick_device, to_device
from radsynth.translation.families import FAMILY_NETWORKS, INFERENCE_NETWORKS, a_to_b, family_of
from radsynth.translation.registration import warp_image

NETWORK_CLASSES = FAMILY_NETWORKS["resnet"]


def build_networks(architecture: dict, names=None) -> nn.ModuleDict:
    """Instantiate the networks of an ``architecture`` (all, or only ``names``).

    Args:
        architecture: ``{"mode", "family", "spatial_dims", "networks": {name: constructor kwargs}}``
            (:func:`radsynth.translation.modes.architecture_for`; no "family": "resnet").
        names: network names to build; None builds all.
    """
    classes = FAMILY_NETWORKS[family_of(architecture)]
    specs = architecture["networks"]
    return nn.ModuleDict({n: classes[n](**kw) for n, kw in specs.items() if names is None or n in names})


class Translator:
    """A trained generator (and R, for +R modes) ready for inference in float32.

    Works for 2D (N, C, H, W) and 3D (N, C, D, H, W) arrays alike, as the architecture says.
    ``generator`` is the module translating A -> B: the ResNet generator, or a family's
    composition (:func:`radsynth.translation.families.a_to_b`: UNIT encodes with A's encoder and
    decodes with B's decoder, MUNIT decodes A's content with a fixed style of B, NICE-GAN C
    decodes the code of D_A's encoder).

    Args:
        architecture: :attr:`TranslationResult.architecture`.
        state: :attr:`TranslationResult.state` (or a loaded checkpoint).
        device: torch device or name; None picks CUDA when present.
    """

    def __init__(self, architecture: dict, state: dict, device=None):
        self.device = pick_device() if device is None else torch.device(device)
        self.architecture = architecture
        self.mode = architecture["mode"]
        family = family_of(architecture)
        nets = build_networks(architecture, names=INFERENCE_NETWORKS[family])
        for name, net in nets.items():
            net.load_state_dict(state[name])
        nets.to(self.device).eval()
        self.generator = a_to_b(nets, family).eval()
        self.registration = nets["registration"] if "registration" in nets else None

    @property
    def has_registration(self) -> bool:
        return self.registration is not None

    def _batched(self, fn, *arrays: np.ndarray, batch_size: int) -> np.ndarray:
        outputs = []
        with torch.no_grad():
            for start in range(0, len(arrays[0]), batch_size):
                chunk = [to_device(x[start : start + batch_size], self.device) for x in arrays]
                outputs.append(fn(*chunk).float().cpu().numpy())
        return np.concatenate(outputs).astype(np.float32, copy=False)

    def translate(self, source: np.ndarray, batch_size: int = 16) -> np.ndarray:
        """G(source) for float32 (N, C, *spatial) in [-1, 1]; returns (N, C_target, *spatial)."""
        return self._batched(self.generator, np.asarray(source), batch_size=batch_size)

    def register(self, moving: np.ndarray, fixed: np.ndarray, batch_size: int = 16) -> np.ndarray:
        """R's field warping ``moving`` (e.g. G(moved source)) onto ``fixed`` (the moved target).

        Returns:
            float32 (N, spatial_dims, *spatial), pixels, ``warp(moving, field) ~= fixed``.
        """
        if self.registration is None:
            raise ValueError(f"mode {self.mode!r} has no registration network")
        return self._batched(self.registration, np.asarray(moving), np.asarray(fixed), batch_size=batch_size)

    def warp(self, image: np.ndarray, field: np.ndarray, batch_size: int = 16) -> np.ndarray:
        """:func:`warp_image` on arrays (background stays -1)."""
        return self._batched(warp_image, np.asarray(image), np.asarray(field), batch_size=batch_size)


def load_translator(path, device=None) -> Translator:
    """Rebuild a :class:`Translator` from ``save_checkpoint(path, result.state, sidecar)``.

    Args:
        path: the ``.pt`` checkpoint; its sidecar must hold ``"architecture"``.
        device: torch device or name; None picks CUDA when present.
    """
    state, sidecar = load_checkpoint(path)
    if "architecture" not in sidecar:
        raise InputError(path, "checkpoint sidecar has no 'architecture' entry")
    return Translator(sidecar["architecture"], state, device)
