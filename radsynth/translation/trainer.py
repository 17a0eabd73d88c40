"""One trainer for Pix2Pix, CycleGAN, RegGAN (NC, C, NC+R, C+R) and UNIT, MUNIT and NICE-GAN
in those modes, the mode given as data (:mod:`radsynth.translation.modes`), one iteration at a
time (:mod:`radsynth.translation.step`, :mod:`radsynth.translation.unit_step`,
:mod:`radsynth.translation.nicegan_step`).

The loop draws batches from arrays held on the device (paired, or unpaired with targets of
other subjects), optionally redraws their misalignment (``augment``), keeps the iteration that
translates the aligned validation pairs best (or the last one, as the official RegGAN trainer
tests the last epoch: ``selection``), and optionally runs the official schedule: a constant
lr, then a linear decay to 0 (``lr_decay_start``).

On CUDA the forward passes run under bf16 autocast (losses are computed in float32), the
networks and batches use the channels-last memory format, and ``compile=True`` hands the
networks to ``torch.compile``. Everything works the same in 2D and 3D. Building the networks
and inference (:class:`Translator`, :func:`load_translator`) live in
:mod:`radsynth.translation.translator`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from radsynth.training.loop import (
    DeviceSums,
    LossLog,
    autocast,
    batch_indices,
    channels_last_format,
    pick_device,
    progress,
    seed_everything,
    to_device,
)
from radsynth.training.resume import Resume
from radsynth.translation.families import a_to_b, check_image_size
from radsynth.translation.modes import DEFAULT_WEIGHTS, architecture_for, count_parameters, mode_spec
from radsynth.translation.nicegan_step import nicegan_step
from radsynth.translation.step import ReplayBuffer, train_step
from radsynth.translation.translator import build_networks
from radsynth.translation.unit_step import autoencoder_step

FAMILY_STEPS = {"unit": autoencoder_step, "munit": autoencoder_step, "nicegan": nicegan_step}

logger = logging.getLogger(__name__)


@dataclass
class TranslationResult:
    """What :func:`train_translation` returns.

    Attributes:
        state: ``{network name: state_dict}`` on the CPU (generator, discriminator and, by
            mode, generator_reverse, discriminator_reverse, registration); tensors only.
        architecture: ``{"mode", "spatial_dims", "networks": {name: constructor kwargs}}``;
            store it in the checkpoint sidecar under ``"architecture"``.
        history: mean losses per logged iteration (column ``iteration`` plus one per loss),
            and ``lr``, the learning rate of the row's last iteration.
        images_per_second: training throughput (source images per second).
        seconds: wall time of the training loop.
        parameters: :func:`parameter_counts` of the trained networks; for the sidecar.
        selected_iteration: the iteration whose networks ``state`` holds: the lowest
            validation MAE when validating with ``selection="best_validation"``, else the last.
        validation: ``iteration, val_mae`` rows (empty without validation).
    """

    state: dict
    architecture: dict
    history: pd.DataFrame
    images_per_second: float
    seconds: float
    parameters: dict[str, int] = dataclasses.field(default_factory=dict)
    selected_iteration: int = 0
    validation: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)


def other_rows(others: list[torch.Tensor], codes: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """For each source row's subject code, one random row of another subject.

    Args:
        others: per subject code, the rows of every other subject.
        codes: subject codes of the batch's source rows.
        generator: random stream.
    """
    picks = [others[k][torch.randint(len(others[k]), (1,), generator=generator)] for k in codes.tolist()]
    return torch.cat(picks)


def linear_decay(iterations: int, decay_start: float | None) -> Callable[[int], float]:
    """The lr factor of the RegGAN / CycleGAN schedule, per iteration, for ``LambdaLR``.

    The official code keeps the lr constant until ``decay_epoch``, then lowers it linearly so
    that it reaches 0 when training ends: ``1 - max(0, t - start) / (iterations - start)`` for
    ``t`` steps done, ``start = round(decay_start * iterations)``. The last iteration thus runs
    at ``lr / (iterations - start)`` and the lr is 0 after it.

    Args:
        iterations: optimisation steps of the run.
        decay_start: fraction of ``iterations`` after which the decay starts, in [0, 1);
            None keeps the lr constant.
    """
    if decay_start is None:
        return lambda step: 1.0
    if not 0.0 <= float(decay_start) < 1.0:
        raise ValueError(f"lr_decay_start must be in [0, 1) or None, got {decay_start}")
    start = min(round(float(decay_start) * iterations), iterations - 1)
    return lambda step: max(0.0, 1.0 - max(0, step - start) / (iterations - start))


Augment = Callable[[Tensor, Tensor, torch.Generator], tuple[Tensor, Tensor]]


@dataclass(frozen=True)
class Validation:
    """Aligned held-out pairs that choose which iteration's networks to keep.

    RegGAN trains on the (misaligned) training split, selects on the validation split and
    reports on the aligned test split; selecting on aligned pairs is what lets a run be
    judged on the translation it learned rather than on the noise it fitted.

    Attributes:
        source, target: float32 (N, C, *spatial) in [-1, 1], registered to each other.
        mask: (N, *spatial) foreground on which the MAE is taken.
        every: validate after every ``every`` iterations (and after the last one).
    """

    source: np.ndarray
    target: np.ndarray
    mask: np.ndarray
    every: int


def validation_mae(generator: nn.Module, validation: Validation, device, memory_format=None, batch_size: int = 16) -> float:
    """Mean over cases of the foreground MAE on [0, 1] of G(source) against target, the
    test table's MAE (cases with an empty mask are left out)."""
    was_training = generator.training
    generator.eval()
    errors = []
    with torch.no_grad():
        for start in range(0, len(validation.source), batch_size):
            part = slice(start, start + batch_size)
            a = to_device(validation.source[part], device)
            if memory_format is not None:
                a = a.contiguous(memory_format=memory_format)
            with autocast(device):
                output = generator(a).float()
            b = to_device(validation.target[part], device)
            m = to_device(validation.mask[part], device)[:, None].expand_as(b)
            area = m.flatten(1).sum(1)
            error = ((output - b).abs() / 2 * m).flatten(1).sum(1)
            errors.append((error / area)[area > 0].cpu())
    generator.train(was_training)
    errors = torch.cat(errors)
    return float(errors.mean()) if len(errors) else float("nan")


