"""Generate the frames between ED and ES for each test cine and score them against the truth.

Frame k of F (ED = 0, ES = F - 1) is generated at gamma = k / (F - 1). Intensities are scored on
the intermediate frames (PSNR with data range 1, NMSE); labels are the ED labels carried by each
method's field (nearest neighbour) or, for linear interpolation, the arg-max of the linearly
blended one-hot labels, scored by Dice per structure on every frame that has labels besides ED
(every intermediate frame of the phantom; ES only in ACDC).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from radsynth.io import load_checkpoint
from radsynth.temporal.ddm import DDM, Registration
from radsynth.temporal.networks import warp
from radsynth.temporal.phantom import STRUCTURES, UNLABELLED, CineSubject

METHODS = ("ddm", "registration", "linear")
SETTING = "ED-ES"  # the metrics' setting column: frames between end-diastole and end-systole


def psnr(target: np.ndarray, prediction: np.ndarray) -> float:
    """PSNR (dB) with a data range of 1 (intensities in [0, 1])."""
    mse = float(np.mean((np.asarray(target, np.float64) - prediction) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(1.0 / mse))


def nmse(target: np.ndarray, prediction: np.ndarray) -> float:
    target = np.asarray(target, np.float64)
    return float(np.sum((target - prediction) ** 2) / np.sum(target**2))


def dice(a: np.ndarray, b: np.ndarray) -> float:
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else float(2 * (a & b).sum() / total)


def linear_frames(source: torch.Tensor, target: torch.Tensor, gammas: Sequence[float]) -> torch.Tensor:
    """(1 - gamma) S + gamma T, (N, G, 1, ...)."""
    return torch.stack([(1 - g) * source + g * target for g in gammas], 1)


def carried_labels(labels: torch.Tensor, fields: torch.Tensor) -> torch.Tensor:
    """The ED labels (N, 1, ...) warped by each field (N, G, dims, ...), nearest neighbour."""
    move = warp(fields.shape[2], mode="nearest")
    return torch.stack([move(labels.float(), fields[:, k]).round().long() for k in range(fields.shape[1])], 1)


def blended_labels(ed: torch.Tensor, es: torch.Tensor, gammas: Sequence[float], classes: int) -> torch.Tensor:
    """arg max of (1 - gamma) onehot(ED) + gamma onehot(ES), (N, G, 1, ...)."""
    a, b = (F.one_hot(x[:, 0].long(), classes).movedim(-1, 1).float() for x in (ed, es))
    return torch.stack([((1 - g) * a + g * b).argmax(1, keepdim=True) for g in gammas], 1)


def score_cine(name: str, method: str, frames: np.ndarray, labels: np.ndarray, truth: CineSubject) -> list[tuple]:
    """Rows ``case, method, setting, metric, value`` of one cine: psnr and nmse averaged over the
    intermediate frames, dice_<structure> averaged over the labelled frames after ED."""
    count = len(truth.frames)
    inner = range(1, count - 1)
    rows = [(name, method, SETTING, "psnr", float(np.mean([psnr(truth.frames[k], frames[k]) for k in inner]))),
            (name, method, SETTING, "nmse", float(np.mean([nmse(truth.frames[k], frames[k]) for k in inner])))]
    labelled = [k for k in range(1, count) if (truth.labels[k] != UNLABELLED).any()]
    for value, structure in STRUCTURES.items():
        scores = [dice(labels[k] == value, truth.labels[k] == value) for k in labelled]
        rows.append((name, method, SETTING, f"dice_{structure}", float(np.mean(scores))))
    return rows


@torch.no_grad()
def generate_and_score(cines: Sequence[CineSubject], models: dict, methods: Sequence[str],
                       device: torch.device | str = "cpu") -> tuple[pd.DataFrame, dict]:
    """Every method on every test cine (2D+t, or 3D+t as whole volumes).

    Returns:
        (long-form metrics; examples: the first cine's truth and each method's frames).
    """
    rows, examples = [], {}
    classes = max(STRUCTURES) + 1
    for i, cine in enumerate(cines):
        count = len(cine.frames)
        gammas = np.linspace(0.0, 1.0, count).tolist()
        source = torch.as_tensor(cine.frames[0][None, None], device=device)
        target = torch.as_tensor(cine.frames[-1][None, None], device=device)
        ed = torch.as_tensor(cine.labels[0][None, None].astype(np.int64), device=device)
        es = torch.as_tensor(cine.labels[-1][None, None].astype(np.int64), device=device)
        for method in methods:
            if method == "linear":
                frames = linear_frames(source, target, gammas)
                labels = blended_labels(ed, es, gammas, classes)
            else:
                frames, fields = models[method].frames(source, target, gammas)
                labels = carried_labels(ed, fields)
            frames, labels = frames[0, :, 0].cpu().numpy(), labels[0, :, 0].cpu().numpy()
            rows += score_cine(cine.name, method, frames, labels, cine)
            if i == 0:
                examples[method] = frames
                examples[f"{method}_labels"] = labels.astype(np.uint8)
        if i == 0:
            examples.update(truth=cine.frames, truth_labels=cine.labels, case=np.array([cine.name]))
    return pd.DataFrame(rows, columns=["case", "method", "setting", "metric", "value"]), examples


def load_model(path, kind: str, device):
    """A trained DDM or registration network (weights_only checkpoint), in eval mode."""
    state, sidecar = load_checkpoint(path)
    architecture = sidecar["architecture"]
    model = (DDM(architecture["code"], architecture["field"], architecture.get("anchored", False)) if kind == "ddm"
             else Registration(architecture["field"]))
    model.load_state_dict(state)
    return model.to(device).eval()
