"""The detect job's steps: load the trained models, sweep L and the scales on val, score the
test split per case, and keep a few examples for the figure."""

from __future__ import annotations

import numpy as np
import pandas as pd

from radsynth.anomaly.data import slice_labels
from radsynth.anomaly.detect import DDPM_METHODS, Detector
from radsynth.anomaly.metrics import anomaly_map, case_scores, slice_auroc
from radsynth.anomaly.networks import NoisyClassifier, build_autoencoder
from radsynth.io import load_checkpoint
from radsynth.synthesis.networks import build_unet


def load_detector(models: dict[str, str], steps: int, device, batch_size: int = 32) -> Detector:
    """A :class:`Detector` from the checkpoints of ``models`` (``ddpm``, ``classifier``,
    ``autoencoder``: paths; absent ones are not loaded), loaded with ``weights_only=True``."""
    loaded, schedule = {}, None
    for name, path in models.items():
        state, sidecar = load_checkpoint(path)
        architecture = sidecar["architecture"]
        if name == "ddpm":
            loaded[name], schedule = build_unet(architecture["unet"]), architecture["scheduler"]
        elif name == "classifier":
            loaded[name] = NoisyClassifier(**architecture)
        else:
            loaded[name] = build_autoencoder(architecture)
        loaded[name].load_state_dict(state)
    return Detector(loaded.get("ddpm"), schedule, steps, classifier=loaded.get("classifier"),
                    autoencoder=loaded.get("autoencoder"), device=device, batch_size=batch_size)


def sweep_grid(methods, noise_levels, scales, weights) -> dict[str, dict]:
    """The val sweep of each listed DDPM method: L x s (guided), L x w (classifier_free), L
    (unguided, s = 0)."""
    own = {"guided": scales, "classifier_free": weights, "unguided": [0.0]}
    return {m: {"noise_levels": list(noise_levels), "scales": list(own[m])} for m in methods if m in DDPM_METHODS}


def setting_name(chosen: dict) -> str:
    """``L<level>_s<scale>`` of a chosen DDPM setting; ``-`` for the autoencoder."""
    return f"L{chosen['noise_level']}_s{chosen['scale']:g}" if chosen else "-"


def case_names(packed: dict[str, np.ndarray]) -> list[str]:
    return [f"{s}_z{int(z):03d}" for s, z in zip(packed["subject"], packed["slice"])]


def score_test(images: np.ndarray, masks: np.ndarray, cases: list[str], counterfactuals: dict[str, np.ndarray],
               chosen: dict[str, dict]) -> pd.DataFrame:
    """Long-form ``case, method, setting, metric, value`` rows: pixel ``dice``, ``auroc`` and
    ``auprc`` per lesion slice, and one ``slice_auroc`` row (case ``all``) per method over
    every test slice (the map's maximum against the slice label)."""
    rows, labels = [], slice_labels(masks)
    for method, counterfactual in counterfactuals.items():
        setting = setting_name(chosen.get(method, {}))
        heat = anomaly_map(images, counterfactual)
        for metric, values in case_scores(heat, masks).items():
            rows += [(case, method, setting, metric, float(v)) for case, v in zip(cases, values) if np.isfinite(v)]
        if 0 < labels.sum() < len(labels):
            rows.append(("all", method, setting, "slice_auroc", slice_auroc(heat, labels)))
    return pd.DataFrame(rows, columns=["case", "method", "setting", "metric", "value"])


def examples(images: np.ndarray, masks: np.ndarray, cases: list[str], counterfactuals: dict[str, np.ndarray],
             count: int = 3) -> dict[str, np.ndarray]:
    """The ``count`` test slices with the largest lesions: image, mask, and each method's
    counterfactual and map (arrays for :func:`radsynth.anomaly.figures.anomaly_figure`)."""
    area = np.asarray(masks).reshape(len(masks), -1).sum(axis=1)
    keep = [i for i in np.argsort(-area, kind="stable")[:count] if area[i] > 0]
    out = {"image": images[keep], "mask": np.asarray(masks)[keep], "case": np.array([cases[i] for i in keep]),
           "methods": np.array(list(counterfactuals))}
    for method, counterfactual in counterfactuals.items():
        out[f"{method}_counterfactual"] = counterfactual[keep]
        out[f"{method}_map"] = anomaly_map(images[keep], counterfactual[keep])
    return out
