"""VGG-style networks: FCN-32s/16s/8s, DeepLab-LargeFOV and DeepLab-ASPP, SegNet, DeconvNet, and HED for edges."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import BilinearUpsample, channels, conv_block, crop_to

VGG16_BLOCKS = (2, 2, 3, 3, 3)
VGG16_CHANNELS = (64, 128, 256, 512, 512)


class VGGEncoder(nn.Module):
    """The five convolutional blocks of VGG16 (``block1`` .. ``block5``), width-scaled."""

    def __init__(self, in_channels: int, width: float = 1.0, batch_norm: bool = True, dilations=(1, 1, 1, 1, 1)):
        super().__init__()
        cin = in_channels
        for i, (n, c, d) in enumerate(zip(VGG16_BLOCKS, VGG16_CHANNELS, dilations), 1):
            cout = channels(c, width)
            setattr(self, f"block{i}", conv_block(cin, cout, n, batch_norm, dilation=d))
            cin = cout
        self.out_channels = cin


def encode_with_indices(encoder: VGGEncoder, x):
    """Run the five blocks, max-pooling after each; return the result and each pool's (indices, input size)."""
    pools = []
    for i in range(1, 6):
        x = getattr(encoder, f"block{i}")(x)
        size = x.shape[-2:]
        x, idx = F.max_pool2d(x, 2, ceil_mode=True, return_indices=True)
        pools.append((idx, size))
    return x, pools


def decode_with_indices(decoders, x, pools):
    """Unpool with the encoder's indices (deepest first), each followed by its decoder block."""
    for block, (idx, size) in zip(decoders, reversed(pools)):
        x = block(F.max_unpool2d(x, idx, 2, output_size=size))
    return x


class FCN(nn.Module):
    """FCN (Long, Shelhamer, Darrell 2015) on a VGG16 encoder.

    fc6 / fc7 of the classifier are convolutions (7x7 and 1x1); class scores are
    upsampled by transposed convolutions initialised as bilinear interpolation
    (frozen unless ``learnable_upsampling``). ``stride`` 32, 16 or 8 gives
    FCN-32s, FCN-16s (skip from pool4) or FCN-8s (skips from pool4 and pool3).
    Any input size works: pooling rounds up and the output is cropped to the input.
    """

    def __init__(self, num_classes: int, in_channels: int = 3, stride: int = 32, width: float = 1.0,
                 batch_norm: bool = True, learnable_upsampling: bool = False, dropout: float = 0.5):
        super().__init__()
        if stride not in (8, 16, 32):
            raise ValueError(f"FCN stride must be 8, 16 or 32, got {stride}")
        self.stride = stride
        self.encoder = VGGEncoder(in_channels, width, batch_norm)
        fc = channels(4096, width)
        self.fc6 = nn.Sequential(nn.Conv2d(self.encoder.out_channels, fc, 7, padding=3), nn.ReLU(inplace=True),
                                 nn.Dropout2d(dropout))
        self.fc7 = nn.Sequential(nn.Conv2d(fc, fc, 1), nn.ReLU(inplace=True), nn.Dropout2d(dropout))
        self.score = nn.Conv2d(fc, num_classes, 1)
        if stride <= 16:
            self.score_pool4 = nn.Conv2d(channels(512, width), num_classes, 1)
            self.up2_a = BilinearUpsample(num_classes, 2, learnable_upsampling)
        if stride == 8:
            self.score_pool3 = nn.Conv2d(channels(256, width), num_classes, 1)
            self.up2_b = BilinearUpsample(num_classes, 2, learnable_upsampling)
        self.up_final = BilinearUpsample(num_classes, stride, learnable_upsampling)

    def forward(self, x):
        size = x.shape[-2:]
        e = self.encoder
        pool = lambda t: F.max_pool2d(t, 2, ceil_mode=True)  # noqa: E731
        p3 = pool(e.block3(pool(e.block2(pool(e.block1(x))))))
        p4 = pool(e.block4(p3))
        p5 = pool(e.block5(p4))
        score = self.score(self.fc7(self.fc6(p5)))
        if self.stride <= 16:
            score = crop_to(self.up2_a(score), p4.shape[-2:]) + self.score_pool4(p4)
        if self.stride == 8:
            score = crop_to(self.up2_b(score), p3.shape[-2:]) + self.score_pool3(p3)
        return crop_to(self.up_final(score), size)


