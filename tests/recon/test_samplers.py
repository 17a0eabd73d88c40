"""Both samplers with an oracle noise predictor (one known slice, so the optimal prediction is
exact): they must return that slice, and every draw must carry the measurement exactly."""

import numpy as np
import pytest
import torch

from radsynth.recon import diffuserecon, mcddpm
from radsynth.recon.chain import RespacedChain, cosine_alphas_cumprod
from radsynth.recon.kspace import fft2, ifft2, masks_for, simulate_complex, zero_filled


@pytest.fixture
def slice_and_mask():
    image = torch.as_tensor(simulate_complex(np.random.default_rng(0).random((1, 32, 32)), np.array([3])))
    mask = masks_for(1, 32, 4, [5])
    return image, mask, *zero_filled(image, mask)


class KspaceOracle(torch.nn.Module):
    """MC-DDPM's optimal network for data holding one slice: from [IFFT(x_t + k_zf), IFFT(k_zf)]
    it recovers x_t and returns the image whose k-space is the exact noise."""

    def __init__(self, kspace, mask, abar):
        super().__init__()
        self.target, self.abar = kspace * (1 - mask), abar

    def forward(self, inputs, t):
        x_t = fft2(inputs[:, :2]) - fft2(inputs[:, 2:])
        a = self.abar[t].reshape(-1, 1, 1, 1).float()
        return ifft2((x_t - a.sqrt() * self.target) / (mcddpm.NOISE_SCALE * (1 - a).sqrt()))


class ImageOracle(torch.nn.Module):
    def __init__(self, image, abar):
        super().__init__()
        self.image, self.abar = image, abar

    def forward(self, x, t):
        a = self.abar[t].reshape(-1, 1, 1, 1).float()
        return (x - a.sqrt() * self.image) / (1 - a).sqrt()


def test_mcddpm_with_the_oracle_recovers_the_slice_and_keeps_the_measurement(slice_and_mask):
    image, mask, measured, _ = slice_and_mask
    abar = cosine_alphas_cumprod(1000)
    chain = RespacedChain(abar, 25, mcddpm.NOISE_SCALE)
    draws = mcddpm.sample(KspaceOracle(fft2(image), mask, abar), measured, mask, chain, 3, torch.Generator().manual_seed(0))
    assert draws.shape == (1, 3, 2, 32, 32)
    for draw in draws[0]:
        assert torch.allclose(fft2(draw[None]) * mask, measured, atol=1e-5)  # data consistency
        assert torch.allclose(draw, image[0], atol=1e-4)


def test_mcddpm_noise_never_touches_the_measured_columns(slice_and_mask):
    image, mask, measured, _ = slice_and_mask

    class Wrong(torch.nn.Module):  # an untrained network: draws are wrong, but still consistent
        def forward(self, inputs, t):
            return torch.sin(inputs[:, :2] * 3)

    draws = mcddpm.sample(Wrong(), measured, mask, RespacedChain(cosine_alphas_cumprod(100), 5, 0.5), 2,
                          torch.Generator().manual_seed(1))
    kspace = fft2(draws[0])
    # float32 round trips, on k-space values that a wrong network drives far from the data
    assert float((kspace * mask - measured).abs().max()) <= 1e-5 * float(kspace.abs().max())
    assert not torch.allclose(draws[0, 0], image[0], atol=1e-2)


def test_mcddpm_training_loss_of_the_oracle_is_zero(slice_and_mask):
    image, mask, _, _ = slice_and_mask
    abar = cosine_alphas_cumprod(1000)
    kspace = fft2(image)
    loss = mcddpm.training_loss(KspaceOracle(kspace, mask, abar), kspace, mask, abar.float(), torch.Generator().manual_seed(0))
    assert float(loss) < 1e-8


def test_diffuserecon_with_the_oracle_recovers_the_slice(slice_and_mask):
    image, mask, measured, _ = slice_and_mask
    image, measured = image / 2, measured / 2  # inside the clipping range [-1, 1]
    abar = cosine_alphas_cumprod(4000)
    oracle = ImageOracle(image, abar)
    draws = diffuserecon.coarse(oracle, measured, mask, RespacedChain(abar, 20), 3, torch.Generator().manual_seed(0))
    assert torch.allclose(draws[0], image.expand(3, -1, -1, -1), atol=1e-4)
    start = draws.mean(1) + 0.05 * torch.randn(1, 2, 32, 32)  # a coarse average that is off
    fine = diffuserecon.refine(oracle, start, measured, mask, RespacedChain(abar, 500), 20)
    assert torch.allclose(fine, image, atol=1e-4)


def test_diffuserecon_ends_on_the_measurement_whatever_the_network(slice_and_mask):
    _, mask, measured, image_zf = slice_and_mask

    class Wrong(torch.nn.Module):
        def forward(self, x, t):
            return torch.cos(x)

    abar = cosine_alphas_cumprod(400)
    draws = diffuserecon.coarse(Wrong(), measured, mask, RespacedChain(abar, 5), 2, torch.Generator().manual_seed(0))
    assert torch.allclose(fft2(draws[0]) * mask, measured.expand(2, -1, -1, -1), atol=1e-4)
    fine = diffuserecon.refine(Wrong(), image_zf + 1, measured, mask, RespacedChain(abar, 50), 5)
    assert torch.allclose(fft2(fine) * mask, measured, atol=1e-4)
    with pytest.raises(ValueError, match="refine steps 60 exceed the refining chain's 50"):
        diffuserecon.refine(Wrong(), image_zf, measured, mask, RespacedChain(abar, 50), 60)