class _Running:
    """What the loop carries across steps besides networks, optimisers and generators: the
    loss sums since the last history row (kept on the device) and the validation record with
    the best networks so far. A state dict, so a resumed run continues both.

    Args:
        device: where the sums live.
        iterations: the run's length, the iteration kept while none is validated.
    """

    def __init__(self, device: torch.device, iterations: int):
        self.sums = DeviceSums(device)
        self.validated: list[dict] = []
        self.best_mae, self.selected, self.best_state = float("inf"), iterations, None

    def state_dict(self) -> dict:
        return {
            "sums": self.sums.state_dict(),
            "validated": list(self.validated),
            "best_mae": self.best_mae,
            "selected": self.selected,
            "best_state": self.best_state,
        }

    def load_state_dict(self, state: dict) -> None:
        self.sums.load_state_dict(state["sums"])
        self.validated = list(state["validated"])
        self.best_mae, self.selected, self.best_state = state["best_mae"], state["selected"], state["best_state"]


def _cpu_state(nets: nn.ModuleDict) -> dict:
    """Plain (contiguous) CPU copies whatever layout trained, so checkpoints load anywhere."""
    return {
        n: {k: v.detach().cpu().clone(memory_format=torch.contiguous_format) for k, v in m.state_dict().items()}
        for n, m in nets.items()
    }


