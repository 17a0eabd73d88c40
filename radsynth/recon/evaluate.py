"""Reconstruct the test slices at each acceleration with every method, and score them.

Each test slice gets one mask per acceleration, seeded by its name (:func:`slice_seed`), so
every method sees the same measurement and a rerun the same masks. All methods work in the
units of 1 / max |zero-filled image| and are scored in the slice's own units.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from radsynth.io import load_checkpoint
from radsynth.recon import diffuserecon, mcddpm
from radsynth.recon.chain import RespacedChain, cosine_alphas_cumprod
from radsynth.recon.data import ReconSlices, slice_seed
from radsynth.recon.kspace import magnitude, magnitude_stats, masks_for, peak_scale, zero_filled
from radsynth.recon.metrics import error_correlation, recon_scores
from radsynth.recon.networks import build_network

# Methods in display order; the learned ones need a model of the same name.
METHODS = ("zero_filled", "unet", "mcddpm", "diffuserecon")


def load_model(path, kind: str, device: torch.device) -> tuple[torch.nn.Module, dict]:
    """A trained network (weights_only checkpoint) and its sidecar, in eval mode."""
    state, sidecar = load_checkpoint(path)
    model = build_network(kind, sidecar["architecture"])
    model.load_state_dict(state)
    return model.to(device).eval(), sidecar


class Reconstructor:
    """The methods' reconstructions of one batch of measurements.

    Args:
        models: method -> trained network (absent for zero_filled).
        settings: the ``recon`` config's sampling keys: ``mcddpm`` {train_timesteps, steps,
            samples, variance, clip_image}, ``diffuserecon`` {train_timesteps, steps, samples,
            variance, refine_chain, refine_steps}.
        generator: CPU generator of the sampling noise.
    """

    def __init__(self, models: dict, settings: dict, generator: torch.Generator):
        self.models, self.settings, self.generator = models, settings, generator
        self.chains = {}
        if "mcddpm" in models:
            s = settings["mcddpm"]
            self.chains["mcddpm"] = RespacedChain(cosine_alphas_cumprod(s["train_timesteps"]), s["steps"],
                                                  mcddpm.NOISE_SCALE, s["variance"])
        if "diffuserecon" in models:
            s = settings["diffuserecon"]
            abar = cosine_alphas_cumprod(s["train_timesteps"])
            self.chains["coarse"] = RespacedChain(abar, s["steps"], variance=s["variance"])
            self.chains["fine"] = RespacedChain(abar, s["refine_chain"])

    @torch.no_grad()
    def __call__(self, method: str, measured: torch.Tensor, image_zf: torch.Tensor, mask: torch.Tensor):
        """(magnitude (B, H, W), std map or None) in the measurement's units."""
        scale = peak_scale(image_zf)
        if method == "zero_filled":
            return magnitude(image_zf), None
        model = self.models[method]
        if method == "unet":
            return model(magnitude(image_zf)[:, None] * scale)[:, 0] / scale[:, 0], None
        s = self.settings[method]
        if method == "mcddpm":
            draws = mcddpm.sample(model, measured * scale, mask, self.chains["mcddpm"], s["samples"], self.generator,
                                  s["clip_image"])
            mean, std = magnitude_stats(draws)
            return mean / scale[:, 0], std / scale[:, 0]
        draws = diffuserecon.coarse(model, measured * scale, mask, self.chains["coarse"], s["samples"], self.generator)
        fine = diffuserecon.refine(model, draws.mean(1), measured * scale, mask, self.chains["fine"], s["refine_steps"])
        return magnitude(fine) / scale[:, 0], magnitude_stats(draws)[1] / scale[:, 0]


def reconstruct_test(slices: ReconSlices, methods: Sequence[str], models: dict, *, accelerations: Sequence[int],
                     settings: dict, batch_size: int = 8, seed: int = 0,
                     device: torch.device | str = "cpu") -> tuple[pd.DataFrame, dict]:
    """Every method at every acceleration on every test slice.

    Args:
        slices: the test split's slices.
        methods: names from :data:`METHODS`.
        models: method -> trained network, for the learned methods listed.
        accelerations: e.g. [4, 8].
        settings: see :class:`Reconstructor`.
        batch_size: slices per batch (diffusion batches hold ``samples`` draws of each).
        seed: the sampling noise's seed.
        device: where the networks run.

    Returns:
        (long-form metrics ``case, method, setting, metric, value`` with setting ``<a>x`` and
        metrics psnr, ssim, nmse and, where a method has a std map, error_std_correlation;
        examples: the target of the slice with the most tissue and each method's magnitude and
        std of it per acceleration).
    """
    device = torch.device(device)
    run = Reconstructor(models, settings, torch.Generator().manual_seed(seed))
    cases, target = slices.cases(), slices.target
    width = slices.image.shape[-1]
    seeds = np.array([slice_seed(s, i) for s, i in zip(slices.subject, slices.slice)])
    shown = int(np.argmax(target.reshape(len(target), -1).sum(1)))  # the figure's slice: the most tissue
    rows = []
    examples = {"target": target[shown:shown + 1], "case": np.array(cases[shown:shown + 1]),
                "accelerations": np.array(accelerations)}
    with tqdm(total=len(accelerations) * len(methods) * len(slices), desc="reconstruct", mininterval=2.0) as bar:
        for a in accelerations:
            for start in range(0, len(slices), batch_size):
                part = slice(start, start + batch_size)
                image = torch.as_tensor(slices.image[part], device=device)
                mask = masks_for(len(image), width, a, seeds[part]).to(device)
                measured, image_zf = zero_filled(image, mask)
                for method in methods:
                    prediction, std = run(method, measured, image_zf, mask)
                    prediction = prediction.cpu().numpy()
                    std = None if std is None else std.cpu().numpy()
                    for k, case in enumerate(cases[part]):
                        truth = target[start + k]
                        scores = recon_scores(truth, prediction[k])
                        if std is not None:
                            scores["error_std_correlation"] = error_correlation(std[k], prediction[k] - truth)
                        rows += [(case, method, f"{a}x", m, v) for m, v in scores.items()]
                    if start <= shown < start + len(image):
                        examples.setdefault(method, []).append(prediction[shown - start])
                        if std is not None:
                            examples.setdefault(f"{method}_std", []).append(std[shown - start])
                    bar.update(len(prediction))
    examples.update({key: np.stack(value) for key, value in examples.items() if isinstance(value, list)})
    return pd.DataFrame(rows, columns=["case", "method", "setting", "metric", "value"]), examples
