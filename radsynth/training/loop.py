"""What every training loop shares: device choice, seeding, batches from memory, loss logs."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from radsynth.devices import claim_gpu
from radsynth.training.resume import Resume


def pick_device(prefer: str = "auto") -> torch.device:
    """CUDA when present (or when asked for), CPU otherwise.

    Args:
        prefer: "auto", "cuda" or "cpu".
    """
    if prefer == "cpu" or (prefer == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    return torch.device("cuda")


def job_device(prefer: str = "auto") -> torch.device:
    """The device of a workflow job: a GPU of its own when the machine has several.

    Claims a device (:func:`radsynth.devices.claim_gpu`, which must run before CUDA starts)
    unless ``prefer`` is "cpu", then picks as :func:`pick_device` does.
    """
    if prefer != "cpu":
        claim_gpu()
    return pick_device(prefer)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU generator for batch sampling."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def set_threads(threads: int | None) -> None:
    """Use exactly the cores Snakemake gave the job (torch would otherwise take them all)."""
    if threads:
        torch.set_num_threads(int(threads))
        os.environ["OMP_NUM_THREADS"] = str(threads)


def to_device(array: np.ndarray, device: torch.device, dtype=torch.float32) -> torch.Tensor:
    """A whole packed array on the training device, so batches never touch the disk."""
    return torch.as_tensor(np.ascontiguousarray(array)).to(device=device, dtype=dtype)


def autocast(device: torch.device):
    """bf16 autocast on CUDA (Hopper/Ampere run it at full speed); a no-op on CPU."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def channels_last_format(spatial_dims: int) -> torch.memory_format:
    """Channels-last layout: the one cuDNN's fastest convolution kernels (tensor cores) want."""
    return torch.channels_last if spatial_dims == 2 else torch.channels_last_3d


def batch_indices(n: int, batch_size: int, generator: torch.Generator) -> torch.Tensor:
    """``batch_size`` indices drawn uniformly from ``range(n)`` (with replacement when n < batch)."""
    if n >= batch_size:
        return torch.randperm(n, generator=generator)[:batch_size]
    return torch.randint(n, (batch_size,), generator=generator)


class LossLog:
    """Collects per-iteration losses; :meth:`frame` holds the mean of every ``every`` iterations."""

    def __init__(self, every: int = 10):
        self.every = max(1, int(every))
        self.rows: list[dict] = []
        self._pending: list[dict] = []

    def add(self, iteration: int, **losses: float) -> None:
        self._pending.append(losses)
        if len(self._pending) >= self.every:
            self.flush(iteration)

    def flush(self, iteration: int) -> None:
        if self._pending:
            frame = pd.DataFrame(self._pending)
            self.rows.append({"iteration": iteration, **frame.mean().to_dict()})
            self._pending = []

    def state_dict(self) -> dict:
        return {"every": self.every, "rows": list(self.rows), "pending": list(self._pending)}

    def load_state_dict(self, state: dict) -> None:
        self.every, self.rows, self._pending = state["every"], list(state["rows"]), list(state["pending"])

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)


class DeviceSums:
    """Per-step losses summed on the training device and read back once per history row
    (reading every step would wait for the GPU each time); a state dict, so a resumed run
    continues a half-summed row."""

    def __init__(self, device: torch.device):
        self.device, self.sums = device, {}

    def add(self, losses: dict) -> None:
        for key, value in losses.items():
            self.sums[key] = self.sums.get(key, 0) + value.detach().float()

    def pop(self, count: int) -> dict:
        """The means over the last ``count`` steps; starts a new row."""
        means, self.sums = {k: float(v) / count for k, v in self.sums.items()}, {}
        return means

    def state_dict(self) -> dict:
        return {k: v.cpu() for k, v in self.sums.items()}

    def load_state_dict(self, state: dict) -> None:
        self.sums = {k: v.to(self.device) for k, v in state.items()}


def progress(total: int, desc: str, initial: int = 0):
    """A tqdm bar on stderr (Snakemake sends it to the rule's log); ``initial``: steps already done."""
    return tqdm(total=total, desc=desc, initial=initial, mininterval=2.0, dynamic_ncols=True)


def cpu_state(module: torch.nn.Module) -> dict:
    """A detached CPU copy of a module's state dict (what checkpoints store)."""
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def fit_adam(model, step_loss: Callable, *, iterations: int, lr: float, generator, desc: str, resume: Resume | None,
             betas: tuple[float, float] = (0.9, 0.999)):
    """Adam over ``iterations`` steps of ``step_loss(step) -> (loss, extra logged values)``,
    resumable; returns (history of means per 10 steps, steps per second)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=betas)
    log = LossLog(10)
    resume = resume or Resume(None)
    resume.track(model=model, optimizer=optimizer, generator=generator, log=log)
    first = resume.start()
    bar = progress(iterations, desc, initial=first)
    model.train()
    start = time.perf_counter()
    for step in range(first, iterations):
        loss, extra = step_loss(step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        log.add(step + 1, loss=loss.item(), **extra)
        bar.update()
        resume.step(step + 1)
    log.flush(iterations)
    bar.close()
    resume.finish()
    return log.frame(), (iterations - first) / max(time.perf_counter() - start, 1e-9)