def train_translation(
    source: np.ndarray,
    target: np.ndarray,
    mode: str,
    *,
    generator: dict | None = None,
    discriminator: dict | None = None,
    registration: dict | None = None,
    families: dict | None = None,
    weights: dict | None = None,
    lr: float = 1e-4,
    betas=(0.5, 0.999),
    lr_decay_start: float | None = None,
    iterations: int,
    batch_size: int = 1,
    seed: int = 0,
    device=None,
    log_every: int = 10,
    buffer_size: int = 50,
    unpaired: bool = False,
    groups: np.ndarray | None = None,
    augment: Augment | None = None,
    channels_last: bool | None = None,
    compile: bool = False,
    validation: Validation | None = None,
    selection: str = "best_validation",
    desc: str | None = None,
    resume: Resume | None = None,
) -> TranslationResult:
    """Train one translation method on source -> target pairs held in memory.

    Args:
        source, target: float32 (N, C, *spatial) in [-1, 1], background -1 (the misaligned
            pairs of ``packed/level<L>/train.npz``); 2D or 3D. Both stay on the device.
        mode: a key of :data:`MODES`: "pix2pix", "cyclegan", "nc", "c_r", "nc_r", or
            "unit", "munit", "nicegan" with "", "_nc", "_c_r" or "_nc_r" appended.
        generator, discriminator, registration: network sizes (see :func:`architecture_for`).
        families: UNIT / MUNIT / NICE-GAN sizes by family (see :func:`architecture_for`);
            those families need spatial sizes that are multiples of 4.
        weights: loss weights overriding :data:`DEFAULT_WEIGHTS` (adversarial, cycle,
            correction, smoothness, paired_l1, reconstruction, kl, style, content).
        lr, betas: Adam settings shared by every network (RegGAN: 1e-4, (0.5, 0.999)).
        lr_decay_start: fraction of ``iterations`` after which the lr of both optimisers
            decays linearly to 0 at the end of the run (RegGAN/CycleGAN schedule, see
            :func:`linear_decay`); None keeps it constant.
        iterations: optimisation steps.
        batch_size: pairs per step.
        seed: seeds initialisation, batch draws, the replay buffer and ``augment``'s generator.
        device: torch device or name; None picks CUDA when present (which also turns on
            ``torch.backends.cudnn.benchmark`` for the process).
        log_every: iterations averaged per row of ``history``; each row also puts the loss
            and images/s on the progress bar.
        buffer_size: replay-buffer size for the modes that use one.
        unpaired: draw target batches independently of source batches (unpaired setting).
        groups: subject of each row; with ``unpaired``, each target comes from another
            subject than its source, so no pair is ever a registered one.
        augment: ``augment(a, b, generator) -> (a, b)``, called once per iteration (without
            gradients) on the batch already on the device, before the step, e.g. RegGAN's
            fresh random misalignment of every pair each time it is drawn. ``generator`` is a
            seeded CPU ``torch.Generator`` reserved for it, so augmenting leaves the batch
            draws unchanged. It must return tensors on the same device; shapes may change
            as long as a and b keep matching spatial shapes the networks accept.
        channels_last: channels-last memory format for networks and batches; None uses it
            on CUDA only (faster convolutions there, usually slower on the CPU).
        compile: wrap every network with ``torch.compile`` (in place: state-dict keys stay
            the same). Compiling costs tens of seconds to minutes up front and again when
            the discriminators' ``requires_grad`` flips; it pays off only for long runs on
            a GPU (thousands of iterations), never for short or CPU runs.
        validation: aligned held-out pairs, validated every ``validation.every`` iterations
            (the MAEs are returned in ``validation``). None keeps the last iteration's networks.
        selection: which networks are returned: "best_validation" (radsynth's default),
            those of the validated iteration with the lowest MAE; "last" (the official
            RegGAN protocol: the last epoch is tested), those of the last iteration, the
            validation only recorded.
        desc: progress-bar label (default: the mode).
        resume: saves the run's state every few steps and on SIGTERM, and continues from a
            saved state (:class:`radsynth.training.resume.Resume`); None trains in one go.

    Returns:
        A :class:`TranslationResult`.
    """
    spec = mode_spec(mode)
    if selection not in ("best_validation", "last"):
        raise ValueError(f"selection must be 'best_validation' or 'last', got {selection!r}")
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
    lr_factor = linear_decay(iterations, lr_decay_start)  # checks lr_decay_start before any work
    if channels_last is None:
        channels_last = device.type == "cuda"
    memory_format = channels_last_format(source.ndim - 2) if channels_last else None
    if device.type == "cuda":
        # Batch shapes never change: cuDNN times its convolution algorithms once, keeps the fastest.
        torch.backends.cudnn.benchmark = True

    rng = seed_everything(seed)
    architecture = architecture_for(
        mode, source.ndim - 2, source.shape[1], target.shape[1], generator, discriminator, registration,
        families, image_size=source.shape[2:],
    )
    check_image_size(architecture, source.shape[2:])
    nets = build_networks(architecture).to(device).train()
    translate = a_to_b(nets, spec.family)  # A -> B, for validation
    step_function = train_step if spec.family == "resnet" else FAMILY_STEPS[spec.family]
    parameters = count_parameters(nets)
    if memory_format is not None:
        nets.to(memory_format=memory_format)
    if compile:
        for net in nets.values():
            net.compile()
    d_names = [n for n in nets if n.startswith("discriminator")]
    g_params = [p for n, m in nets.items() if n not in d_names for p in m.parameters()]
    d_params = [p for n in d_names for p in nets[n].parameters()]
    opt_g = torch.optim.Adam(g_params, lr=lr, betas=tuple(betas))  # one Adam = per-network Adams
    opt_d = torch.optim.Adam(d_params, lr=lr, betas=tuple(betas))
    schedulers = [torch.optim.lr_scheduler.LambdaLR(opt, lr_factor) for opt in (opt_g, opt_d)]
    buffers = {n: ReplayBuffer(buffer_size if spec.fakes == "replay" else 0, rng) for n in d_names}
    augment_rng = torch.Generator().manual_seed(seed + 1)  # separate: batch draws stay as without

    src, tgt = to_device(source, device), to_device(target, device)
    others, codes = None, None
    if unpaired and groups is not None:
        names, codes = np.unique(np.asarray(groups), return_inverse=True)
        if len(names) < 2:
            raise ValueError("unpaired training needs rows from at least two subjects")
        codes = torch.as_tensor(codes)
        others = [torch.nonzero(codes != k).flatten() for k in range(len(names))]
    log = LossLog(every=1)
    running = _Running(device, iterations)
    resume = resume or Resume(None)
    resume.track(
        networks=nets, optimizer_g=opt_g, optimizer_d=opt_d, scheduler_g=schedulers[0], scheduler_d=schedulers[1],
        generator=rng, augment_generator=augment_rng, log=log, running=running,
        **{f"buffer_{n}": buffer for n, buffer in buffers.items()},
    )
    first = resume.start()
    bar = progress(iterations, desc or f"translation {mode}", initial=first)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = row_start = time.perf_counter()
    for iteration in range(first + 1, iterations + 1):
        idx = batch_indices(len(src), batch_size, rng).to(device)
        if not unpaired:
            jdx = idx
        elif others is None:
            jdx = batch_indices(len(tgt), batch_size, rng).to(device)
        else:
            jdx = other_rows(others, codes[idx.cpu()], rng).to(device)
        a, b = src[idx], tgt[jdx]
        if augment is not None:
            with torch.no_grad():
                a, b = augment(a, b, augment_rng)
        if memory_format is not None:
            a, b = a.contiguous(memory_format=memory_format), b.contiguous(memory_format=memory_format)

        step = step_function(nets, spec, w, a, b, opt_g, opt_d, buffers, device)
        step_lr = opt_g.param_groups[0]["lr"]
        for scheduler in schedulers:
            scheduler.step()
        running.sums.add(step)
        if iteration % max(1, log_every) == 0 or iteration == iterations:
            count = (iteration - 1) % max(1, log_every) + 1
            row = running.sums.pop(count)
            now = time.perf_counter()
            rate = count * batch_size / max(now - row_start, 1e-9)
            row_start = now
            log.add(iteration, **row, lr=step_lr)
            bar.set_postfix({"g": f"{row['g_total']:.3g}", "images/s": f"{rate:.1f}"}, refresh=False)
            logger.debug("%s iteration %d: %s, %.1f images/s", mode, iteration, row, rate)
        if validation is not None and (iteration % max(1, validation.every) == 0 or iteration == iterations):
            mae = validation_mae(translate, validation, device, memory_format)
            running.validated.append({"iteration": iteration, "val_mae": mae})
            # NaN (no foreground) never wins: the last iteration is kept.
            if selection == "best_validation" and mae < running.best_mae:
                running.best_mae, running.selected, running.best_state = mae, iteration, _cpu_state(nets)
        bar.update(1)
        resume.step(iteration)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    bar.close()
    resume.finish()

    best_state, selected = running.best_state, running.selected
    state = best_state if best_state is not None else _cpu_state(nets)
    if running.validated:
        logger.info("%s: kept iteration %d of %d (validation MAE %.4f)", mode, selected, iterations, running.best_mae)
    return TranslationResult(
        state=state,
        architecture=architecture,
        history=log.frame(),
        images_per_second=(iterations - first) * batch_size / max(seconds, 1e-9),
        seconds=seconds,
        parameters=parameters,
        selected_iteration=selected if best_state is not None else iterations,
        validation=pd.DataFrame(running.validated, columns=["iteration", "val_mae"]),
    )
