"""One training iteration of UNIT and MUNIT in RegGAN's modes, as the official RegGAN trainers
run them (Kid-Liet/Reg-GAN ``trainer/UnitTrainer.py``, ``trainer/MunitTrainer.py``; read, not
copied): the auto-encoders (and R) first, one Adam step on the weighted sum, then the
multi-scale least-squares discriminators on fakes generated afresh by the updated networks.

What each mode keeps (``spec.cycle`` is C; +R adds :func:`radsynth.translation.step.registration_losses`
on the A -> B fake):

- UNIT: adversarial (D_B on x_ab; C also D_A on x_ba), within-domain reconstruction of A and
  B, KL of both latents, the cycle A -> B -> A and the KL of its latent; C adds the cycle
  B -> A -> B and its KL. NC drops D_A, the adversarial term on x_ba, the B cycle and its KL.
- MUNIT: adversarial (D_B on x_ab; C also D_A), reconstruction of A and B, style and content
  reconstruction of A's side; C adds B's. NC+R weighs the adversarial term with the cycle
  weight (10), not the adversarial one: the official NC+R branch does, and RegGAN's table
  was made with it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from radsynth.training.loop import autocast
from radsynth.translation.modes import Mode
from radsynth.translation.step import lsgan, registration_losses, update_generators


def kl(latent: torch.Tensor) -> torch.Tensor:
    """UNIT's KL term of a latent with unit variance: ``mean(latent**2)``."""
    return latent.float().square().mean()


