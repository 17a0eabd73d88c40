"""DDIM encoding and guided decoding against answers known in closed form: an oracle noise
predictor for a fixed clean image, and a hand-made linear classifier whose gradient is known."""

import pytest
import torch
from torch import nn

from radsynth.anomaly.ddim import classifier_gradient, ddim_decode, ddim_encode, encode_timesteps
from radsynth.synthesis.networks import ddpm_scheduler, scheduler_config

AB = ddpm_scheduler(scheduler_config(1000, "linear_beta")).alphas_cumprod
PATCH = (slice(4, 12), slice(4, 12))  # the 8 x 8 "lesion" region of a 16 x 16 slice


def clean(seed=0, shape=(2, 1, 16, 16)):
    """A clean image inside [-1, 1] (so clipping x0 changes nothing)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=generator) * 1.8 - 0.9


def oracle(x0, shift=0):
    """The noise that puts x0 at x: eps = (x - sqrt(a_t) x0) / sqrt(1 - a_t); ``shift`` plants
    a fault (the predictor is told timestep t + shift)."""

    def predict(x, t):
        a = AB[(t + shift).clamp(max=999)].view(-1, 1, 1, 1)
        return (x - a.sqrt() * x0) / (1 - a).sqrt()

    return predict


@pytest.mark.parametrize("steps, level", [(1000, 500), (25, 500), (50, 250), (10, 1000)])
def test_encode_then_decode_gives_back_the_image(steps, level):
    x0 = clean()
    timesteps = encode_timesteps(1000, steps, level)
    encoded = ddim_encode(oracle(x0), x0, timesteps, AB)
    assert (ddim_decode(oracle(x0), encoded, timesteps, AB) - x0).abs().max() < 1e-4


@pytest.mark.parametrize("steps, level", [(1000, 500), (25, 500), (50, 250)])
def test_encoding_lands_on_the_last_timestep(steps, level):
    # The first model call sees the clean image at t = 0, so the oracle's answer there is
    # eps_0 = (x0 - sqrt(a_0) x0) / sqrt(1 - a_0); every later call gives back the same eps_0.
    x0 = clean(1)
    timesteps = encode_timesteps(1000, steps, level)
    last = timesteps[-1]
    a0, a = AB[0].double(), AB[last].double()
    eps0 = (x0.double() - a0.sqrt() * x0.double()) / (1 - a0).sqrt()
    expected = a.sqrt() * x0.double() + (1 - a).sqrt() * eps0
    encoded = ddim_encode(oracle(x0), x0, timesteps, AB)
    assert (encoded.double() - expected).abs().max() < 1e-5
    assert last < level <= last + 1000 // steps  # the last grid timestep below L


def test_a_predictor_told_the_wrong_timestep_fails_these_checks():
    # A sampler that tells the model t + stride (as MONAI's misaligned DDIM grid does) misses
    # the clean image by far more than the 1e-4 of the round trip, and the encoding misses
    # its noise level.
    x0 = clean()
    steps, level = 25, 500
    timesteps = encode_timesteps(1000, steps, level)
    right, wrong = oracle(x0), oracle(x0, shift=1000 // steps)
    encoded = ddim_encode(right, x0, timesteps, AB)
    assert (ddim_decode(wrong, encoded, timesteps, AB) - x0).abs().max() > 1e-2
    assert (ddim_decode(wrong, ddim_encode(wrong, x0, timesteps, AB), timesteps, AB) - x0).abs().max() > 1e-3
    assert (ddim_encode(wrong, x0, timesteps, AB) - encoded).abs().max() > 0.1


def test_encode_timesteps_by_hand():
    for T, steps, level in [(1000, 1000, 500), (1000, 25, 500), (1000, 50, 250), (1000, 30, 100), (1000, 10, 1000)]:
        stride = T // steps
        expected = sorted(stride * (k + 1) - 1 for k in range(steps) if stride * (k + 1) - 1 < level)
        assert encode_timesteps(T, steps, level) == expected
    assert encode_timesteps(1000, 25, 500) == [39, 79, 119, 159, 199, 239, 279, 319, 359, 399, 439, 479]
    assert encode_timesteps(1000, 1000, 3) == [0, 1, 2]
    assert encode_timesteps(1000, 10, 300) == [99, 199, 299]


def test_encode_timesteps_below_the_first_grid_timestep():
    with pytest.raises(ValueError, match=r"noise level 20 must exceed the first DDIM timestep 39 \(stride 40\)"):
        encode_timesteps(1000, 25, 20)
    with pytest.raises(ValueError, match="first DDIM timestep 39"):
        encode_timesteps(1000, 25, 39)  # t < L: L = 39 keeps nothing
    assert encode_timesteps(1000, 25, 40) == [39]
    with pytest.raises(ValueError, match="noise level 0 must exceed the first DDIM timestep 0"):
        encode_timesteps(1000, 1000, 0)


class PatchClassifier(nn.Module):
    """Logits [healthy, lesion] = [0, a (mean of the patch + offset)]: a bright patch reads as
    lesion."""

    def __init__(self, a=4.0, offset=0.0):
        super().__init__()
        self.a, self.offset = a, offset

    def forward(self, x, t):
        lesion = self.a * (x[:, :, PATCH[0], PATCH[1]].mean(dim=(1, 2, 3)) + self.offset)
        return torch.stack([torch.zeros_like(lesion), lesion], dim=1)


def test_classifier_gradient_by_hand():
    # log p(healthy) = -log(1 + exp(a m)), m the patch mean: d/dx = -sigmoid(a m) a / 64 on
    # the patch, 0 elsewhere (it points towards healthy: the patch darkens).
    a, scale = 4.0, 3.0
    x = clean(2)
    m = x[:, :, PATCH[0], PATCH[1]].mean(dim=(1, 2, 3))
    expected = torch.zeros_like(x)
    expected[:, :, PATCH[0], PATCH[1]] = (-scale * torch.sigmoid(a * m) * a / 64).view(-1, 1, 1, 1)
    gradient = classifier_gradient(PatchClassifier(a), scale)(x, torch.zeros(len(x), dtype=torch.long))
    assert torch.allclose(gradient, expected, atol=1e-6)
    assert (gradient[:, :, PATCH[0], PATCH[1]] < 0).all()


def shrinking_predictor(variance=0.3):
    """The exact noise predictor of N(0, variance) data (remembers no image)."""

    def predict(x, t):
        a = AB[t].view(-1, 1, 1, 1)
        return (1 - a).sqrt() * x / (a * variance + 1 - a)

    return predict


@pytest.mark.parametrize("predictor", ["oracle", "shrinking"])
def test_guidance_raises_p_healthy(predictor):
    image = torch.full((1, 1, 16, 16), -0.5)
    image[:, :, PATCH[0], PATCH[1]] = 0.8  # the bright lesion
    predict = oracle(image) if predictor == "oracle" else shrinking_predictor()
    timesteps = encode_timesteps(1000, 25, 500)
    encoded = ddim_encode(predict, image, timesteps, AB)
    clf = PatchClassifier(4.0)
    plain = ddim_decode(predict, encoded, timesteps, AB)
    guided = ddim_decode(predict, encoded, timesteps, AB, gradient=classifier_gradient(clf, 20.0))
    t0 = torch.zeros(1, dtype=torch.long)
    p_plain, p_guided = (torch.softmax(clf(x, t0), -1)[0, 0].item() for x in (plain, guided))
    assert p_guided > p_plain
    patch_plain, patch_guided = (x[:, :, PATCH[0], PATCH[1]].mean().item() for x in (plain, guided))
    assert patch_guided < patch_plain
    # outside the patch the classifier has no gradient; the guided and plain decodes differ there
    # only through the predictor (the oracle ignores x0 estimates, so it gives the same pixels)
    if predictor == "oracle":
        outside = torch.ones(16, 16, dtype=torch.bool)
        outside[PATCH] = False
        assert torch.allclose(plain[..., outside], guided[..., outside], atol=1e-5)


def test_the_guided_clean_estimate_is_not_clipped_again():
    # As the official condition_score: x0 is clipped before guidance shifts eps, not after, so
    # strong guidance can push the result below -1 (a clipped one would stop at -1). The zero
    # predictor decodes back to the image, and the offset keeps the lesion logit positive, so
    # the gradient does not fade as the patch darkens.
    image = torch.full((1, 1, 16, 16), -0.5)
    image[:, :, PATCH[0], PATCH[1]] = 0.8
    zero = lambda x, t: torch.zeros_like(x)  # noqa: E731
    timesteps = encode_timesteps(1000, 25, 200)
    encoded = ddim_encode(zero, image, timesteps, AB)
    assert (ddim_decode(zero, encoded, timesteps, AB) - image).abs().max() < 1e-5
    guided = ddim_decode(zero, encoded, timesteps, AB, gradient=classifier_gradient(PatchClassifier(4.0, 3.0), 1000.0))
    assert guided[:, :, PATCH[0], PATCH[1]].max() < -1.2


def test_decoding_clips_the_clean_estimate():
    # With a zero noise prediction every x0 estimate is x / sqrt(a): a start at sqrt(a_L) c
    # decodes to c without clipping and to c clamped to [-1, 1] with it.
    zero = lambda x, t: torch.zeros_like(x)  # noqa: E731
    timesteps = encode_timesteps(1000, 25, 500)
    c = torch.tensor([-1.6, -0.4, 0.7, 1.3]).view(4, 1, 1, 1).expand(4, 1, 4, 4)
    start = AB[timesteps[-1]].sqrt() * c
    assert torch.allclose(ddim_decode(zero, start, timesteps, AB, clip=False), c, atol=1e-5)
    assert torch.allclose(ddim_decode(zero, start, timesteps, AB), c.clamp(-1, 1), atol=1e-5)
