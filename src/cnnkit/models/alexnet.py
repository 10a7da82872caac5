"""AlexNet: torchvision's single-tower variant and the 2012 paper's two-group network."""

from __future__ import annotations

from .. import nn
from ..nn import functional as F

__all__ = ["AlexNet", "alexnet"]


class AlexNet(nn.Module):
    """AlexNet (Krizhevsky, Sutskever, Hinton, 2012).

    Idea: a deep (5 conv + 3 FC) ReLU network with overlapping max pooling and dropout, trained on GPUs.

    ``original=False`` is torchvision's variant (64-192-384-256-256 channels, no normalisation, 224x224 input).
    ``original=True`` is the paper's network: 96-256-384-384-256 channels, local response normalisation after
    conv1 and conv2 (ReLU -> LRN -> max pool), and conv2/conv4/conv5 split into two groups (the two-GPU layout:
    each half only sees the half of the previous layer on its own GPU). It expects 3x227x227 inputs (the size
    that makes the unpadded stride-4 11x11 conv1 produce 55x55).
    Both keep torchvision's module names: ``features``, ``avgpool`` (AdaptiveAvgPool2d(6), an identity at the
    natural input size), ``classifier``.
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, original: bool = False):
        super().__init__()
        if original:
            # The paper's LRN: b = a / (k + alpha * sum a^2)^beta with k=2, n=5, alpha=1e-4, beta=0.75.
            # PyTorch's LocalResponseNorm divides alpha by n, so alpha * n is passed to reproduce the paper.
            def lrn():
                return nn.LocalResponseNorm(size=5, alpha=5e-4, beta=0.75, k=2.0)

            self.features = nn.Sequential(
                nn.Conv2d(in_channels, 96, kernel_size=11, stride=4),
                nn.ReLU(),
                lrn(),
                nn.MaxPool2d(kernel_size=3, stride=2),
                nn.Conv2d(96, 256, kernel_size=5, padding=2, groups=2),
                nn.ReLU(),
                lrn(),
                nn.MaxPool2d(kernel_size=3, stride=2),
                nn.Conv2d(256, 384, kernel_size=3, padding=1),
                nn.ReLU(),
                nn.Conv2d(384, 384, kernel_size=3, padding=1, groups=2),
                nn.ReLU(),
                nn.Conv2d(384, 256, kernel_size=3, padding=1, groups=2),
                nn.ReLU(),
                nn.MaxPool2d(kernel_size=3, stride=2),
            )
        else:
            self.features = nn.Sequential(
                nn.Conv2d(in_channels, 64, kernel_size=11, stride=4, padding=2),
                nn.ReLU(),
                nn.MaxPool2d(kernel_size=3, stride=2),
                nn.Conv2d(64, 192, kernel_size=5, padding=2),
                nn.ReLU(),
                nn.MaxPool2d(kernel_size=3, stride=2),
                nn.Conv2d(192, 384, kernel_size=3, padding=1),
                nn.ReLU(),
                nn.Conv2d(384, 256, kernel_size=3, padding=1),
                nn.ReLU(),
                nn.Conv2d(256, 256, kernel_size=3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(kernel_size=3, stride=2),
            )
        self.original = original
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(F.flatten(x, 1))


def alexnet(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, original: bool = False) -> AlexNet:
    """torchvision's AlexNet (61,100,840 parameters at 1000 classes); ``original=True``: the 2012 paper's net."""
    return AlexNet(num_classes=num_classes, in_channels=in_channels, dropout=dropout, original=original)
