"""One RegGAN-style training iteration: the generator (and R) losses, the least-squares
discriminator losses and the replay buffer of fakes.

Hand-written because no library has RegGAN's joint G + R update. It follows the official
RegGAN code (Kid-Liet/Reg-GAN, ``trainer/CycTrainer.py``):

- generators (and R) first: ``total = adversarial [+ paired L1] [+ cycle] [+ correction +
  smoothness]``, one backward, one Adam step;
- then the discriminator(s): ``adv * (MSE(D(real), 1) + MSE(D(fake), 0))`` (least squares),
  where the fakes come from a 50-image replay buffer (C, NC), from the batch just generated
  (Pix2Pix, whose original keeps no buffer) or from G re-run after its update (NC+R, as in
  the official code).

The least-squares loss scores whatever D returns: its patch map (Pix2Pix/CycleGAN), or one
score per image when the discriminator averages its map (``PatchGAN(pool=True)``, the
official RegGAN discriminator). The smoothness term is the official one (``smooothing_loss``
in ``trainer/utils.py``): the mean of squared forward differences, summed over the axes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from radsynth.training.loop import autocast
from radsynth.translation.modes import Mode
from radsynth.translation.registration import warp_image


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

    def state_dict(self) -> dict:
        """The stored fakes (for resumable training); the generator is the caller's to save."""
        return {"data": self.data, "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.data, self.count = state["data"], int(state["count"])

    def push_and_pop(self, batch: torch.Tensor) -> torch.Tensor:
        batch = batch.detach().float()
        if self.size == 0:
            return batch
        if self.data is None:
            self.data = torch.empty((self.size, *batch.shape[1:]), device=batch.device)
        self.data = self.data.to(batch.device)  # a resumed state is loaded on the CPU
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


def lsgan(prediction: torch.Tensor, real: bool) -> torch.Tensor:
    """Least-squares GAN loss against an all-ones (real) or all-zeros (fake) patch map."""
    target = torch.ones_like(prediction) if real else torch.zeros_like(prediction)
    return F.mse_loss(prediction.float(), target.float())


def smoothness(field: torch.Tensor) -> torch.Tensor:
    """RegGAN's smoothness loss: ``sum over spatial axes of mean((field[i+1] - field[i])**2)``.

    Hand-written: MONAI's ``DiffusionLoss`` takes central differences, which are blind to a
    field that flips sign from pixel to pixel (0 on a +-1 checkerboard, where this gives 8).

    Args:
        field: (B, spatial_dims, *spatial) displacement.

    Returns:
        Scalar: the mean over every element of the squared forward differences along each
        spatial axis, added up over the axes (the official code adds the two 2D means).
    """
    return sum(torch.diff(field, dim=axis).square().mean() for axis in range(2, field.dim()))


def set_requires_grad(modules, flag: bool) -> None:
    for module in modules:
        module.requires_grad_(flag)


def generator_losses(nets, spec: Mode, w: dict, a, b):
    """Generator(-and-R) losses of one batch; also the D inputs of the fakes."""
    d_in = (lambda x, y: torch.cat([x, y], 1)) if spec.conditional else (lambda x, y: y)
    fake_b = nets["generator"](a)
    losses = {"g_adv": w["adversarial"] * lsgan(nets["discriminator"](d_in(a, fake_b)), True)}
    fakes = {"discriminator": d_in(a, fake_b)}
    if spec.paired_l1:
        losses["g_l1"] = w["paired_l1"] * F.l1_loss(fake_b.float(), b)
    if spec.cycle:
        fake_a = nets["generator_reverse"](b)
        losses["g_adv_reverse"] = w["adversarial"] * lsgan(nets["discriminator_reverse"](fake_a), True)
        cycle_a = F.l1_loss(nets["generator_reverse"](fake_b).float(), a)
        cycle_b = F.l1_loss(nets["generator"](fake_a).float(), b)
        losses["cycle"] = w["cycle"] * (cycle_a + cycle_b)
        fakes["discriminator_reverse"] = fake_a
    if spec.registration:
        losses.update(registration_losses(nets["registration"], w, fake_b, b))
    return losses, fakes


def registration_losses(registration, w: dict, fake_b, b) -> dict:
    """RegGAN's +R terms: R registers G(x) onto y; ``correction`` = weighted L1 of the
    warped G(x) against y, ``smoothness`` = weighted :func:`smoothness` of R's field.

    Args:
        registration: R.
        w: loss weights (``correction``, ``smoothness``).
        fake_b: G(x), the translated source.
        b: the (misaligned) target.
    """
    field = registration(fake_b, b).float()
    return {
        "correction": w["correction"] * F.l1_loss(warp_image(fake_b, field), b),
        "smoothness": w["smoothness"] * smoothness(field),
    }


def discriminator_loss(net, real, fake, weight):
    return weight * (lsgan(net(real), True) + lsgan(net(fake), False))


def update_generators(opt_g, discriminators, device, compute):
    """One Adam step of the generators (and R) with the discriminators frozen, so that their
    weight gradients are not computed; ``compute()`` returns ``(weighted losses, *extra)``.

    Returns:
        ``(losses, total, extra)``, the discriminators trainable again.
    """
    set_requires_grad(discriminators, False)
    opt_g.zero_grad(set_to_none=True)
    with autocast(device):
        losses, *extra = compute()
        total = sum(losses.values())
    total.backward()
    opt_g.step()
    set_requires_grad(discriminators, True)
    return losses, total, extra


def train_step(nets, spec: Mode, w: dict, a, b, opt_g, opt_d, buffers: dict, device) -> dict:
    """One RegGAN-style iteration: generators (+ R) first, then the discriminators."""
    d_names = list(buffers)
    discriminators = [nets[n] for n in d_names]
    losses, total, (fakes,) = update_generators(
        opt_g, discriminators, device, lambda: generator_losses(nets, spec, w, a, b))

    # Discriminators on real vs fake.
    opt_d.zero_grad(set_to_none=True)
    with autocast(device):
        if spec.fakes == "regenerated":
            with torch.no_grad():
                fake_b = nets["generator"](a)
            fakes["discriminator"] = torch.cat([a, fake_b], 1) if spec.conditional else fake_b
        reals = {"discriminator": torch.cat([a, b], 1) if spec.conditional else b, "discriminator_reverse": a}
        d_losses = {
            n.replace("discriminator", "d"): discriminator_loss(
                nets[n], reals[n], buffers[n].push_and_pop(fakes[n]), w["adversarial"]
            )
            for n in d_names
        }
    sum(d_losses.values()).backward()
    opt_d.step()
    return {**losses, "g_total": total, **d_losses}
