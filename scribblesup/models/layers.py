"""Building blocks shared by the networks."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def channels(base: int, width: float) -> int:
    """Channel count ``base`` scaled by ``width`` (at least 4)."""
    return max(4, int(round(base * width)))


def conv_block(cin: int, cout: int, n: int, batch_norm: bool = True, dilation: int = 1) -> nn.Sequential:
    """``n`` x (3x3 convolution [+ BatchNorm] + ReLU), keeping the spatial size."""
    layers = []
    for i in range(n):
        layers.append(nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=dilation, dilation=dilation,
                                bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(cout))
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def bilinear_kernel(channels_: int, kernel_size: int) -> torch.Tensor:
    """Weights of a transposed convolution that performs bilinear upsampling, channel by channel.

    Returns a (C, C, k, k) tensor, zero off the channel diagonal (as in FCN's ``upsample_filt``).
    """
    factor = (kernel_size + 1) // 2
    center = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    og = np.arange(kernel_size)
    filt = 1 - np.abs(og - center) / factor
    kernel = torch.from_numpy(np.outer(filt, filt)).float()
    weight = torch.zeros(channels_, channels_, kernel_size, kernel_size)
    weight[range(channels_), range(channels_)] = kernel
    return weight


class BilinearUpsample(nn.ConvTranspose2d):
    """Transposed convolution upsampling by ``factor``, initialised as bilinear interpolation.

    Frozen by default, as in the original FCN; ``learnable=True`` trains it.
    """

    def __init__(self, channels_: int, factor: int, learnable: bool = False):
        super().__init__(channels_, channels_, kernel_size=2 * factor, stride=factor, padding=factor // 2, bias=False)
        self.factor = factor
        with torch.no_grad():
            self.weight.copy_(bilinear_kernel(channels_, 2 * factor))
        self.weight.requires_grad_(learnable)


def crop_to(x: torch.Tensor, size) -> torch.Tensor:
    """Crop the last two dimensions of ``x`` to ``size`` (top-left aligned)."""
    return x[..., : size[0], : size[1]]
