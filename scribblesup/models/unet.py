"""U-Net (Ronneberger et al. 2015), the usual baseline of the medical scribble papers."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import channels, conv_block


class UNet(nn.Module):
    """U-Net with four down / up levels, BatchNorm, bilinear upsampling and skip concatenation.

    ``width`` scales the channel counts (64, 128, 256, 512, 1024 at width 1);
    any input size works (skips are resized to match).
    """

    def __init__(self, num_classes: int, in_channels: int = 3, width: float = 1.0, batch_norm: bool = True,
                 dropout: float = 0.0):
        super().__init__()
        c = [channels(b, width) for b in (64, 128, 256, 512, 1024)]
        self.down = nn.ModuleList([conv_block(in_channels, c[0], 2, batch_norm)] +
                                  [conv_block(c[i], c[i + 1], 2, batch_norm) for i in range(4)])
        self.up = nn.ModuleList([conv_block(c[i + 1] + c[i], c[i], 2, batch_norm) for i in reversed(range(4))])
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = nn.Conv2d(c[0], num_classes, 1)

    def forward(self, x):
        skips = []
        h = x
        for i, block in enumerate(self.down):
            h = block(h if i == 0 else F.max_pool2d(h, 2, ceil_mode=True))
            skips.append(h)
        h = self.dropout(skips.pop())
        for block in self.up:
            skip = skips.pop()
            h = F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            h = block(torch.cat([skip, h], dim=1))
        return self.classifier(h)