class DeepLabVGG(nn.Module):
    """DeepLab v1/v2 on VGG16 (Chen et al. 2015, 2017): output stride 8 by atrous convolution.

    pool4 and pool5 keep the resolution (3x3, stride 1), block5 uses dilation 2.
    ``rates=(12,)``: DeepLab-LargeFOV, fc6 a 3x3 convolution with dilation 12.
    ``rates=(6, 12, 18, 24)``: DeepLab-ASPP, one fc6-fc7-fc8 branch per rate, scores summed.
    Scores are upsampled to the input size by bilinear interpolation.
    """

    def __init__(self, num_classes: int, in_channels: int = 3, rates=(12,), width: float = 1.0,
                 batch_norm: bool = True, dropout: float = 0.5):
        super().__init__()
        self.encoder = VGGEncoder(in_channels, width, batch_norm, dilations=(1, 1, 1, 1, 2))
        fc = channels(1024, width)
        self.rates = tuple(rates)
        self.branches = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(self.encoder.out_channels, fc, 3, padding=r, dilation=r), nn.ReLU(inplace=True),
                nn.Dropout2d(dropout), nn.Conv2d(fc, fc, 1), nn.ReLU(inplace=True), nn.Dropout2d(dropout),
                nn.Conv2d(fc, num_classes, 1),
            )
            for r in self.rates
        )

    def forward(self, x):
        size = x.shape[-2:]
        e = self.encoder
        pool = lambda t: F.max_pool2d(t, 3, stride=2, padding=1)  # noqa: E731
        h = pool(e.block3(pool(e.block2(pool(e.block1(x))))))
        h = F.max_pool2d(e.block4(h), 3, stride=1, padding=1)
        h = F.max_pool2d(e.block5(h), 3, stride=1, padding=1)
        score = sum(branch(h) for branch in self.branches)
        return F.interpolate(score, size=size, mode="bilinear", align_corners=False)


class SegNet(nn.Module):
    """SegNet (Badrinarayanan et al. 2017): the decoder upsamples with the encoder's max-pooling indices."""

    def __init__(self, num_classes: int, in_channels: int = 3, width: float = 1.0, batch_norm: bool = True):
        super().__init__()
        self.encoder = VGGEncoder(in_channels, width, batch_norm)
        widths = [channels(c, width) for c in VGG16_CHANNELS]
        decoders = []
        for i in reversed(range(5)):
            cout = widths[i - 1] if i > 0 else widths[0]
            n = VGG16_BLOCKS[i]
            block = conv_block(widths[i], widths[i], n - 1, batch_norm) if n > 1 else nn.Sequential()
            block.append(conv_block(widths[i], cout, 1, batch_norm))
            decoders.append(block)
        self.decoders = nn.ModuleList(decoders)
        self.classifier = nn.Conv2d(widths[0], num_classes, 3, padding=1)

    def forward(self, x):
        h, pools = encode_with_indices(self.encoder, x)
        return self.classifier(decode_with_indices(self.decoders, h, pools))


