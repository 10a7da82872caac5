"""Fully convolutional networks for semantic segmentation (Long, Shelhamer and Darrell, 2015).

A VGG-16 backbone, its fully connected layers as convolutions (fc6 a 7x7 conv, fc7 a 1x1 conv), class scores at
stride 32 (``score_fr``), and learned upsampling (transposed convolutions initialised to bilinear
interpolation, :func:`cnnkit.nn.init.bilinear_`):

    FCN-32s  upscore_final (x32) of the stride-32 scores
    FCN-16s  upscore2 (x2) of them + score_pool4, then upscore_final (x16)
    FCN-8s   ... + score_pool3 (x2 again, upscore_pool4), then upscore_final (x8)

``paper=True`` is the Caffe geometry: conv1_1 padded by 100 (so that any input gives fc6 at least one output),
ceil-mode pooling, an unpadded 7x7 fc6, and every sum and the output cropped with the paper's offsets (5 for
pool4, 9 for pool3; 19, 27, 31 for the 32s, 16s and 8s outputs), and the final upsampling fixed to bilinear
interpolation (the intermediate ones start bilinear and are learned). ``paper=False`` is the same-size variant used
by the small models: 3x3 convolutions padded by 1, ceil-mode pooling, a padded fc6, transposed convolutions of
kernel 2f, stride f and padding f/2 (exactly f times larger, aligned as bilinear interpolation with
``align_corners=False``; all of them learned), and every map cropped from the top-left corner to the size it is
added to.
"""

from __future__ import annotations

from .. import nn
from ..errors import InputError

__all__ = ["FCN", "fcn32s", "fcn16s", "fcn8s", "fcn32s_small", "fcn16s_small", "fcn8s_small"]

_VGG16_STAGES = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))  # (channels, convolutions) per pooling stage
_SMALL_STAGES = ((16, 1), (32, 1), (64, 2), (96, 2), (128, 2))
# The Caffe offsets of the paper's crops (pad 100, 7x7 fc6, ceil-mode pooling).
_PAPER_CROP = {"pool4": 5, "pool3": 9, 32: 19, 16: 27, 8: 31}


def _crop(x, offset: int, like_hw):
    h, w = like_hw
    return x[:, :, offset:offset + h, offset:offset + w]


