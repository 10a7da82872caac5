"""Small CNNs for small images (the default model of ``cnnkit train`` on the 8x8 digits)."""

from __future__ import annotations

from .. import nn
from ..errors import InputError


def _conv_block(cin: int, cout: int, batch_norm: bool) -> list:
    if batch_norm:
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
    return [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU()]


class SmallCNN(nn.Module):
    """Two stages of (3x3 conv-BN-ReLU) x 2 + 2x2 max-pool, then dropout and a linear classifier
    (``batch_norm=False``: conv with bias + ReLU; ``dropout=0``: no dropout).

    On an HxW input the features are (2*width, H/4, W/4); for 8x8 digits that is 64 x 2 x 2 = 256 features.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, width: int = 32, input_size: int = 8,
                 dropout: float = 0.25, batch_norm: bool = True):
        super().__init__()
        if input_size % 4:
            raise InputError(f"SmallCNN: input_size must be a multiple of 4, got {input_size}")
        self.features = nn.Sequential(
            *_conv_block(in_channels, width, batch_norm), *_conv_block(width, width, batch_norm), nn.MaxPool2d(2),
            *_conv_block(width, 2 * width, batch_norm), *_conv_block(2 * width, 2 * width, batch_norm),
            nn.MaxPool2d(2),
        )
        side = input_size // 4
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(2 * width * side * side,
                                                                                     num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


def small_cnn(num_classes: int = 10, in_channels: int = 1, input_size: int = 8, width: int = 32,
              dropout: float = 0.25, batch_norm: bool = True) -> SmallCNN:
    """The default CNN of ``cnnkit train`` (~68k parameters at width 32)."""
    return SmallCNN(num_classes, in_channels, width, input_size, dropout, batch_norm)