def deconv_block(cin: int, cout: int, n: int, batch_norm: bool = True) -> nn.Sequential:
    """``n`` x (3x3 transposed convolution [+ BatchNorm] + ReLU), keeping the spatial size; the last maps to ``cout``."""
    layers = []
    for i in range(n):
        out = cout if i == n - 1 else cin
        layers.append(nn.ConvTranspose2d(cin, out, 3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(out))
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class DeconvNet(nn.Module):
    """DeconvNet (Noh, Hong, Han 2015): a deconvolution network mirroring VGG16.

    The encoder is VGG16's five blocks, keeping each max-pooling's indices; fc6 and fc7 are a 7x7 and a 1x1
    convolution (padded, so any input size works, where the original's valid 7x7 took 224x224 crops to 1x1);
    deconv-fc6 is a 7x7 transposed convolution back to pool5's channels; then, block by block in reverse,
    unpooling with the remembered indices and 3x3 transposed convolutions (as many as the encoder block had
    convolutions), ending at the input size with a 1x1 classifier. Loads the same VGG16 state dict as FCN
    (``load_pretrained``: encoder and fc6 / fc7).
    """

    def __init__(self, num_classes: int, in_channels: int = 3, width: float = 1.0, batch_norm: bool = True,
                 dropout: float = 0.5):
        super().__init__()
        self.encoder = VGGEncoder(in_channels, width, batch_norm)
        widths = [channels(c, width) for c in VGG16_CHANNELS]
        fc = channels(4096, width)
        bn = (lambda c: [nn.BatchNorm2d(c)]) if batch_norm else (lambda c: [])
        self.fc6 = nn.Sequential(nn.Conv2d(widths[4], fc, 7, padding=3), *bn(fc), nn.ReLU(inplace=True),
                                 nn.Dropout2d(dropout))
        self.fc7 = nn.Sequential(nn.Conv2d(fc, fc, 1), *bn(fc), nn.ReLU(inplace=True), nn.Dropout2d(dropout))
        self.deconv6 = nn.Sequential(nn.ConvTranspose2d(fc, widths[4], 7, padding=3), *bn(widths[4]),
                                     nn.ReLU(inplace=True))
        self.decoders = nn.ModuleList(
            deconv_block(widths[i], widths[i - 1] if i > 0 else widths[0], VGG16_BLOCKS[i], batch_norm)
            for i in reversed(range(5)))
        self.classifier = nn.Conv2d(widths[0], num_classes, 1)

    def forward(self, x):
        h, pools = encode_with_indices(self.encoder, x)
        h = self.deconv6(self.fc7(self.fc6(h)))
        return self.classifier(decode_with_indices(self.decoders, h, pools))


class HED(nn.Module):
    """HED, holistically-nested edge detection (Xie and Tu 2015): an FCN for edges with deep supervision.

    A VGG16 encoder; after each of its five blocks a side output (a 1x1 convolution to one channel) upsampled to
    the input size by bilinear interpolation; a fused output, a learned 1x1 convolution over the five (initialised
    to their mean). ``forward`` returns (N, 6, H, W) edge logits: the five side outputs, then the fused one (the
    prediction). Train with :func:`scribblesup.losses.balanced_bce` on every channel (``train.task: edges``).
    """

    def __init__(self, num_classes: int = 1, in_channels: int = 3, width: float = 1.0, batch_norm: bool = True):
        super().__init__()
        if num_classes != 1:
            raise ValueError(f"hed predicts one edge map (num_classes=1), got num_classes={num_classes}")
        self.encoder = VGGEncoder(in_channels, width, batch_norm)
        self.sides = nn.ModuleList(nn.Conv2d(channels(c, width), 1, 1) for c in VGG16_CHANNELS)
        self.fuse = nn.Conv2d(5, 1, 1)
        with torch.no_grad():
            self.fuse.weight.fill_(0.2)
            self.fuse.bias.zero_()

    def forward(self, x):
        size = x.shape[-2:]
        h, sides = x, []
        for i in range(1, 6):
            if i > 1:
                h = F.max_pool2d(h, 2, ceil_mode=True)
            h = getattr(self.encoder, f"block{i}")(h)
            sides.append(F.interpolate(self.sides[i - 1](h), size=size, mode="bilinear", align_corners=False))
        sides = torch.cat(sides, dim=1)
        return torch.cat([sides, self.fuse(sides)], dim=1)
