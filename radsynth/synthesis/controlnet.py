"""The EMIT-Diff generator: a text-conditioned diffusion UNet steered by a ControlNet.

Each real training mask gives K samples: the control image is built from the real slice's
edges and the mask's boundary, the prompt from the subject, and each synthetic image keeps the
real mask as its label. Sampling is DDIM (EMIT-Diff: 20 steps) with classifier-free guidance
on the prompt, in pixel space or in an autoencoder's latent space.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from monai.inferers import ControlNetDiffusionInferer

from radsynth.io import InputError, load_checkpoint
from radsynth.synthesis.control import control_map
from radsynth.synthesis.controlnet_trainer import frozen_base
from radsynth.synthesis.networks import CFG_FILL_VALUE, build_controlnet, sampling_scheduler
from radsynth.synthesis.sampling import plan_samples, sample_noise
from radsynth.training.loop import autocast, pick_device, to_device


@dataclass
class ControlNetGenerator:
    """A trained base model + ControlNet (+ autoencoder), ready to sample.

    Attributes:
        unet: the frozen diffusion UNet.
        prompt_encoder: its prompt encoder (None for an unconditional base).
        controlnet: the trained ControlNet.
        scheduler: kwargs of the training noise schedule.
        control: ``{"edge_sigma", "mask_fill"}`` of the control images it was trained on.
        codec: a ``LatentCodec`` for a latent model, else None.
        architecture: the sidecar dict it was built from.
    """

    unet: torch.nn.Module
    prompt_encoder: torch.nn.Module | None
    controlnet: torch.nn.Module
    scheduler: dict
    control: dict
    codec: object | None = None
    architecture: dict = field(default_factory=dict)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: torch.device | str | None = None) -> ControlNetGenerator:
        """Rebuild from a checkpoint whose sidecar has ``"generator": "controlnet"``.

        The state holds ``unet``, ``prompt_encoder``, ``controlnet`` (and ``autoencoder`` for a
        latent model); the sidecar's ``architecture`` holds ``base``, ``controlnet`` (and
        ``autoencoder``).
        """
        device = pick_device() if device is None else torch.device(device)
        state, sidecar = load_checkpoint(path)
        if sidecar.get("generator") != "controlnet" or "controlnet" not in state:
            raise InputError(path, "not a ControlNet generator checkpoint")
        architecture = sidecar["architecture"]
        unet, encoder = frozen_base(state, architecture["base"], device)
        controlnet = build_controlnet(architecture["controlnet"]["controlnet"])
        controlnet.load_state_dict(state["controlnet"])
        codec = None
        if architecture.get("autoencoder"):
            from radsynth.synthesis.autoencoder import LatentCodec

            codec = LatentCodec.from_architecture(architecture["autoencoder"], state).to(device)
        return cls(
            unet=unet,
            prompt_encoder=encoder,
            controlnet=controlnet.to(device).eval(),
            scheduler=dict(architecture["base"]["scheduler"]),
            control=dict(architecture["controlnet"]["control"]),
            codec=codec,
            architecture=architecture,
        )

    def sample(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        per_mask: int,
        *,
        tokens: np.ndarray | None = None,
        seed: int = 0,
        steps: int = 20,
        sampler: str = "ddim",
        guidance_scale: float | None = None,
        eta: float = 0.0,
        batch_size: int = 32,
        device: torch.device | str | None = None,
        **_,
    ) -> dict[str, np.ndarray]:
        """K synthetic images per real slice, conditioned on its control image and prompt.

        Args:
            images: float (N, C, H, W) in [-1, 1], the real slices (edges of the control image).
            labels: integer (N, H, W), the real masks (boundary of the control image; the labels).
            per_mask: K, samples per real slice.
            tokens: int (N, MAX_WORDS) prompt of each slice (text-conditioned models).
            seed: base seed; each sample's noise comes from (seed, slice, sample).
            steps: sampler steps (EMIT-Diff: DDIM 20).
            sampler: "ddim" or "ddpm".
            guidance_scale: classifier-free guidance weight on the prompt (uncond + w (cond -
                uncond)); None or 1 samples the conditional model alone, at half the cost.
            eta: DDIM's noise weight (EMIT-Diff: 0, deterministic).
            batch_size: samples denoised together (larger is faster on a GPU).
            device: where to sample; None picks CUDA when present.

        Returns:
            ``image`` float32 (N*K, C, H, W) in [-1, 1] ordered by slice then sample; ``label``
            uint8 (N*K, H, W); ``source_index``, ``sample``, ``seed`` int64 (N*K,).
        """
        device = pick_device() if device is None else torch.device(device)
        images, labels = np.asarray(images, dtype=np.float32), np.asarray(labels)
        if self.prompt_encoder is not None and tokens is None:
            raise ValueError("this generator is text-conditioned: give each slice its prompt tokens")
        plan = plan_samples(len(images), per_mask, seed)
        control = to_device(control_map(images, labels, self.control["edge_sigma"], self.control["mask_fill"]), device)
        words = None if tokens is None else torch.as_tensor(tokens, device=device)
        cfg = None if guidance_scale in (None, 1.0) else float(guidance_scale)
        shape = self.codec.latent_shape(images.shape[1:]) if self.codec is not None else images.shape[1:]
        # Latents are unbounded: clamping their x0 predictions to [-1, 1] would flatten them.
        schedule = dict(sampler=sampler, steps=steps, clip_sample=self.codec is None, eta=eta)
        inferer = ControlNetDiffusionInferer(sampling_scheduler(self.scheduler, **schedule))
        out = np.empty((len(plan["seed"]), *images.shape[1:]), dtype=np.float32)
        for start in range(0, len(out), batch_size):
            part = slice(start, start + batch_size)
            rows = torch.as_tensor(plan["source_index"][part], device=device)
            noise = sample_noise(plan["seed"][part], tuple(shape)).to(device)
            with torch.inference_mode(), autocast(device):
                context = None if words is None else self.prompt_encoder(words[rows])
                result = inferer.sample(
                    noise, self.unet, self.controlnet, control[rows],
                    scheduler=sampling_scheduler(self.scheduler, **schedule),
                    conditioning=context, mode="crossattn", verbose=False, cfg=cfg, cfg_fill_value=CFG_FILL_VALUE,
                )  # fmt: skip
                if self.codec is not None:
                    result = self.codec.decode(result)
            out[part] = result.float().clamp(-1.0, 1.0).cpu().numpy()
        return {"image": out, "label": labels[plan["source_index"]].astype(np.uint8), **plan}
