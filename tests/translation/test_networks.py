"""Generator, discriminator and registration network of the translation stage."""

import numpy as np
import pytest
import torch

from radsynth.translation.networks import PatchGAN, ResnetGenerator
from radsynth.translation.registration import RegistrationNet, warp_image
from radsynth.translation.step import lsgan


def count(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def test_paper_sizes_match_the_official_networks():
    # Parameter counts of the official RegGAN Generator(1, 1) and Discriminator(1).
    assert count(ResnetGenerator()) == 11_365_633
    assert count(PatchGAN()) == 2_762_689


@pytest.mark.parametrize("shape", [(32, 32), (30, 34), (12, 16, 10)])
def test_generator_keeps_shape_and_range(shape):
    torch.manual_seed(0)
    net = ResnetGenerator(spatial_dims=len(shape), filters=4, residual_blocks=1)
    out = net(torch.rand(2, 1, *shape) * 2 - 1)
    assert out.shape == (2, 1, *shape)
    assert out.abs().max() <= 1


def test_generator_sizes_follow_arguments():
    small, large = ResnetGenerator(filters=4, residual_blocks=1), ResnetGenerator(filters=8, residual_blocks=2)
    assert count(small) < count(large)
    # Each residual block holds two 3x3 convs at 4 * filters channels.
    assert count(ResnetGenerator(filters=4, residual_blocks=2)) - count(small) == 2 * (16 * 16 * 9 + 16)


def test_patchgan_outputs_one_patch_map():
    out = PatchGAN(in_channels=2, filters=8, layers=3)(torch.zeros(3, 2, 64, 64))
    assert out.shape == (3, 1, 6, 6)  # 64 -> 32 -> 16 -> 8 -> 7 -> 6
    assert PatchGAN(spatial_dims=3, filters=2, layers=2)(torch.zeros(1, 1, 16, 16, 16)).shape == (1, 1, 2, 2, 2)


def test_pooled_discriminator_is_scored_on_its_mean_map():
    # Official RegGAN: D's map is averaged to one score per image before the LSGAN loss, so
    # the loss is mean_n (mean(map_n) - 1)**2, not mean((map - 1)**2) over every patch.
    torch.manual_seed(0)
    patches = PatchGAN(in_channels=1, filters=4, layers=2)
    pooled = PatchGAN(in_channels=1, filters=4, layers=2, pool=True)
    pooled.load_state_dict(patches.state_dict())
    x = torch.randn(3, 1, 32, 32)
    maps = patches(x).detach().double().numpy()
    by_hand = np.mean([(m.mean() - 1.0) ** 2 for m in maps])
    per_patch = np.mean((maps - 1.0) ** 2)
    scores = pooled(x)
    assert scores.shape == (3, 1)
    assert lsgan(scores, True).item() == pytest.approx(by_hand, rel=1e-5)
    assert lsgan(patches(x), True).item() == pytest.approx(per_patch, rel=1e-5)
    assert abs(by_hand - per_patch) > 1e-3  # the two conventions differ on this input
    assert lsgan(scores, False).item() == pytest.approx(np.mean([m.mean() ** 2 for m in maps]), rel=1e-5)


@pytest.mark.parametrize("shape", [(32, 32), (30, 36), (12, 16, 8)])
def test_registration_starts_at_identity(shape):
    torch.manual_seed(0)
    net = RegistrationNet(spatial_dims=len(shape), channels=(4, 8, 8))
    moving, fixed = torch.rand(2, 1, *shape) * 2 - 1, torch.rand(2, 1, *shape) * 2 - 1
    field = net(moving, fixed)
    assert field.shape == (2, len(shape), *shape)
    assert field.abs().max() < 1e-2
    assert torch.allclose(warp_image(moving, field), moving, atol=1e-2)
    assert net.flow.bias.abs().max() == 0 and 0 < net.flow.weight.std() < 1e-4


def test_warp_image_follows_the_field_convention_and_keeps_background():
    image = -np.ones((16, 16), np.float32)
    image[4:12, 6:10] = np.linspace(0, 1, 32, dtype=np.float32).reshape(8, 4)
    field = torch.zeros(1, 2, 16, 16)
    field[:, 0] = 3.0  # warped(p) = image(p + field(p)): content moves 3 pixels up axis 0
    warped = warp_image(torch.from_numpy(image)[None, None], field)[0, 0].numpy()
    expected = -np.ones_like(image)
    expected[:13] = image[3:]
    np.testing.assert_allclose(warped, expected, atol=1e-6)
    # Pulling everything from outside the image gives background, not zeros.
    outside = warp_image(torch.zeros(1, 1, 8, 8), torch.full((1, 2, 8, 8), 50.0))
    assert torch.all(outside == -1)


def test_warp_image_in_3d():
    image = -torch.ones(1, 1, 8, 8, 8)
    image[..., 2:5, 2:5, 2:5] = 1
    field = torch.zeros(1, 3, 8, 8, 8)
    field[:, 2] = -2.0
    warped = warp_image(image, field)
    assert torch.equal(warped[..., 4:7], image[..., 2:5]) and torch.all(warped[..., :2] == -1)
