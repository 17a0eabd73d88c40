"""Building blocks of the UNIT, MUNIT and NICE-GAN baselines of RegGAN's table 1, in 2D or 3D.

Written from the papers and the official RegGAN code's layer lists (Kid-Liet/Reg-GAN,
``Model/Unit.py``, ``Model/Munit.py``, ``Model/NiceGan.py``), not copied. Convolutions,
instance norm and pooling come from MONAI's layer factories (``Conv``, ``Norm``, ``Pool``) so
that one class serves both dimensionalities; the normalisations none of the libraries has
(UNIT's layer norm with per-channel affine, AdaIN fed by a style, NICE-GAN's ILN and AdaILN)
are written here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from monai.networks.layers.factories import Conv, Norm
from torch import nn

PADS = {
    "reflect": {1: nn.ReflectionPad1d, 2: nn.ReflectionPad2d, 3: nn.ReflectionPad3d},
    "replicate": {1: nn.ReplicationPad1d, 2: nn.ReplicationPad2d, 3: nn.ReplicationPad3d},
    "zero": {1: nn.ZeroPad1d, 2: nn.ZeroPad2d, 3: nn.ZeroPad3d},
}


def pad_layer(spatial_dims: int, mode: str, size: int) -> nn.Module:
    """``size`` pixels of ``mode`` padding ("reflect", "replicate" or "zero") on every side."""
    if mode not in PADS:
        raise ValueError(f"unknown padding {mode!r}; expected one of {sorted(PADS)}")
    return PADS[mode][spatial_dims](size)


def activation(name: str | None) -> nn.Module | None:
    """"relu", "lrelu" (slope 0.2, as every one of these models), "tanh" or None."""
    return {"relu": nn.ReLU(), "lrelu": nn.LeakyReLU(0.2), "tanh": nn.Tanh(), None: None}[name]


def conv(spatial_dims: int, in_channels: int, out_channels: int, kernel: int, stride: int = 1, bias: bool = True,
         spectral: bool = False) -> nn.Module:
    """An unpadded convolution (MONAI ``Conv`` factory), spectrally normalised on request."""
    layer = Conv[Conv.CONV, spatial_dims](in_channels, out_channels, kernel, stride=stride, bias=bias)
    return nn.utils.parametrizations.spectral_norm(layer) if spectral else layer


class ConvBlock(nn.Sequential):
    """Pad, convolve, normalise, activate: the official ``Conv2dBlock`` in any dimension.

    Args:
        spatial_dims: 2 or 3.
        in_channels, out_channels: channels.
        kernel, stride, padding: the convolution's; the padding is a separate layer.
        pad: padding mode ("reflect", "replicate", "zero").
        norm: "instance" (no affine), "layer" (:class:`LayerNorm`) or None.
        act: "relu", "lrelu", "tanh" or None.
        bias: the convolution's bias.
        spectral: spectral normalisation of the convolution (NICE-GAN).
    """

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int, kernel: int, stride: int = 1,
                 padding: int = 0, pad: str = "reflect", norm: str | None = None, act: str | None = None,
                 bias: bool = True, spectral: bool = False):
        layers: list[nn.Module] = [pad_layer(spatial_dims, pad, padding)] if padding else []
        layers.append(conv(spatial_dims, in_channels, out_channels, kernel, stride, bias, spectral))
        if norm == "instance":
            layers.append(Norm[Norm.INSTANCE, spatial_dims](out_channels))
        elif norm == "layer":
            layers.append(LayerNorm(out_channels))
        elif norm is not None:
            raise ValueError(f"unknown norm {norm!r}; expected 'instance', 'layer' or None")
        if act is not None:
            layers.append(activation(act))
        super().__init__(*layers)


class LayerNorm(nn.Module):
    """UNIT/MUNIT's layer norm: each sample standardised over channels and space together
    (unbiased std, ``eps`` added to the std), then a per-channel scale and shift.

    Hand-written: ``nn.LayerNorm`` over (C, *spatial) would need an affine per element and a
    fixed spatial size. The scale starts uniform in [0, 1), the shift at 0, as the original's.

    Args:
        channels: channels of the input.
        eps: added to the standard deviation.
    """

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.empty(channels).uniform_())
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        shape = (-1,) + (1,) * (x.dim() - 1)
        x = (x - flat.mean(1).view(shape)) / (flat.std(1).view(shape) + self.eps)
        affine = (1, -1) + (1,) * (x.dim() - 2)
        return x * self.gamma.view(affine) + self.beta.view(affine)


def adain(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Adaptive instance norm: instance-normalise (biased variance) then ``* scale + shift``,
    both (B, C) from a style (MUNIT)."""
    affine = shift.shape + (1,) * (x.dim() - 2)
    return F.instance_norm(x, eps=eps) * scale.reshape(affine) + shift.reshape(affine)


