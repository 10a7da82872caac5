"""The small networks the lessons compare: a deep stack of 3x3 convolutions on the 8x8 digits whose activation,
depth, shortcut, batch norm and initialisation are the knobs, and a few helpers to measure inside it."""

from __future__ import annotations

import numpy as np

from .. import nn

ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.1)}


class ConvBlock(nn.Module):
    """conv 3x3 -> [batch norm] -> activation; with ``residual`` two such convs and a shortcut around them
    (x + F(x), the activation after the sum, as in ResNet's basic block)."""

    def __init__(self, width: int, activation: str, batch_norm: bool, residual: bool):
        super().__init__()
        self.residual = residual
        convs = 2 if residual else 1
        layers = []
        for i in range(convs):
            layers.append(nn.Conv2d(width, width, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(width))
            if i < convs - 1 or not residual:
                layers.append(ACTIVATIONS[activation]())
        self.body = nn.Sequential(*layers)
        self.act = ACTIVATIONS[activation]() if residual else None

    def forward(self, x):
        if self.residual:
            return self.act(x + self.body(x))
        return self.body(x)


class DeepNet(nn.Module):
    """stem (conv 3x3, 1 -> width, activation), ``blocks`` blocks at full resolution, global average pooling and a
    linear classifier. ``depth`` = the number of 3x3 convolutions = 1 + blocks (x2 when residual)."""

    def __init__(self, blocks: int, width: int = 16, activation: str = "relu", batch_norm: bool = False,
                 residual: bool = False, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        stem = [nn.Conv2d(in_channels, width, 3, padding=1, bias=not batch_norm)]
        if batch_norm:
            stem.append(nn.BatchNorm2d(width))
        stem.append(ACTIVATIONS[activation]())
        self.stem = nn.Sequential(*stem)
        self.blocks = nn.Sequential(*[ConvBlock(width, activation, batch_norm, residual) for _ in range(blocks)])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x):
        return self.fc(self.flatten(self.pool(self.blocks(self.stem(x)))))


def initialise(model, scheme: str, seed: int = 0) -> None:
    """Re-initialise every conv and linear weight of ``model`` with ``scheme`` (biases to zero)."""
    from .. import nn
    from ..nn import init

    gen = np.random.default_rng(seed)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            if scheme == "zero":
                init.zeros_(m.weight)
            elif scheme == "small random":
                init.normal_(m.weight, 0.0, 0.01, generator=gen)
            elif scheme == "Xavier":
                init.xavier_normal_(m.weight, generator=gen)
            elif scheme == "He":
                init.kaiming_normal_(m.weight, nonlinearity="relu", generator=gen)
            else:
                raise ValueError(scheme)
            if m.bias is not None:
                init.zeros_(m.bias)


def conv_layers(model) -> list[tuple[str, object]]:
    """(name, module) of every Conv2d, first to last."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def weight_grad_norms(model, x: np.ndarray, y: np.ndarray) -> list[float]:
    """The L2 norm of the cross-entropy gradient of each conv layer's weight on one batch (train mode, no step)."""
    import cnnkit as ck
    from cnnkit.functional import cross_entropy

    for p in model.parameters():
        p.grad = None
    loss = cross_entropy(model(ck.tensor(x)), ck.tensor(y))
    loss.backward()
    norms = [float(np.linalg.norm(m.weight.grad.numpy())) for _, m in conv_layers(model)]
    for p in model.parameters():
        p.grad = None
    return norms


class SmallConvNet(nn.Module):
    """Two conv 3x3 + ReLU + 2x2 pooling stages (``width`` and 2 x ``width`` channels) and a linear classifier: on
    the 8x8 digits, 8x8 -> 4x4 -> 2x2. ``pool`` is ``"max"`` or ``"avg"``."""

    def __init__(self, width: int = 8, pool: str = "max", num_classes: int = 10, in_channels: int = 1,
                 input_size: int = 8):
        super().__init__()
        pooling = nn.MaxPool2d if pool == "max" else nn.AvgPool2d
        self.features = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(), pooling(2),
                                      nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), pooling(2))
        side = input_size // 4
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(2 * width * side * side, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


def count_parameters(model) -> int:
    return int(sum(p.numel() for p in model.parameters()))
