"""Residual networks: torchvision's ImageNet ResNets, pre-activation ResNets and the CIFAR ResNets.

Idea (He et al., 2015): each block learns a residual F(x) added to an identity shortcut, so very deep
networks train as easily as shallow ones (the identity path carries the signal and its gradient).
"""

from __future__ import annotations

from .. import nn
from ..errors import InputError
from ..nn import functional as F

__all__ = [
    "BasicBlock", "Bottleneck", "ResNet", "PreActBasicBlock", "PreActBottleneck", "PreActResNet",
    "PadShortcut", "CifarResNet",
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "preact_resnet18", "preact_resnet34", "preact_resnet50", "preact_resnet101", "preact_resnet152",
    "resnet20", "resnet32", "resnet44", "resnet56", "resnet110",
]


def conv3x3(in_planes: int, out_planes: int, stride: int = 1, groups: int = 1, dilation: int = 1) -> nn.Conv2d:
    """3x3 convolution without bias (a BatchNorm follows), padding keeps the size at stride 1."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=dilation, groups=groups,
                     bias=False, dilation=dilation)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution without bias."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


def _check_plain_width(owner: str, groups: int, base_width: int) -> None:
    if groups != 1 or base_width != 64:
        raise InputError(f"{owner}: only groups=1 and base_width=64 are supported, got groups={groups}, "
                         f"base_width={base_width}")


# ---------------------------------------------------------------------------------------------- post-activation
class BasicBlock(nn.Module):
    """Two 3x3 convs with BN; ReLU after the addition (ResNet-18/34 and the CIFAR ResNets)."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 groups: int = 1, base_width: int = 64):
        super().__init__()
        _check_plain_width("BasicBlock", groups, base_width)
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (carries the stride, as torchvision's "ResNet v1.5") -> 1x1 expand (x4), BN after each."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 groups: int = 1, base_width: int = 64):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride, groups)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU()
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


def _init_resnet(model: nn.Module, zero_init_residual: bool) -> None:
    """He (fan_out) init for convs, BN to (1, 0); optionally zero the last BN of each block (torchvision)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
    if zero_init_residual:
        for m in model.modules():
            if isinstance(m, Bottleneck):
                nn.init.constant_(m.bn3.weight, 0)
            elif isinstance(m, BasicBlock):
                nn.init.constant_(m.bn2.weight, 0)


class ResNet(nn.Module):
    """ImageNet ResNet as torchvision: 7x7/2 stem + 3x3/2 max pool, four stages (64-128-256-512 planes, the
    first block of stages 2-4 strides by 2 with a 1x1 conv + BN projection shortcut), global average pool, FC."""

    pre_activation = False  # PreActResNet: BN-free projection shortcuts and a final BN -> ReLU before pooling

    def __init__(self, block, layers: list[int], num_classes: int = 1000, zero_init_residual: bool = False,
                 groups: int = 1, width_per_group: int = 64, in_channels: int = 3):
        super().__init__()
        if len(layers) != 4:
            raise InputError(f"{type(self).__name__}: expected 4 stage depths, got {layers!r}")
        self.inplanes = 64
        self.groups = groups
        self.base_width = width_per_group
        self.conv1 = nn.Conv2d(in_channels, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        if self.pre_activation:
            self.final_bn = nn.BatchNorm2d(512 * block.expansion)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        _init_resnet(self, zero_init_residual)

    def _make_layer(self, block, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        out_planes = planes * block.expansion
        if stride != 1 or self.inplanes != out_planes:
            projection = [conv1x1(self.inplanes, out_planes, stride)]
            if not self.pre_activation:
                projection.append(nn.BatchNorm2d(out_planes))
            downsample = nn.Sequential(*projection)
        layers = [block(self.inplanes, planes, stride, downsample, self.groups, self.base_width)]
        self.inplanes = out_planes
        layers += [block(self.inplanes, planes, groups=self.groups, base_width=self.base_width)
                   for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        if self.pre_activation:
            x = self.relu(self.final_bn(x))
        return self.fc(F.flatten(self.avgpool(x), 1))


def resnet18(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-18 (basic blocks 2-2-2-2): 11,689,512 parameters at 1000 classes."""
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes=num_classes, **kwargs)


