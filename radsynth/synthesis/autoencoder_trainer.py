"""Training the latent-diffusion autoencoder (MONAI ``AutoencoderKL``) and loading it back.

From scratch, without the perceptual loss of the MONAI tutorials (LPIPS needs downloaded
weights): L1 + KL, optionally plus a least-squares patch-adversarial loss.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from monai.losses import PatchAdversarialLoss
from monai.networks.nets import PatchDiscriminator

from radsynth.io import InputError, load_checkpoint
from radsynth.synthesis.autoencoder import (
    LatentCodec,
    autoencoder_config,
    build_autoencoder,
    downsample_factor,
)
from radsynth.training.loop import (
    LossLog,
    autocast,
    batch_indices,
    cpu_state,
    pick_device,
    progress,
    seed_everything,
    to_device,
)
from radsynth.training.resume import Resume

# PatchDiscriminator with num_layers_d=3 shrinks H to H / 8 - 2: smaller inputs fail.
MIN_ADVERSARIAL_SIZE = 24


@dataclass
class AutoencoderResult:
    """What :func:`train_autoencoder` returns.

    Attributes:
        state: ``{"autoencoder": state_dict}`` (plus ``"discriminator"`` when trained with
            the adversarial loss) for :func:`radsynth.io.save_checkpoint`.
        architecture: ``{"autoencoder": kwargs, "scale_factor": float, "downsample": int}``;
            put it in the checkpoint sidecar under ``"architecture"``.
        history: DataFrame with ``iteration`` and the mean ``loss``, ``reconstruction``,
            ``kl`` (and ``adversarial``, ``discriminator``) per logged block.
        images_per_second: training throughput (images through forward + backward per second).
    """

    state: dict
    architecture: dict
    history: pd.DataFrame
    images_per_second: float

    def codec(self, device: torch.device | str = "cpu") -> LatentCodec:
        """The trained autoencoder as a codec in eval mode (no checkpoint needed)."""
        codec = LatentCodec.from_architecture(self.architecture, self.state)
        return codec.to(device).eval()


def train_autoencoder(
    images: np.ndarray,
    *,
    network: dict | None = None,
    iterations: int = 1000,
    batch_size: int = 16,
    lr: float = 1e-4,
    kl_weight: float = 1e-6,
    adversarial_weight: float = 0.0,
    adversarial_start: int = 0,
    seed: int = 0,
    device: torch.device | str | None = None,
    log_every: int = 10,
    resume: Resume | None = None,
) -> AutoencoderResult:
    """Train a KL autoencoder on images, then fit the latent scale factor.

    Args:
        images: float (N, C, H, W) in [-1, 1]; H and W multiples of the latent stride.
        network: keyword arguments of :func:`radsynth.synthesis.autoencoder.autoencoder_config`
            other than ``image_channels``; None takes its defaults.
        iterations: optimiser steps.
        batch_size: images per step (drawn with replacement only when N < batch_size).
        lr: Adam learning rate of the autoencoder and of the discriminator.
        kl_weight: weight of the KL term (small: the latents must stay informative).
        adversarial_weight: weight of the generator's patch-adversarial term; 0 trains no
            discriminator.
        adversarial_start: iterations of plain L1 + KL before the discriminator and the
            adversarial term start (MONAI tutorials' warm-up).
        seed: seeds weights, batches and posterior samples.
        device: "cpu", "cuda" or a torch device; None picks CUDA when present.
        log_every: iterations averaged per row of ``history``.
        resume: saves the run's state every few steps and on SIGTERM, and continues from a
            saved state (:class:`radsynth.training.resume.Resume`); None trains in one go.

    Returns:
        An :class:`AutoencoderResult`; ``architecture["scale_factor"]`` is
        ``1 / std(z_mu)`` over ``images`` so the codec's latents have unit variance.
    """
    device = pick_device() if device is None else torch.device(device)
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4:
        raise ValueError(f"need images (N, C, H, W), got shape {images.shape}")
    config = autoencoder_config(images.shape[1], **(network or {}))
    factor = downsample_factor(config)
    if images.shape[2] % factor or images.shape[3] % factor:
        raise ValueError(f"image size {images.shape[2:]} is not a multiple of {factor}")
    adversarial = adversarial_weight > 0
    if adversarial and min(images.shape[2:]) < MIN_ADVERSARIAL_SIZE:
        raise ValueError(
            f"the patch discriminator needs images of at least {MIN_ADVERSARIAL_SIZE}^2"
        )
    generator = seed_everything(seed)
    model = build_autoencoder(config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    discriminator = None
    if adversarial:
        # The MONAI tutorials' discriminator (BatchNorm), after the autoencoder so that the
        # autoencoder's initial weights do not depend on whether it is used.
        discriminator = PatchDiscriminator(
            spatial_dims=2,
            channels=32,
            in_channels=images.shape[1],
            out_channels=1,
            num_layers_d=3,
        ).to(device)
        # GAN-standard beta1 = 0.5: less momentum keeps it tracking a moving generator.
        d_optimizer = torch.optim.Adam(
            discriminator.parameters(), lr, betas=(0.5, 0.999)
        )
        adversarial_loss = PatchAdversarialLoss(criterion="least_squares")

    data = to_device(images, device)
    log = LossLog(log_every)
    resume = resume or Resume(None)
    resume.track(autoencoder=model, optimizer=optimizer, generator=generator, log=log)
    if discriminator is not None:
        resume.track(discriminator=discriminator, d_optimizer=d_optimizer)
    first = resume.start()
    bar = progress(iterations, "autoencoder", initial=first)
    model.train()
    start = time.perf_counter()
    for step in range(first, iterations):
        iteration = step + 1
        batch = data[batch_indices(len(data), batch_size, generator).to(device)]
        with autocast(device):
            reconstruction, z_mu, z_sigma = model(batch)
        reconstruction = reconstruction.float()
        rec = F.l1_loss(reconstruction, batch)
        kl = kl_divergence(z_mu.float(), z_sigma.float())
        loss = rec + kl_weight * kl
        losses = {"reconstruction": rec, "kl": kl}
        against = discriminator is not None and iteration > adversarial_start
        if against:
            with autocast(device):
                fake = discriminator(reconstruction)[-1]
            generator_loss = adversarial_loss(
                fake.float(), target_is_real=True, for_discriminator=False
            )
            loss = loss + adversarial_weight * generator_loss
            losses["adversarial"] = generator_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if against:
            losses["discriminator"] = discriminator_step(
                discriminator, d_optimizer, adversarial_loss, batch, reconstruction
            )
        losses = {"loss": loss, **losses}
        # One device sync per iteration for all the logged values.
        values = torch.stack([v.detach() for v in losses.values()]).tolist()
        log.add(iteration, **dict(zip(losses, values, strict=True)))
        bar.update()
        resume.step(iteration)
    log.flush(iterations)
    bar.close()
    resume.finish()
    elapsed = time.perf_counter() - start
    architecture = {
        "autoencoder": config,
        "scale_factor": latent_scale(model, data, batch_size),
        "downsample": factor,
    }
    state = {"autoencoder": cpu_state(model)}
    if discriminator is not None:
        state["discriminator"] = cpu_state(discriminator)
    throughput = (iterations - first) * batch_size / elapsed
    return AutoencoderResult(state, architecture, log.frame(), throughput)


def kl_divergence(z_mu: torch.Tensor, z_sigma: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)) summed over latent dims, mean over the batch."""
    per_element = z_mu.pow(2) + z_sigma.pow(2) - torch.log(z_sigma.pow(2)) - 1
    return 0.5 * per_element.flatten(1).sum(dim=1).mean()


def discriminator_step(
    discriminator, optimizer, adversarial_loss, real, fake
) -> torch.Tensor:
    """One least-squares update of the discriminator: real -> 1, reconstruction -> 0."""
    with autocast(real.device):
        fake_logits = discriminator(fake.detach())[-1].float()
        real_logits = discriminator(real)[-1].float()
    # Not scaled by adversarial_weight as in the tutorials: Adam would undo it anyway.
    fake_loss = adversarial_loss(
        fake_logits, target_is_real=False, for_discriminator=True
    )
    real_loss = adversarial_loss(
        real_logits, target_is_real=True, for_discriminator=True
    )
    loss = 0.5 * (fake_loss + real_loss)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


@torch.no_grad()
def latent_scale(model, data: torch.Tensor, batch_size: int) -> float:
    """``1 / std(z_mu)`` over ``data``, the scale that gives the latents unit variance."""
    model.eval()
    total = torch.zeros(3, dtype=torch.float64, device=data.device)
    for chunk in data.split(max(batch_size, 64)):
        # float32 as LatentCodec.encode, so the codec's latents get exactly this std.
        z_mu = model.encode(chunk)[0].double()
        count = z_mu.new_tensor(z_mu.numel())
        total += torch.stack([z_mu.sum(), z_mu.pow(2).sum(), count])
    total_sum, total_squares, count = total.tolist()
    # Running sums in float64, so the whole latent set never has to be held at once.
    variance = (total_squares - total_sum**2 / count) / max(count - 1, 1)
    # A collapsed encoder (all latents equal) has no scale to fix: leave it at 1.
    return 1.0 / variance**0.5 if variance > 0 else 1.0


def load_autoencoder(
    path: str | Path, device: torch.device | str | None = None
) -> LatentCodec:
    """Rebuild a trained autoencoder from a checkpoint written with ``save_checkpoint``.

    The caller saves ``save_checkpoint(path, result.state, {"architecture":
    result.architecture, ...})`` with the :class:`AutoencoderResult`.

    Args:
        path: the ``.pt`` file (its ``.json`` sidecar beside it).
        device: where to put the network; None picks CUDA when present.

    Returns:
        A :class:`~radsynth.synthesis.autoencoder.LatentCodec` in eval mode.
    """
    device = pick_device() if device is None else torch.device(device)
    state, sidecar = load_checkpoint(path)
    if "architecture" not in sidecar or "autoencoder" not in state:
        raise InputError(
            path,
            "not an autoencoder checkpoint "
            "(no 'architecture' in sidecar or no 'autoencoder' state)",
        )
    codec = LatentCodec.from_architecture(sidecar["architecture"], state)
    return codec.to(device).eval()
