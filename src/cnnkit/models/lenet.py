"""LeNet-5 (LeCun et al., 1998) at MNIST size."""

from __future__ import annotations

from collections import OrderedDict

from .. import nn

__all__ = ["LeNet5", "lenet5"]


class LeNet5(nn.Module):
    """LeNet-5: two 5x5 convolutions (6 and 16 filters) each followed by 2x2 subsampling, then 120-84-classes.

    Idea: local receptive fields, shared weights and subsampling build shift-tolerant features cheaply.
    Input is 1x28x28 (MNIST); ``padding=2`` on conv1 reproduces the paper's 32x32 geometry, so conv2 sees 14x14
    and the classifier sees 16x5x5. This variant uses ReLU and max pooling (the modern reading of the paper).
    With ``in_channels=1`` and 10 classes it has 61,706 parameters.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        self.features = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(in_channels, 6, kernel_size=5, padding=2)),
            ("relu1", nn.ReLU()),
            ("pool1", nn.MaxPool2d(kernel_size=2, stride=2)),
            ("conv2", nn.Conv2d(6, 16, kernel_size=5)),
            ("relu2", nn.ReLU()),
            ("pool2", nn.MaxPool2d(kernel_size=2, stride=2)),
        ]))
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(OrderedDict([
            ("fc1", nn.Linear(16 * 5 * 5, 120)),
            ("relu3", nn.ReLU()),
            ("fc2", nn.Linear(120, 84)),
            ("relu4", nn.ReLU()),
            ("fc3", nn.Linear(84, num_classes)),
        ]))

    def forward(self, x):
        return self.classifier(self.flatten(self.features(x)))


def lenet5(num_classes: int = 10, in_channels: int = 1) -> LeNet5:
    """LeNet-5 for 1x28x28 inputs (conv1 padded by 2, i.e. the paper's 32x32 layout); 61,706 parameters."""
    return LeNet5(num_classes=num_classes, in_channels=in_channels)
