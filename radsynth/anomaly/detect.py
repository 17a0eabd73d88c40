"""Healthy counterfactuals of each method, the val-split sweep that chooses L and the guidance
scale, and the scored maps of the test split.

Methods:
- ``guided``: DDIM encode to L, decode towards the healthy class with classifier guidance s
  (Wolleb et al.).
- ``classifier_free``: the same encode, decoded with eps_null + w (eps_healthy - eps_null).
- ``unguided``: the same encode and decode, healthy class, no guidance (s = 0): the DDPM
  reconstruction baseline.
- ``autoencoder``: the reconstruction of the autoencoder trained on healthy slices.

The encoding uses the healthy class and no guidance for every DDPM method, so one encoding per L
serves every method and scale (the official encode also runs without ``cond_fn``).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import torch

from radsynth.anomaly.ddim import classifier_gradient, ddim_decode, ddim_encode, encode_timesteps
from radsynth.anomaly.metrics import anomaly_map, case_scores
from radsynth.anomaly.networks import HEALTHY, NULL_CLASS
from radsynth.synthesis.networks import ddpm_scheduler
from radsynth.training.loop import progress

DDPM_METHODS = ("guided", "classifier_free", "unguided")
METHODS = (*DDPM_METHODS, "autoencoder")


class Detector:
    """The trained models, and the counterfactuals they draw.

    Args:
        ddpm: the class-conditional noise predictor (eval mode is set here).
        scheduler_config: its noise schedule.
        steps: DDIM steps over the whole chain (stride T // steps).
        classifier: the noisy-slice classifier (``guided`` only).
        autoencoder: the baseline (``autoencoder`` only).
        device: where the models run.
        batch_size: slices per forward pass.
    """

    def __init__(self, ddpm, scheduler_config: dict, steps: int, *, classifier=None, autoencoder=None,
                 device: torch.device | str = "cpu", batch_size: int = 64):
        self.device = torch.device(device)
        self.models = {"ddpm": ddpm, "classifier": classifier, "autoencoder": autoencoder}
        for model in self.models.values():
            if model is not None:
                model.to(self.device).eval()
        scheduler = ddpm_scheduler(scheduler_config)
        self.train_timesteps, self.alphas = scheduler.num_train_timesteps, scheduler.alphas_cumprod
        self.steps, self.batch_size = int(steps), int(batch_size)

    def _predictor(self, label: int):
        labels = {}

        def predict(x, t):
            if len(x) not in labels:
                labels[len(x)] = torch.full((len(x),), label, dtype=torch.long, device=x.device)
            return self.models["ddpm"](x, t, class_labels=labels[len(x)])

        return predict

    def _free_predictor(self, weight: float):
        healthy, null = self._predictor(HEALTHY), self._predictor(NULL_CLASS)

        def predict(x, t):
            unconditional = null(x, t)
            return unconditional + weight * (healthy(x, t) - unconditional)

        return predict

    def _batches(self, array: np.ndarray):
        for start in range(0, len(array), self.batch_size):
            yield torch.as_tensor(array[start:start + self.batch_size], dtype=torch.float32, device=self.device)

    def encode(self, images: np.ndarray, noise_level: int) -> list[torch.Tensor]:
        """The slices DDIM-encoded to noise level L (batches, for :meth:`decode`)."""
        timesteps = encode_timesteps(self.train_timesteps, self.steps, noise_level)
        return [ddim_encode(self._predictor(HEALTHY), x, timesteps, self.alphas) for x in self._batches(images)]

    def decode(self, encoded: list[torch.Tensor], noise_level: int, method: str, scale: float) -> np.ndarray:
        """Healthy counterfactuals of an encoding: ``method`` one of :data:`DDPM_METHODS`,
        ``scale`` the classifier scale s (guided) or the weight w (classifier_free)."""
        timesteps = encode_timesteps(self.train_timesteps, self.steps, noise_level)
        gradient, predict = None, self._predictor(HEALTHY)
        if method == "guided" and scale:
            if self.models["classifier"] is None:
                raise ValueError("the guided method needs the trained classifier")
            gradient = classifier_gradient(self.models["classifier"], scale)
        elif method == "classifier_free":
            predict = self._free_predictor(scale)
        elif method not in DDPM_METHODS:
            raise ValueError(f"unknown DDPM method {method!r}; expected one of {DDPM_METHODS}")
        return np.concatenate([ddim_decode(predict, x, timesteps, self.alphas, gradient).cpu().numpy()
                               for x in encoded])

    @torch.no_grad()
    def reconstruct(self, images: np.ndarray) -> np.ndarray:
        """The autoencoder's reconstructions."""
        if self.models["autoencoder"] is None:
            raise ValueError("the autoencoder method needs the trained autoencoder")
        return np.concatenate([self.models["autoencoder"](x).clamp(-1, 1).cpu().numpy() for x in self._batches(images)])


def sweep(detector: Detector, images: np.ndarray, masks: np.ndarray, grid: dict[str, dict]) -> pd.DataFrame:
    """Mean pixel scores of the lesion slices for every method, L and scale of ``grid``.

    Args:
        detector: the trained models.
        images: float (N, C, H, W) val slices (only those with a lesion are used).
        masks: (N, H, W) their lesion masks.
        grid: ``{method: {"noise_levels": [...], "scales": [...]}}`` over DDPM methods.

    Returns:
        One row per (method, noise_level, scale): mean ``dice``, ``auroc``, ``auprc``.
    """
    lesion = np.asarray(masks).reshape(len(masks), -1).any(axis=1)
    if not lesion.any():
        raise ValueError("the val split has no lesion slice: the sweep cannot score L and s")
    images, masks = images[lesion], masks[lesion]
    levels = sorted({int(level) for settings in grid.values() for level in settings["noise_levels"]})
    runs = [(m, level, float(s)) for m, settings in grid.items() for level, s in
            itertools.product(settings["noise_levels"], settings["scales"])]
    rows, bar = [], progress(len(runs), "anomaly sweep")
    for level in levels:
        encoded = detector.encode(images, level)
        for method, _, scale in (r for r in runs if r[1] == level):
            scores = case_scores(anomaly_map(images, detector.decode(encoded, level, method, scale)), masks)
            rows.append({"method": method, "noise_level": level, "scale": scale,
                         **{k: float(np.nanmean(v)) for k, v in scores.items()}})
            bar.update()
    bar.close()
    return pd.DataFrame(rows)


def choose(table: pd.DataFrame, metric: str = "auroc") -> dict[str, dict]:
    """Per method, the (noise_level, scale) of the sweep's best mean ``metric`` (first on ties)."""
    best = table.loc[table.groupby("method", sort=False)[metric].idxmax()]
    return {row.method: {"noise_level": int(row.noise_level), "scale": float(row.scale)} for row in best.itertuples()}


def choose_settings(detector: Detector, images: np.ndarray | None, masks: np.ndarray | None, grid: dict[str, dict],
                    metric: str = "auroc") -> tuple[pd.DataFrame, dict[str, dict], str]:
    """The sweep on the val slices and its choice, or, without a val lesion slice, the first
    noise level and scale of each method's lists.

    Returns:
        ``(sweep table, method -> {"noise_level", "scale"}, how they were chosen)``.
    """
    if images is not None and np.asarray(masks).any():
        table = sweep(detector, images, masks, grid)
        return table, (choose(table, metric) if grid else {}), "val sweep"
    first = {m: {"noise_level": int(g["noise_levels"][0]), "scale": float(g["scales"][0])} for m, g in grid.items()}
    return pd.DataFrame(columns=["method", "noise_level", "scale", "dice", "auroc", "auprc"]), first, "no val lesion slice"


def counterfactuals(detector: Detector, images: np.ndarray, settings: dict[str, dict]) -> dict[str, np.ndarray]:
    """Each method's healthy counterfactuals of ``images`` at its chosen settings (the
    autoencoder takes none); one encoding per noise level."""
    out, encodings = {}, {}
    for method, chosen in settings.items():
        if method == "autoencoder":
            out[method] = detector.reconstruct(images)
            continue
        level = chosen["noise_level"]
        if level not in encodings:
            encodings[level] = detector.encode(images, level)
        out[method] = detector.decode(encodings[level], level, method, chosen["scale"])
    return out
