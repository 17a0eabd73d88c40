"""The light V-Net of UA-MT and DTC (Yu et al. 2019, Luo et al. AAAI 2021), as a backbone.

Why hand-written: MONAI's ``VNet`` is Milletari's original V-Net (5^3 kernels, residual
stages, skips concatenated into the decoder), about 45.6 M parameters in 3D. The V-Net that
UA-MT (``code/networks/vnet.py``) and DTC (``code/networks/vnet_sdf.py``) train and report is
much lighter: 9.45 M with DTC's two output convolutions, about 1/4.8 of it, and the DTC
comparison needs that one.

What follows DTC exactly (``normalization='batchnorm'``, ``n_filters=16``):

* encoder stages of 1/2/3/3/3 plain (not residual) conv-BN-ReLU layers, 3^d kernels with
  padding 1 and a bias, at widths f, 2f, 4f, 8f, 16f;
* between them stride-2, 2^d convolutions (+ BN + ReLU) doubling the width;
* a decoder of stride-2, 2^d transposed convolutions (+ BN + ReLU) halving the width, the
  skip ADDED to the upsampled map (``x5_up = up(x5) + x4``), then stages of 3/3/2/1 layers;
* dropout of rate ``dropout`` (DTC: 0.5, ``has_dropout=True``) on the deepest encoder output
  x5 and on the last decoder output x9, before the output convolutions;
* the module names (``block_one`` ... ``block_nine``, ``block_*_dw``, ``block_*_up``, each
  holding a ``conv`` Sequential with the same layer indices), so a DTC checkpoint's weights
  load into ``DualHeadNet.backbone`` unrenamed (its ``out_conv``/``out_conv2`` are the
  ``seg_head``/``sdf_head``).

What does not: the backbone stops at ``block_nine`` (DTC's two 1x1 output convolutions are
:class:`~radsynth.segmentation.networks.DualHeadNet`'s heads, which adds one PReLU slope, an
identity on block nine's ReLU output); when ``out_channels`` differs from ``filters`` a 1x1
convolution projects block nine's output to ``out_channels`` (absent when they agree, as
with build_segmenter's default ``features=16``, where the network is DTC's); dropout is of the input's dimension
(``Dropout2d`` for 2D), and separate modules rather than DTC's one shared ``Dropout3d``; a 2D
variant exists. Input sizes must be divisible by 16 (four stride-2 levels); ``forward`` raises
otherwise.
"""

from __future__ import annotations

from itertools import pairwise

import torch
from monai.networks.layers import Conv, Dropout, Norm
from torch import nn

_ENCODER = (1, 2, 3, 3, 3)  # conv layers of blocks one to five
_DECODER = (3, 3, 2, 1)  # conv layers of blocks six to nine
_NAMES = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_UPS = tuple(pairwise(_NAMES[4:]))  # (five, six), ..., (eight, nine)
DIVISOR = 2 ** (len(_ENCODER) - 1)


class _Block(nn.Module):
    """``conv``: a Sequential of conv-BN-ReLU layers (DTC's ConvBlock and its resamplers)."""

    def __init__(self, dims: int, widths: list[int], kernel: int, kind: str = Conv.CONV):
        super().__init__()
        conv, norm = Conv[kind, dims], Norm[Norm.BATCH, dims]
        stride, pad = (2, 0) if kernel == 2 else (1, 1)
        ops: list[nn.Module] = []
        for c_in, c_out in pairwise(widths):
            ops += [conv(c_in, c_out, kernel, stride=stride, padding=pad), norm(c_out)]
            ops.append(nn.ReLU(inplace=True))
        self.conv = nn.Sequential(*ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class DTCVNet(nn.Module):
    """DTC's V-Net without its output convolutions: (B, C_in, *S) -> (B, out_channels, *S).

    Args:
        spatial_dims: 2 or 3.
        in_channels: image channels.
        out_channels: channels of the output (the heads' ``features``); a 1x1 convolution
            follows the last block only when this differs from ``filters``.
        filters: width of the first level (DTC: 16); level i has ``filters * 2**i``.
        dropout: rate of the two dropout layers (DTC: 0.5); 0 for none.
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        filters: int = 16,
        dropout: float = 0.5,
    ):
        super().__init__()
        dims = spatial_dims
        widths = [filters * 2**level for level in range(len(_ENCODER))]
        for level, (name, n, width) in enumerate(zip(_NAMES, _ENCODER, widths, strict=False)):
            c_in = width if level else in_channels  # block_*_dw already doubled the width
            setattr(self, f"block_{name}", _Block(dims, [c_in] + [width] * n, 3))
            if level < len(_ENCODER) - 1:
                setattr(self, f"block_{name}_dw", _Block(dims, [width, 2 * width], 2))
        # Decoder: block_<a>_up halves the width of block <a>'s output, block <b> follows.
        for (a, b), n, width in zip(_UPS, _DECODER, widths[:0:-1], strict=True):
            setattr(self, f"block_{a}_up", _Block(dims, [width, width // 2], 2, Conv.CONVTRANS))
            setattr(self, f"block_{b}", _Block(dims, [width // 2] * (n + 1), 3))
        drop = Dropout[Dropout.DROPOUT, dims]
        self.encoder_dropout = drop(dropout) if dropout > 0 else nn.Identity()
        self.decoder_dropout = drop(dropout) if dropout > 0 else nn.Identity()
        same = out_channels == filters
        self.project = nn.Identity() if same else Conv[Conv.CONV, dims](filters, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if any(size % DIVISOR for size in x.shape[2:]):
            shape = tuple(x.shape[2:])
            raise ValueError(f"DTCVNet needs spatial sizes divisible by {DIVISOR}, got {shape}")
        skips = []
        for name in _NAMES[:4]:
            x = getattr(self, f"block_{name}")(x)
            skips.append(x)
            x = getattr(self, f"block_{name}_dw")(x)
        x = self.encoder_dropout(self.block_five(x))
        for a, b in _UPS:
            x = getattr(self, f"block_{b}")(getattr(self, f"block_{a}_up")(x) + skips.pop())
        return self.project(self.decoder_dropout(x))