class ResBlock(nn.Module):
    """``x + (pad-conv3-norm-ReLU-pad-conv3-norm)(x)`` with instance norm or AdaIN.

    With ``norm="adain"`` the forward takes the block's 4·C AdaIN parameters, in the order
    the original's MLP output is read: (shift, scale) of the first norm, then of the second.

    Args:
        spatial_dims: 2 or 3.
        channels: width.
        norm: "instance" or "adain".
        pad: padding mode.
    """

    def __init__(self, spatial_dims: int, channels: int, norm: str = "instance", pad: str = "reflect"):
        super().__init__()
        if norm not in ("instance", "adain"):
            raise ValueError(f"residual block norm must be 'instance' or 'adain', got {norm!r}")
        inner = "instance" if norm == "instance" else None
        self.adain, self.channels = norm == "adain", channels
        self.conv1 = ConvBlock(spatial_dims, channels, channels, 3, padding=1, pad=pad, norm=inner)
        self.conv2 = ConvBlock(spatial_dims, channels, channels, 3, padding=1, pad=pad, norm=inner)

    def forward(self, x: torch.Tensor, params: torch.Tensor | None = None) -> torch.Tensor:
        y = self.conv1(x)
        if self.adain:
            c = self.channels
            y = adain(y, params[:, :c], params[:, c : 2 * c])
        y = self.conv2(F.relu(y))
        if self.adain:
            y = adain(y, params[:, 2 * c : 3 * c], params[:, 3 * c :])
        return x + y


def _mixed_norm(x: torch.Tensor, rho: torch.Tensor, eps: float) -> torch.Tensor:
    """x standardised per channel over space (instance) and per sample over all (layer), with
    unbiased variances as in NICE-GAN's ``ILN``/``adaILN``, mixed by ``softmax(rho)`` per channel."""
    spatial, every = tuple(range(2, x.dim())), tuple(range(1, x.dim()))
    out_in = (x - x.mean(spatial, keepdim=True)) / torch.sqrt(x.var(spatial, keepdim=True) + eps)
    out_ln = (x - x.mean(every, keepdim=True)) / torch.sqrt(x.var(every, keepdim=True) + eps)
    shape = (1, -1) + (1,) * (x.dim() - 2)
    weights = torch.softmax(rho, 2)
    return weights[..., 0].view(shape) * out_in + weights[..., 1].view(shape) * out_ln


class ILN(nn.Module):
    """NICE-GAN's instance-layer norm: ``softmax(rho)``-weighted instance and layer norms,
    then a learnt per-channel scale (1) and shift (0); ``rho`` starts at (1, 3.2).

    Args:
        channels: width.
        eps: added to the variances.
    """

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.rho = nn.Parameter(torch.tensor([1.0, 3.2]).repeat(1, channels, 1))
        self.gamma = nn.Parameter(torch.ones(1, channels))
        self.beta = nn.Parameter(torch.zeros(1, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return _mixed_norm(x, self.rho, self.eps) * self.gamma.view(shape) + self.beta.view(shape)


class AdaILN(nn.Module):
    """NICE-GAN's adaptive ILN: as :class:`ILN` (``rho`` starts at (3.2, 1)) with the scale
    and shift, (B, C), given by the generator's bottleneck MLP.

    Args:
        channels: width.
        eps: added to the variances.
    """

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.rho = nn.Parameter(torch.tensor([3.2, 1.0]).repeat(1, channels, 1))

    def forward(self, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        affine = gamma.shape + (1,) * (x.dim() - 2)
        return _mixed_norm(x, self.rho, self.eps) * gamma.reshape(affine) + beta.reshape(affine)
