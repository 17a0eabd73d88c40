"""The official RegGAN registration network (ResUnet "A") and the choice of R by name."""

import pytest
import torch
import torch.nn.functional as F

from radsynth.translation.modes import architecture_for, parameter_counts
from radsynth.translation.registration import RegistrationNet, build_registration
from radsynth.translation.resunet import ResUnetRegistration, minimum_size


def count(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def official_count_by_hand(image_channels: int = 1) -> int:
    """The layer list of trainer/reg.py (cfg "A") and trainer/layers.py, counted by formula:
    a k x k conv has k*k*c_in*c_out weights + c_out biases; a residual block two 3x3 convs
    (InstanceNorm without affine parameters)."""

    def conv(k, c_in, c_out):
        return k * k * c_in * c_out + c_out

    def res(c):
        return 2 * conv(3, c, c)

    down = [32, 64, 64, 64, 64, 64, 64]
    up = [64, 64, 64, 64, 64, 64, 32]  # deepest first; each up conv also reads its skip
    total, width = 0, 2 * image_channels
    for c in down:  # conv3x3 + one residual block per level
        total += conv(3, width, c) + res(c)
        width = c
    total += conv(1, 64, 128) + 3 * res(128) + conv(1, 128, 64)  # bottleneck
    for c, skip in zip(up, reversed(down)):
        total += conv(3, width + skip, c)
        width = c
    total += res(32) + conv(1, 32, 32)  # refine
    return total + conv(3, 32, 2)  # the field


def test_official_parameter_count_at_256_and_a_near_zero_field():
    assert official_count_by_hand() == 2_058_018
    torch.manual_seed(0)
    net = ResUnetRegistration()
    assert count(net) == official_count_by_hand()
    with torch.no_grad():
        field = net(torch.rand(1, 1, 256, 256) * 2 - 1, torch.rand(1, 1, 256, 256) * 2 - 1)
    assert field.shape == (1, 2, 256, 256)
    # Output conv drawn with std 1e-5 and a zero bias: R starts at the identity.
    assert 0 < field.abs().max() < 1e-2
    assert net.flow.weight.std().item() == pytest.approx(1e-5, rel=0.2)
    assert not net.flow.bias.any()
    # The mode table counts the same R (the official C+R and NC+R sizes).
    arch = architecture_for("nc_r", 2, 1, 1, registration={"network": "resunet"})
    assert parameter_counts(arch)["registration"] == 2_058_018


def test_small_images_are_padded_with_background_to_the_minimum_size():
    # Seven poolings leave a 2-pixel bottleneck only from 256 pixels on: a 32-pixel pair is
    # padded with -1 to 256 and the field cropped back, the same as padding it by hand.
    assert minimum_size(7) == 256
    torch.manual_seed(0)
    net = ResUnetRegistration(channels=[4] * 7)
    torch.nn.init.normal_(net.flow.weight, std=0.1)  # a visible field for the comparison
    moving, fixed = torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        field = net(moving, fixed)
        padded = net(F.pad(moving, (0, 224, 0, 224), value=-1.0), F.pad(fixed, (0, 224, 0, 224), value=-1.0))
    assert field.shape == (2, 2, 32, 32)
    assert torch.allclose(field, padded[..., :32, :32], atol=1e-6)


@pytest.mark.parametrize("shape", [(16, 20), (19, 16), (8, 8, 8)])
def test_forward_and_backward_on_a_tiny_input(shape):
    torch.manual_seed(0)
    net = ResUnetRegistration(spatial_dims=len(shape), channels=[4, 8, 8])
    moving, fixed = torch.rand(2, 1, *shape), torch.rand(2, 1, *shape)
    field = net(moving, fixed)
    assert field.shape == (2, len(shape), *shape)
    (field - 1.0).square().mean().backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert net.flow.weight.grad.abs().sum() > 0


def test_registration_network_by_name():
    assert isinstance(build_registration(channels=[4, 8]), RegistrationNet)
    assert isinstance(build_registration("resunet", channels=[4, 8]), ResUnetRegistration)
    with pytest.raises(ValueError, match="unknown registration network 'voxelmorph'"):
        build_registration("voxelmorph")