def l1(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(x.float(), y.float())


def multiscale_lsgan(outputs: list[torch.Tensor], real: bool) -> torch.Tensor:
    """Least-squares loss summed over the scales of a multi-scale discriminator."""
    return sum(lsgan(o, real) for o in outputs)


def multiscale_d_loss(net, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """``sum over scales of mean((D(real) - 1)**2) + mean(D(fake)**2)``."""
    return multiscale_lsgan(net(real), True) + multiscale_lsgan(net(fake), False)


def unit_losses(nets, spec: Mode, w: dict, a, b) -> dict:
    """UNIT's generator(-and-R) losses of one batch, weighted."""
    ae_a, ae_b = nets["autoencoder_a"], nets["autoencoder_b"]
    noisy = lambda h: h + torch.randn_like(h)  # noqa: E731 - the VAE's sample, std 1
    h_a, h_b = ae_a.encode(a), ae_b.encode(b)
    z_a, z_b = noisy(h_a), noisy(h_b)
    fake_b = ae_b.decode(z_a)  # x_ab
    losses = {"g_adv": w["adversarial"] * multiscale_lsgan(nets["discriminator"](fake_b), True)}
    h_a_cycle = ae_b.encode(fake_b)
    cycle, kl_cycle = l1(ae_a.decode(noisy(h_a_cycle)), a), kl(h_a_cycle)
    if spec.cycle:
        fake_a = ae_a.decode(z_b)  # x_ba
        losses["g_adv_reverse"] = w["adversarial"] * multiscale_lsgan(nets["discriminator_reverse"](fake_a), True)
        h_b_cycle = ae_a.encode(fake_a)
        cycle = cycle + l1(ae_b.decode(noisy(h_b_cycle)), b)
        kl_cycle = kl_cycle + kl(h_b_cycle)
    losses["reconstruction"] = w["reconstruction"] * (l1(ae_a.decode(z_a), a) + l1(ae_b.decode(z_b), b))
    losses["kl"] = w["kl"] * (kl(h_a) + kl(h_b))
    losses["cycle"] = w["cycle"] * cycle
    losses["kl_cycle"] = w["kl"] * kl_cycle
    if spec.registration:
        losses.update(registration_losses(nets["registration"], w, fake_b, b))
    return losses


def unit_fakes(nets, spec: Mode, a, b) -> dict:
    """Fresh fakes for the discriminators (after the generator update): x_ab, and x_ba with C."""
    noisy = lambda h: h + torch.randn_like(h)  # noqa: E731
    fakes = {"discriminator": nets["autoencoder_b"].decode(noisy(nets["autoencoder_a"].encode(a)))}
    if spec.cycle:
        fakes["discriminator_reverse"] = nets["autoencoder_a"].decode(noisy(nets["autoencoder_b"].encode(b)))
    return fakes


def munit_styles(nets, a, b) -> tuple[torch.Tensor, torch.Tensor]:
    """Random styles of A and B for one batch, N(0, I) as in MUNIT's training."""
    dim = nets["autoencoder_a"].style_dim
    return torch.randn(len(a), dim, device=a.device), torch.randn(len(b), dim, device=b.device)


def munit_losses(nets, spec: Mode, w: dict, a, b, styles) -> dict:
    """MUNIT's generator(-and-R) losses of one batch, weighted; ``styles`` = (s_a, s_b)."""
    ae_a, ae_b = nets["autoencoder_a"], nets["autoencoder_b"]
    s_a, s_b = styles
    c_a, s_a_own = ae_a.encode(a)
    c_b, s_b_own = ae_b.encode(b)
    fake_b = ae_b.decode(c_a, s_b)  # x_ab
    fake_a = ae_a.decode(c_b, s_a)  # x_ba
    adversarial = w["cycle"] if spec.registration and not spec.cycle else w["adversarial"]
    losses = {"g_adv": adversarial * multiscale_lsgan(nets["discriminator"](fake_b), True)}
    if spec.cycle:
        losses["g_adv_reverse"] = w["adversarial"] * multiscale_lsgan(nets["discriminator_reverse"](fake_a), True)
    c_b_again, s_a_again = ae_a.encode(fake_a)
    c_a_again, s_b_again = ae_b.encode(fake_b)
    losses["reconstruction"] = w["reconstruction"] * (l1(ae_a.decode(c_a, s_a_own), a) + l1(ae_b.decode(c_b, s_b_own), b))
    style, content = l1(s_a_again, s_a), l1(c_a_again, c_a)
    if spec.cycle:
        style, content = style + l1(s_b_again, s_b), content + l1(c_b_again, c_b)
    losses["style"] = w["style"] * style
    losses["content"] = w["content"] * content
    if spec.registration:
        losses.update(registration_losses(nets["registration"], w, fake_b, b))
    return losses


def munit_fakes(nets, spec: Mode, a, b, styles) -> dict:
    """Fresh fakes for the discriminators with the step's styles: x_ab, and x_ba with C."""
    s_a, s_b = styles
    fakes = {"discriminator": nets["autoencoder_b"].decode(nets["autoencoder_a"].encode(a)[0], s_b)}
    if spec.cycle:
        fakes["discriminator_reverse"] = nets["autoencoder_a"].decode(nets["autoencoder_b"].encode(b)[0], s_a)
    return fakes


def autoencoder_step(nets, spec: Mode, w: dict, a, b, opt_g, opt_d, buffers, device) -> dict:
    """One UNIT or MUNIT iteration (``spec.family``); the signature of
    :func:`radsynth.translation.step.train_step` (``buffers`` unused: no replay here)."""
    d_names = [n for n in ("discriminator", "discriminator_reverse") if n in nets]
    discriminators = [nets[n] for n in d_names]
    munit = spec.family == "munit"
    styles = munit_styles(nets, a, b) if munit else None
    losses, total, _ = update_generators(
        opt_g, discriminators, device,
        lambda: (munit_losses(nets, spec, w, a, b, styles) if munit else unit_losses(nets, spec, w, a, b),))

    opt_d.zero_grad(set_to_none=True)
    with autocast(device):
        with torch.no_grad():
            fakes = munit_fakes(nets, spec, a, b, styles) if munit else unit_fakes(nets, spec, a, b)
        reals = {"discriminator": b, "discriminator_reverse": a}
        d_losses = {
            n.replace("discriminator", "d"): w["adversarial"] * multiscale_d_loss(nets[n], reals[n], fakes[n])
            for n in d_names
        }
    sum(d_losses.values()).backward()
    opt_d.step()
    return {**losses, "g_total": total, **d_losses}