class FCN(nn.Module):
    """FCN-32s, -16s or -8s (``stride``) on a VGG-style backbone (see the module docstring).

    ``stages`` lists (channels, convolutions) per pooling stage (five stages: pool3 and pool4 are the third and
    fourth), ``head`` the channels of fc6/fc7 and ``head_kernel`` fc6's kernel; ``batch_norm`` adds BN after
    every convolution of the backbone and the head. Score layers on pool3/pool4 start at zero (the paper's
    initialisation), so training starts from the coarser net's output.
    """

    def __init__(self, num_classes: int = 21, in_channels: int = 3, stride: int = 8, stages=_VGG16_STAGES,
                 head: int = 4096, head_kernel: int = 7, paper: bool = True, batch_norm: bool = False,
                 dropout: float = 0.5):
        super().__init__()
        if stride not in (8, 16, 32):
            raise InputError(f"FCN: stride must be 8, 16 or 32, got {stride!r}")
        if len(stages) != 5:
            raise InputError(f"FCN: expected 5 backbone stages (pool1 to pool5), got {len(stages)}")
        if paper and head_kernel != 7:
            raise InputError(f"FCN: the paper's geometry has a 7x7 fc6, got head_kernel={head_kernel}")
        self.stride, self.paper = stride, paper
        layers: list[nn.Module] = []
        self._pool_at: list[int] = []  # index in ``features`` of each pooling layer
        channels = in_channels
        for width, convs in stages:
            for _ in range(convs):
                pad = 100 if paper and not layers else 1
                layers.append(nn.Conv2d(channels, width, 3, padding=pad, bias=not batch_norm))
                if batch_norm:
                    layers.append(nn.BatchNorm2d(width))
                layers.append(nn.ReLU())
                channels = width
            self._pool_at.append(len(layers))
            layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
        self.features = nn.Sequential(*layers)

        def head_block(cin, k):
            block = [nn.Conv2d(cin, head, k, padding=0 if paper else k // 2, bias=not batch_norm)]
            if batch_norm:
                block.append(nn.BatchNorm2d(head))
            return [*block, nn.ReLU(), nn.Dropout2d(dropout)]

        self.classifier = nn.Sequential(*head_block(channels, head_kernel), *head_block(head, 1))
        self.score_fr = nn.Conv2d(head, num_classes, 1)
        self.upscore2 = self._upsampler(num_classes, 2) if stride < 32 else None
        self.score_pool4 = self._zero_score(stages[3][0], num_classes) if stride < 32 else None
        self.upscore_pool4 = self._upsampler(num_classes, 2) if stride == 8 else None
        self.score_pool3 = self._zero_score(stages[2][0], num_classes) if stride == 8 else None
        self.upscore_final = self._upsampler(num_classes, stride)
        if paper:  # "the final layer deconvolutional filters are fixed to bilinear interpolation"
            self.upscore_final.weight.requires_grad = False

    def _upsampler(self, channels: int, factor: int) -> nn.ConvTranspose2d:
        """A bilinear-initialised transposed convolution that enlarges by ``factor`` (kernel 2f, stride f)."""
        up = nn.ConvTranspose2d(channels, channels, 2 * factor, stride=factor,
                                padding=0 if self.paper else factor // 2, bias=False)
        nn.init.bilinear_(up.weight)
        return up

    @staticmethod
    def _zero_score(channels: int, num_classes: int) -> nn.Conv2d:
        score = nn.Conv2d(channels, num_classes, 1)
        nn.init.zeros_(score.weight)
        nn.init.zeros_(score.bias)
        return score

    def _offset(self, key) -> int:
        return _PAPER_CROP[key] if self.paper else 0

    def forward(self, x):
        size = x.shape[-2:]
        pools = []
        h = x
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in self._pool_at:
                pools.append(h)
        score = self.score_fr(self.classifier(h))
        if self.stride < 32:
            score = self.upscore2(score)
            s4 = self.score_pool4(pools[3])
            score = score[:, :, :s4.shape[2], :s4.shape[3]] if not self.paper else score
            score = score + _crop(s4, self._offset("pool4"), score.shape[-2:])
        if self.stride == 8:
            score = self.upscore_pool4(score)
            s3 = self.score_pool3(pools[2])
            score = score[:, :, :s3.shape[2], :s3.shape[3]] if not self.paper else score
            score = score + _crop(s3, self._offset("pool3"), score.shape[-2:])
        return _crop(self.upscore_final(score), self._offset(self.stride), size)


def fcn32s(num_classes: int = 21, in_channels: int = 3, paper: bool = True) -> FCN:
    """FCN-32s on VGG-16 (the paper's geometry by default): stride-32 scores upsampled x32 (134M parameters at
    21 classes)."""
    return FCN(num_classes, in_channels, 32, paper=paper)


def fcn16s(num_classes: int = 21, in_channels: int = 3, paper: bool = True) -> FCN:
    """FCN-16s on VGG-16: stride-32 scores x2 + pool4 scores, then x16."""
    return FCN(num_classes, in_channels, 16, paper=paper)


def fcn8s(num_classes: int = 21, in_channels: int = 3, paper: bool = True) -> FCN:
    """FCN-8s on VGG-16: FCN-16s's sum x2 + pool3 scores, then x8."""
    return FCN(num_classes, in_channels, 8, paper=paper)


def _small(stride: int, num_classes: int, in_channels: int) -> FCN:
    return FCN(num_classes, in_channels, stride, stages=_SMALL_STAGES, head=128, head_kernel=3, paper=False,
               batch_norm=True, dropout=0.1)


def fcn32s_small(num_classes: int = 4, in_channels: int = 3) -> FCN:
    """A small same-size FCN-32s for 64x64 images: five BN conv stages (16-32-64-96-128), a 128-channel head."""
    return _small(32, num_classes, in_channels)


def fcn16s_small(num_classes: int = 4, in_channels: int = 3) -> FCN:
    """The small FCN-16s (the backbone of :func:`fcn32s_small`, pool4 scores added at stride 16)."""
    return _small(16, num_classes, in_channels)


def fcn8s_small(num_classes: int = 4, in_channels: int = 3) -> FCN:
    """The small FCN-8s (the backbone of :func:`fcn32s_small`, pool4 and pool3 scores added)."""
    return _small(8, num_classes, in_channels)