def resnet34(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-34 (basic blocks 3-4-6-3): 21,797,672 parameters."""
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes=num_classes, **kwargs)


def resnet50(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-50 (bottlenecks 3-4-6-3): 25,557,032 parameters."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes=num_classes, **kwargs)


def resnet101(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-101 (bottlenecks 3-4-23-3): 44,549,160 parameters."""
    return ResNet(Bottleneck, [3, 4, 23, 3], num_classes=num_classes, **kwargs)


def resnet152(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-152 (bottlenecks 3-8-36-3): 60,192,808 parameters."""
    return ResNet(Bottleneck, [3, 8, 36, 3], num_classes=num_classes, **kwargs)


# ---------------------------------------------------------------------------------------------- pre-activation
class PreActBasicBlock(nn.Module):
    """BN -> ReLU -> 3x3 conv, twice; the sum is returned as is (He et al., 2016, "Identity Mappings").

    Nothing follows the addition, so the shortcut is a pure identity from block to block. A projection
    shortcut (1x1 conv, no BN) reads the pre-activated input, as in the paper's code.
    """

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 groups: int = 1, base_width: int = 64):
        super().__init__()
        _check_plain_width(type(self).__name__, groups, base_width)
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.relu = nn.ReLU()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        out = self.relu(self.bn1(x))
        shortcut = x if self.downsample is None else self.downsample(out)
        out = self.conv1(out)
        out = self.conv2(self.relu(self.bn2(out)))
        return out + shortcut


class PreActBottleneck(nn.Module):
    """Pre-activation bottleneck: (BN -> ReLU -> conv) for 1x1, 3x3 (stride) and 1x1 (x4); identity sum."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 groups: int = 1, base_width: int = 64):
        super().__init__()
        _check_plain_width(type(self).__name__, groups, base_width)
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.relu = nn.ReLU()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn3 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        out = self.relu(self.bn1(x))
        shortcut = x if self.downsample is None else self.downsample(out)
        out = self.conv1(out)
        out = self.conv2(self.relu(self.bn2(out)))
        out = self.conv3(self.relu(self.bn3(out)))
        return out + shortcut


class PreActResNet(ResNet):
    """ImageNet pre-activation ResNet: torchvision's stem and stage layout with pre-activation blocks, and a
    final BN -> ReLU (``final_bn``) before pooling since the last block ends on a bare sum."""

    pre_activation = True

    def __init__(self, block, layers: list[int], num_classes: int = 1000, in_channels: int = 3):
        super().__init__(block, layers, num_classes, in_channels=in_channels)


def preact_resnet18(num_classes: int = 1000, **kwargs) -> PreActResNet:
    """Pre-activation ResNet-18 (basic blocks 2-2-2-2)."""
    return PreActResNet(PreActBasicBlock, [2, 2, 2, 2], num_classes=num_classes, **kwargs)


def preact_resnet34(num_classes: int = 1000, **kwargs) -> PreActResNet:
    """Pre-activation ResNet-34 (basic blocks 3-4-6-3)."""
    return PreActResNet(PreActBasicBlock, [3, 4, 6, 3], num_classes=num_classes, **kwargs)


def preact_resnet50(num_classes: int = 1000, **kwargs) -> PreActResNet:
    """Pre-activation ResNet-50 (bottlenecks 3-4-6-3)."""
    return PreActResNet(PreActBottleneck, [3, 4, 6, 3], num_classes=num_classes, **kwargs)


def preact_resnet101(num_classes: int = 1000, **kwargs) -> PreActResNet:
    """Pre-activation ResNet-101 (bottlenecks 3-4-23-3)."""
    return PreActResNet(PreActBottleneck, [3, 4, 23, 3], num_classes=num_classes, **kwargs)


def preact_resnet152(num_classes: int = 1000, **kwargs) -> PreActResNet:
    """Pre-activation ResNet-152 (bottlenecks 3-8-36-3)."""
    return PreActResNet(PreActBottleneck, [3, 8, 36, 3], num_classes=num_classes, **kwargs)


# ---------------------------------------------------------------------------------------------- CIFAR
class PadShortcut(nn.Module):
    """The paper's option-A shortcut: parameter-free, keeps every ``stride``-th pixel and zero-pads the new
    channels (half before, half after), so the identity path costs no weights."""

    def __init__(self, in_planes: int, out_planes: int, stride: int = 2):
        super().__init__()
        if out_planes < in_planes:
            raise InputError(f"PadShortcut: out_planes ({out_planes}) must be >= in_planes ({in_planes})")
        self.in_planes, self.out_planes, self.stride = in_planes, out_planes, stride
        self.kernel_size = 1  # a 1x1 window moved by ``stride``: lets the summary track its receptive field

    def forward(self, x):
        if self.stride != 1:
            x = x[:, :, ::self.stride, ::self.stride]
        extra = self.out_planes - self.in_planes
        if extra:
            x = F.pad(x, (0, 0, 0, 0, extra // 2, extra - extra // 2))
        return x

    def extra_repr(self) -> str:
        return f"{self.in_planes}, {self.out_planes}, stride={self.stride}"


class CifarResNet(nn.Module):
    """CIFAR-10 ResNet (He et al., 2015, section 4.2): 6n+2 layers, a 3x3 conv to 16 channels, three stages of
    n basic blocks at 16/32/64 channels (32x32, 16x16, 8x8), global average pooling and one FC layer.
    ``shortcut="A"`` (default) uses the parameter-free :class:`PadShortcut`; ``"B"`` a 1x1 conv + BN projection.
    """

    def __init__(self, depth: int, num_classes: int = 10, in_channels: int = 3, shortcut: str = "A"):
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise InputError(f"CifarResNet: depth must be 6n+2 (20, 32, 44, 56, 110, ...), got {depth}")
        if shortcut not in ("A", "B"):
            raise InputError(f"CifarResNet: shortcut must be 'A' or 'B', got {shortcut!r}")
        n = (depth - 2) // 6
        self.shortcut_type = shortcut
        self.inplanes = 16
        self.conv1 = conv3x3(in_channels, 16)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        self.layer1 = self._make_layer(16, n, 1)
        self.layer2 = self._make_layer(32, n, 2)
        self.layer3 = self._make_layer(64, n, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64, num_classes)
        _init_resnet(self, False)

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            if self.shortcut_type == "A":
                downsample = PadShortcut(self.inplanes, planes, stride)
            else:
                downsample = nn.Sequential(conv1x1(self.inplanes, planes, stride), nn.BatchNorm2d(planes))
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(F.flatten(self.avgpool(x), 1))


def resnet20(num_classes: int = 10, **kwargs) -> CifarResNet:
    """CIFAR ResNet-20 (n=3): 0.27M parameters."""
    return CifarResNet(20, num_classes=num_classes, **kwargs)


def resnet32(num_classes: int = 10, **kwargs) -> CifarResNet:
    """CIFAR ResNet-32 (n=5): 0.46M parameters."""
    return CifarResNet(32, num_classes=num_classes, **kwargs)


def resnet44(num_classes: int = 10, **kwargs) -> CifarResNet:
    """CIFAR ResNet-44 (n=7): 0.66M parameters."""
    return CifarResNet(44, num_classes=num_classes, **kwargs)


def resnet56(num_classes: int = 10, **kwargs) -> CifarResNet:
    """CIFAR ResNet-56 (n=9): 0.85M parameters."""
    return CifarResNet(56, num_classes=num_classes, **kwargs)


def resnet110(num_classes: int = 10, **kwargs) -> CifarResNet:
    """CIFAR ResNet-110 (n=18): 1.7M parameters."""
    return CifarResNet(110, num_classes=num_classes, **kwargs)
