"""One trainer for Pix2Pix, CycleGAN and RegGAN (NC, C, NC+R, C+R), the mode given as data.

The training step is hand-written because no library has RegGAN's joint G + R update. It
follows the official RegGAN code (Kid-Liet/Reg-GAN, ``trainer/CycTrainer.py``):

- generators (and R) first: ``total = adversarial [+ paired L1] [+ cycle] [+ correction +
  smoothness]``, one backward, one Adam step;
- then the discriminator(s): ``adv * (MSE(D(real), 1) + MSE(D(fake), 0))`` (least squares),
  where the fakes come from a 50-image replay buffer (C, NC), from the batch just generated
  (Pix2Pix, whose original keeps no buffer) or from G re-run after its update (NC+R, as in
  the official code).

Deviations, each small: D outputs a patch map scored per patch (Pix2Pix/CycleGAN) instead
of the official RegGAN average over the map; the smoothness term is MONAI's
``DiffusionLoss`` (central differences, summed over axes), about twice the official mean
of squared forward differences averaged over axes.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from monai.losses import DiffusionLoss
from torch import nn

from radsynth.io import InputError, load_checkpoint
from radsynth.nets.discriminators import PatchGAN
from radsynth.nets.generators import ResnetGenerator
from radsynth.nets.registration import RegistrationNet, warp_image
from radsynth.train.common import (
    LossLog,
    autocast,
    batch_indices,
    pick_device,
    progress,
    seed_everything,
    to_device,
)


@dataclass(frozen=True)
class Mode:
    """What one translation method trains.

    Attributes:
        cycle: a reverse generator and discriminator with the cycle loss (RegGAN's "C").
        registration: R and the correction + smoothness losses ("+R").
        paired_l1: the L1 loss between G(x) and y (Pix2Pix).
        conditional: D judges (x, y) pairs instead of y alone (Pix2Pix).
        fakes: what D sees as fake: "replay" (50-image buffer), "batch" (this step's G(x))
            or "regenerated" (G(x) re-run after the generator update, official NC+R).
    """

    cycle: bool = False
    registration: bool = False
    paired_l1: bool = False
    conditional: bool = False
    fakes: Literal["replay", "batch", "regenerated"] = "replay"


MODES: dict[str, Mode] = {
    "pix2pix": Mode(paired_l1=True, conditional=True, fakes="batch"),
    "cyclegan": Mode(cycle=True),
    "nc": Mode(),
    "c_r": Mode(cycle=True, registration=True),
    "nc_r": Mode(registration=True, fakes="regenerated"),
}

DEFAULT_WEIGHTS = {"adversarial": 1.0, "cycle": 10.0, "correction": 20.0, "smoothness": 10.0, "paired_l1": 100.0}
_CLASSES = {
    "generator": ResnetGenerator,
    "generator_reverse": ResnetGenerator,
    "discriminator": PatchGAN,
    "discriminator_reverse": PatchGAN,
    "registration": RegistrationNet,
}


@dataclass
class TranslationResult:
    """What :func:`train_translation` returns.

    Attributes:
        state: ``{network name: state_dict}`` on the CPU (generator, discriminator and, by
            mode, generator_reverse, discriminator_reverse, registration); tensors only.
        architecture: ``{"mode", "spatial_dims", "networks": {name: constructor kwargs}}``;
            store it in the checkpoint sidecar under ``"architecture"``.
        history: mean losses per logged iteration (column ``iteration`` plus one per loss).
        images_per_second: training throughput (source images per second).
        seconds: wall time of the training loop.
    """

    state: dict
    architecture: dict
    history: pd.DataFrame
    images_per_second: float
    seconds: float


def architecture_for(
    mode: str,
    spatial_dims: int,
    source_channels: int,
    target_channels: int,
    generator: dict | None = None,
    discriminator: dict | None = None,
    registration: dict | None = None,
) -> dict:
    """Constructor arguments of every network a mode trains (JSON-serialisable).

    Args:
        mode: a key of :data:`MODES`.
        spatial_dims: 2 or 3.
        source_channels, target_channels: image channels on each side.
        generator: ``ResnetGenerator`` sizes, e.g. ``{"filters": 64, "residual_blocks": 9}``.
        discriminator: ``PatchGAN`` sizes, e.g. ``{"filters": 64, "layers": 3}``.
        registration: ``RegistrationNet`` sizes, e.g. ``{"channels": [32, 64, 64, 64]}``.

    Returns:
        ``{"mode", "spatial_dims", "networks": {name: kwargs}}``.
    """
    spec = _mode(mode)
    g, d, r = dict(generator or {}), dict(discriminator or {}), dict(registration or {})
    sd, cs, ct = int(spatial_dims), int(source_channels), int(target_channels)
    d_in = cs + ct if spec.conditional else ct
    networks = {
        "generator": {"spatial_dims": sd, "in_channels": cs, "out_channels": ct, **g},
        "discriminator": {"spatial_dims": sd, "in_channels": d_in, **d},
    }
    if spec.cycle:
        networks["generator_reverse"] = {"spatial_dims": sd, "in_channels": ct, "out_channels": cs, **g}
        networks["discriminator_reverse"] = {"spatial_dims": sd, "in_channels": cs, **d}
    if spec.registration:
        networks["registration"] = {"spatial_dims": sd, "in_channels": ct, **r}
    return {"mode": mode, "spatial_dims": sd, "networks": networks}


def build_networks(architecture: dict, names=None) -> nn.ModuleDict:
    """Instantiate the networks of an ``architecture`` (all, or only ``names``)."""
    specs = architecture["networks"]
    return nn.ModuleDict({n: _CLASSES[n](**kw) for n, kw in specs.items() if names is None or n in names})


class ReplayBuffer:
    """Pool of past fakes shown to D (Shrivastava et al. 2017, as in CycleGAN and RegGAN).

    Hand-written: no library has it. Once full, each new fake replaces a random stored one
    with probability 1/2 and D sees the stored one instead. Storage stays on the device;
    the coin flips come from a seeded CPU generator.

    Args:
        size: images kept (50 in the originals; 0 disables the buffer).
        generator: torch CPU generator for the draws.
    """

    def __init__(self, size: int, generator: torch.Generator):
        self.size = int(size)
        self.generator = generator
        self.data: torch.Tensor | None = None
        self.count = 0

    def push_and_pop(self, batch: torch.Tensor) -> torch.Tensor:
        batch = batch.detach().float()
        if self.size == 0:
            return batch
        if self.data is None:
            self.data = torch.empty((self.size, *batch.shape[1:]), device=batch.device)
        out = batch.clone()
        coins = torch.rand(len(batch), generator=self.generator).tolist()
        slots = torch.randint(self.size, (len(batch),), generator=self.generator).tolist()
        for i in range(len(batch)):  # a few images per step: the original's per-image rule
            if self.count < self.size:
                self.data[self.count] = batch[i]
                self.count += 1
            elif coins[i] > 0.5:
                out[i] = self.data[slots[i]]
                self.data[slots[i]] = batch[i]
        return out


def _mode(mode: str) -> Mode:
    if mode not in MODES:
        raise ValueError(f"unknown translation mode {mode!r}; expected one of {sorted(MODES)}")
    return MODES[mode]


def _lsgan(prediction: torch.Tensor, real: bool) -> torch.Tensor:
    """Least-squares GAN loss against an all-ones (real) or all-zeros (fake) patch map."""
    target = torch.ones_like(prediction) if real else torch.zeros_like(prediction)
    return F.mse_loss(prediction.float(), target.float())


def _smoothness(field: torch.Tensor) -> torch.Tensor:
    """MONAI ``DiffusionLoss`` (mean squared central differences, summed over axes)."""
    with warnings.catch_warnings():
        # MONAI indexes with a list of slices; torch warns about it (results are unchanged,
        # tests/train/test_translation.py checks the value against explicit differences).
        warnings.filterwarnings("ignore", message="Using a non-tuple sequence", category=UserWarning)
        return DiffusionLoss()(field)


def _set_requires_grad(modules, flag: bool) -> None:
    for module in modules:
        module.requires_grad_(flag)


def _generator_losses(nets, spec: Mode, w: dict, a, b):
    """Generator(-and-R) losses of one batch; also the D inputs of the fakes."""
    d_in = (lambda x, y: torch.cat([x, y], 1)) if spec.conditional else (lambda x, y: y)
    fake_b = nets["generator"](a)
    losses = {"g_adv": w["adversarial"] * _lsgan(nets["discriminator"](d_in(a, fake_b)), True)}
    fakes = {"discriminator": d_in(a, fake_b)}
    if spec.paired_l1:
        losses["g_l1"] = w["paired_l1"] * F.l1_loss(fake_b.float(), b)
    if spec.cycle:
        fake_a = nets["generator_reverse"](b)
        losses["g_adv_reverse"] = w["adversarial"] * _lsgan(nets["discriminator_reverse"](fake_a), True)
        cycle_a = F.l1_loss(nets["generator_reverse"](fake_b).float(), a)
        cycle_b = F.l1_loss(nets["generator"](fake_a).float(), b)
        losses["cycle"] = w["cycle"] * (cycle_a + cycle_b)
        fakes["discriminator_reverse"] = fake_a
    if spec.registration:
        field = nets["registration"](fake_b, b).float()
        losses["correction"] = w["correction"] * F.l1_loss(warp_image(fake_b, field), b)
        losses["smoothness"] = w["smoothness"] * _smoothness(field)
    return losses, fakes


def _discriminator_loss(net, real, fake, weight):
    return weight * (_lsgan(net(real), True) + _lsgan(net(fake), False))


def _step(nets, spec: Mode, w: dict, a, b, opt_g, opt_d, buffers: dict, device) -> dict:
    """One RegGAN-style iteration: generators (+ R) first, then the discriminators."""
    d_names = list(buffers)
    discriminators = [nets[n] for n in d_names]
    # Generators (+ R): D is frozen so its weight gradients are not computed here.
    _set_requires_grad(discriminators, False)
    opt_g.zero_grad(set_to_none=True)
    with autocast(device):
        losses, fakes = _generator_losses(nets, spec, w, a, b)
        total = sum(losses.values())
    total.backward()
    opt_g.step()

    # Discriminators on real vs fake.
    _set_requires_grad(discriminators, True)
    opt_d.zero_grad(set_to_none=True)
    with autocast(device):
        if spec.fakes == "regenerated":
            with torch.no_grad():
                fake_b = nets["generator"](a)
            fakes["discriminator"] = torch.cat([a, fake_b], 1) if spec.conditional else fake_b
        reals = {"discriminator": torch.cat([a, b], 1) if spec.conditional else b, "discriminator_reverse": a}
        d_losses = {
            n.replace("discriminator", "d"): _discriminator_loss(
                nets[n], reals[n], buffers[n].push_and_pop(fakes[n]), w["adversarial"]
            )
            for n in d_names
        }
    sum(d_losses.values()).backward()
    opt_d.step()
    return {**losses, "g_total": total, **d_losses}


def train_translation(
    source: np.ndarray,
    target: np.ndarray,
    mode: str,
    *,
    generator: dict | None = None,
    discriminator: dict | None = None,
    registration: dict | None = None,
    weights: dict | None = None,
    lr: float = 1e-4,
    betas=(0.5, 0.999),
    iterations: int,
    batch_size: int = 1,
    seed: int = 0,
    device=None,
    log_every: int = 10,
    buffer_size: int = 50,
    unpaired: bool = False,
    desc: str | None = None,
) -> TranslationResult:
    """Train one translation method on source -> target pairs held in memory.

    Args:
        source, target: float32 (N, C, *spatial) in [-1, 1], background -1 (the misaligned
            pairs of ``packed/level<L>/train.npz``); 2D or 3D.
        mode: "pix2pix", "cyclegan", "nc", "c_r" or "nc_r" (see :data:`MODES`).
        generator, discriminator, registration: network sizes (see :func:`architecture_for`).
        weights: loss weights overriding :data:`DEFAULT_WEIGHTS` (adversarial, cycle,
            correction, smoothness, paired_l1).
        lr, betas: Adam settings shared by every network (RegGAN: 1e-4, (0.5, 0.999)).
        iterations: optimisation steps.
        batch_size: pairs per step.
        seed: seeds initialisation, batch draws and the replay buffer.
        device: torch device or name; None picks CUDA when present.
        log_every: iterations averaged per row of ``history``.
        buffer_size: replay-buffer size for the modes that use one.
        unpaired: draw target batches independently of source batches (unpaired setting).
        desc: progress-bar label (default: the mode).

    Returns:
        A :class:`TranslationResult`.
    """
    spec = _mode(mode)
    source, target = np.asarray(source), np.asarray(target)
    if source.ndim not in (4, 5) or target.ndim != source.ndim or source.shape[0] != target.shape[0]:
        raise ValueError(f"source/target must be (N, C, *spatial) with equal N; got {source.shape}, {target.shape}")
    if source.shape[2:] != target.shape[2:]:
        raise ValueError(f"source and target spatial shapes differ: {source.shape[2:]} vs {target.shape[2:]}")
    unknown = set(weights or {}) - set(DEFAULT_WEIGHTS)
    if unknown:
        raise ValueError(f"unknown loss weights {sorted(unknown)}; expected {sorted(DEFAULT_WEIGHTS)}")
    w = {**DEFAULT_WEIGHTS, **(weights or {})}
    device = pick_device() if device is None else torch.device(device)

    rng = seed_everything(seed)
    architecture = architecture_for(
        mode, source.ndim - 2, source.shape[1], target.shape[1], generator, discriminator, registration
    )
    nets = build_networks(architecture).to(device).train()
    d_names = [n for n in nets if n.startswith("discriminator")]
    g_params = [p for n, m in nets.items() if n not in d_names for p in m.parameters()]
    d_params = [p for n in d_names for p in nets[n].parameters()]
    opt_g = torch.optim.Adam(g_params, lr=lr, betas=tuple(betas))  # one Adam = per-network Adams
    opt_d = torch.optim.Adam(d_params, lr=lr, betas=tuple(betas))
    buffers = {n: ReplayBuffer(buffer_size if spec.fakes == "replay" else 0, rng) for n in d_names}

    src, tgt = to_device(source, device), to_device(target, device)
    log = LossLog(every=1)
    sums: dict[str, torch.Tensor] = {}  # summed on the device; read back once per log row
    bar = progress(iterations, desc or f"translation {mode}")
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for iteration in range(1, iterations + 1):
        idx = batch_indices(len(src), batch_size, rng).to(device)
        jdx = batch_indices(len(tgt), batch_size, rng).to(device) if unpaired else idx
        a, b = src[idx], tgt[jdx]

        step = _step(nets, spec, w, a, b, opt_g, opt_d, buffers, device)
        for key, value in step.items():
            sums[key] = sums.get(key, 0) + value.detach().float()
        if iteration % max(1, log_every) == 0 or iteration == iterations:
            count = (iteration - 1) % max(1, log_every) + 1
            log.add(iteration, **{k: float(v) / count for k, v in sums.items()})
            sums = {}
        bar.update(1)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    bar.close()

    state = {n: {k: v.detach().cpu().clone() for k, v in m.state_dict().items()} for n, m in nets.items()}
    return TranslationResult(
        state=state,
        architecture=architecture,
        history=log.frame(),
        images_per_second=iterations * batch_size / max(seconds, 1e-9),
        seconds=seconds,
    )


class Translator:
    """A trained generator (and R, for +R modes) ready for inference in float32.

    Args:
        architecture: :attr:`TranslationResult.architecture`.
        state: :attr:`TranslationResult.state` (or a loaded checkpoint).
        device: torch device or name; None picks CUDA when present.
    """

    def __init__(self, architecture: dict, state: dict, device=None):
        self.device = pick_device() if device is None else torch.device(device)
        self.architecture = architecture
        self.mode = architecture["mode"]
        nets = build_networks(architecture, names=("generator", "registration"))
        for name, net in nets.items():
            net.load_state_dict(state[name])
        nets.to(self.device).eval()
        self.generator = nets["generator"]
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
