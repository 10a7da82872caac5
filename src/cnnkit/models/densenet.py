"""DenseNet-BC (Huang et al., 2017) with torchvision's module names."""

from __future__ import annotations

from collections import OrderedDict

from .. import nn
from ..nn import functional as F

__all__ = ["DenseNet", "densenet121", "densenet161", "densenet169", "densenet201"]


class _DenseLayer(nn.Module):
    """BN -> ReLU -> 1x1 conv (bn_size * k channels) -> BN -> ReLU -> 3x3 conv (k = growth rate channels)."""

    def __init__(self, num_input_features: int, growth_rate: int, bn_size: int, drop_rate: float):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(num_input_features)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(num_input_features, bn_size * growth_rate, kernel_size=1, stride=1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, kernel_size=3, stride=1, padding=1, bias=False)
        self.drop_rate = float(drop_rate)
        self.dropout = nn.Dropout(p=self.drop_rate) if self.drop_rate > 0 else None

    def forward(self, features):
        x = F.cat(list(features), 1) if isinstance(features, (list, tuple)) else features
        x = self.conv1(self.relu1(self.norm1(x)))
        x = self.conv2(self.relu2(self.norm2(x)))
        return self.dropout(x) if self.dropout is not None else x


class _DenseBlock(nn.Module):
    """``num_layers`` dense layers; each sees the concatenation of the block input and all earlier outputs."""

    def __init__(self, num_layers: int, num_input_features: int, bn_size: int, growth_rate: int, drop_rate: float):
        super().__init__()
        for i in range(num_layers):
            layer = _DenseLayer(num_input_features + i * growth_rate, growth_rate, bn_size, drop_rate)
            self.add_module(f"denselayer{i + 1}", layer)

    def forward(self, init_features):
        features = [init_features]
        for layer in self.children():
            features.append(layer(features))
        return F.cat(features, 1)


class _Transition(nn.Sequential):
    """Between blocks: BN -> ReLU -> 1x1 conv (halves the channels, compression 0.5) -> 2x2 average pool."""

    def __init__(self, num_input_features: int, num_output_features: int):
        super().__init__(OrderedDict([
            ("norm", nn.BatchNorm2d(num_input_features)),
            ("relu", nn.ReLU()),
            ("conv", nn.Conv2d(num_input_features, num_output_features, kernel_size=1, stride=1, bias=False)),
            ("pool", nn.AvgPool2d(kernel_size=2, stride=2)),
        ]))


class DenseNet(nn.Module):
    """DenseNet-BC: a 7x7/2 stem with max pooling, four dense blocks joined by transitions, BN, global pooling, FC.

    Idea: concatenate (rather than add) every earlier feature map inside a block, so each layer only adds
    ``growth_rate`` new channels and features are reused throughout; 1x1 bottlenecks and compressing
    transitions keep the width in check.
    """

    def __init__(self, growth_rate: int = 32, block_config: tuple[int, ...] = (6, 12, 24, 16),
                 num_init_features: int = 64, bn_size: int = 4, drop_rate: float = 0.0, num_classes: int = 1000,
                 in_channels: int = 3):
        super().__init__()
        self.features = nn.Sequential(OrderedDict([
            ("conv0", nn.Conv2d(in_channels, num_init_features, kernel_size=7, stride=2, padding=3, bias=False)),
            ("norm0", nn.BatchNorm2d(num_init_features)),
            ("relu0", nn.ReLU()),
            ("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
        ]))
        num_features = num_init_features
        for i, num_layers in enumerate(block_config):
            block = _DenseBlock(num_layers, num_features, bn_size, growth_rate, drop_rate)
            self.features.add_module(f"denseblock{i + 1}", block)
            num_features += num_layers * growth_rate
            if i != len(block_config) - 1:
                self.features.add_module(f"transition{i + 1}", _Transition(num_features, num_features // 2))
                num_features //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(num_features))
        self.relu = nn.ReLU()
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Linear(num_features, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.constant_(m.bias, 0)

    def forward(self, x):
        x = self.avgpool(self.relu(self.features(x)))
        return self.classifier(F.flatten(x, 1))


def _densenet(growth_rate, block_config, num_init_features, num_classes, **kwargs) -> DenseNet:
    return DenseNet(growth_rate, block_config, num_init_features, num_classes=num_classes, **kwargs)


def densenet121(num_classes: int = 1000, **kwargs) -> DenseNet:
    """DenseNet-121 (k=32, blocks 6-12-24-16): 7,978,856 parameters at 1000 classes."""
    return _densenet(32, (6, 12, 24, 16), 64, num_classes, **kwargs)


def densenet161(num_classes: int = 1000, **kwargs) -> DenseNet:
    """DenseNet-161 (k=48, blocks 6-12-36-24, 96 stem channels): 28,681,000 parameters."""
    return _densenet(48, (6, 12, 36, 24), 96, num_classes, **kwargs)


def densenet169(num_classes: int = 1000, **kwargs) -> DenseNet:
    """DenseNet-169 (k=32, blocks 6-12-32-32): 14,149,480 parameters."""
    return _densenet(32, (6, 12, 32, 32), 64, num_classes, **kwargs)


def densenet201(num_classes: int = 1000, **kwargs) -> DenseNet:
    """DenseNet-201 (k=32, blocks 6-12-48-32): 20,013,928 parameters."""
    return _densenet(32, (6, 12, 48, 32), 64, num_classes, **kwargs)
