"""GoogLeNet / Inception v1 (Szegedy et al., 2014) with torchvision's layout and module names."""

from __future__ import annotations

from collections import namedtuple

from .. import nn
from ..errors import InputError
from ..nn import functional as F

__all__ = ["GoogLeNet", "GoogLeNetOutputs", "BasicConv2d", "Inception", "NaiveInception", "InceptionAux",
           "googlenet"]

GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])


class BasicConv2d(nn.Module):
    """Conv (no bias) -> BatchNorm(eps=0.001) -> ReLU, torchvision's building unit for GoogLeNet."""

    def __init__(self, in_channels: int, out_channels: int, **conv_kwargs):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **conv_kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    """Inception block: four parallel branches concatenated along channels.

    Idea: look at several scales at once (1x1, 3x3, "5x5", pooled) and keep it affordable with 1x1 reductions
    before the expensive convolutions and a 1x1 projection after the pooling. As in torchvision, the "5x5"
    branch uses a 3x3 kernel (``ch5x5_kernel=5`` gives the paper's 5x5).
    """

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int, ch5x5: int,
                 pool_proj: int, conv_block=None, ch5x5_kernel: int = 3):
        super().__init__()
        conv_block = conv_block or BasicConv2d
        if ch5x5_kernel % 2 != 1:
            raise InputError(f"Inception: ch5x5_kernel must be odd (to keep the spatial size), got {ch5x5_kernel}")
        self.branch1 = conv_block(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(
            conv_block(in_channels, ch3x3red, kernel_size=1),
            conv_block(ch3x3red, ch3x3, kernel_size=3, padding=1),
        )
        self.branch3 = nn.Sequential(
            conv_block(in_channels, ch5x5red, kernel_size=1),
            conv_block(ch5x5red, ch5x5, kernel_size=ch5x5_kernel, padding=ch5x5_kernel // 2),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            conv_block(in_channels, pool_proj, kernel_size=1),
        )

    def forward(self, x):
        return F.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class NaiveInception(nn.Module):
    """The paper's naive Inception block (Fig. 2a), for comparison: 1x1, 3x3 and 5x5 convs on the full input
    plus a 3x3 max pool, concatenated.

    Without 1x1 reductions every branch pays for all input channels, and the pooled branch passes all of them
    through, so the output width (ch1x1 + ch3x3 + ch5x5 + in_channels) grows block after block.
    """

    def __init__(self, in_channels: int, ch1x1: int, ch3x3: int, ch5x5: int, conv_block=None):
        super().__init__()
        conv_block = conv_block or BasicConv2d
        self.branch1 = conv_block(in_channels, ch1x1, kernel_size=1)
        self.branch2 = conv_block(in_channels, ch3x3, kernel_size=3, padding=1)
        self.branch3 = conv_block(in_channels, ch5x5, kernel_size=5, padding=2)
        self.branch4 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + in_channels

    def forward(self, x):
        return F.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(nn.Module):
    """Auxiliary classifier on an intermediate feature map: 4x4 average pool, 1x1 conv to 128, FC 1024, FC."""

    def __init__(self, in_channels: int, num_classes: int, conv_block=None, dropout: float = 0.7):
        super().__init__()
        conv_block = conv_block or BasicConv2d
        self.avgpool = nn.AdaptiveAvgPool2d((4, 4))
        self.conv = conv_block(in_channels, 128, kernel_size=1)
        self.fc1 = nn.Linear(2048, 1024)
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(p=dropout)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x):
        x = F.flatten(self.conv(self.avgpool(x)), 1)
        return self.fc2(self.dropout(self.relu(self.fc1(x))))


class GoogLeNet(nn.Module):
    """GoogLeNet: a stem, nine Inception blocks in three stages, global average pooling and one FC layer.

    Idea: widen the network with multi-branch blocks whose 1x1 reductions keep the cost near 1.5 GMACs.
    In training mode with ``aux_logits=True`` the forward pass returns ``GoogLeNetOutputs(logits, aux2, aux1)``;
    otherwise the logits. ``transform_input`` re-normalises ImageNet-standardised inputs to the [-1, 1] scaling
    the ported TensorFlow weights expect (as torchvision).
    """

    def __init__(self, num_classes: int = 1000, aux_logits: bool = False, transform_input: bool = False,
                 init_weights: bool = True, dropout: float = 0.2, dropout_aux: float = 0.7, in_channels: int = 3):
        super().__init__()
        self.aux_logits = aux_logits
        self.transform_input = transform_input
        if transform_input and in_channels != 3:
            raise InputError(f"GoogLeNet: transform_input needs 3 input channels, got in_channels={in_channels}")

        self.conv1 = BasicConv2d(in_channels, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)

        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128)

        if aux_logits:
            self.aux1 = InceptionAux(512, num_classes, dropout=dropout_aux)
            self.aux2 = InceptionAux(528, num_classes, dropout=dropout_aux)
        else:
            self.aux1 = None
            self.aux2 = None

        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(1024, num_classes)

        if init_weights:
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    # torchvision: normal(0, 0.01) truncated at two standard deviations
                    nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-0.02, b=0.02)
                    if getattr(m, "bias", None) is not None:
                        nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)

    def _transform_input(self, x):
        if not self.transform_input:
            return x
        # ImageNet mean/std standardisation -> the (x - 0.5) / 0.5 scaling of the original weights
        mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
        channels = [F.unsqueeze(x[:, c], 1) * (std[c] / 0.5) + (mean[c] - 0.5) / 0.5 for c in range(3)]
        return F.cat(channels, 1)

    def forward(self, x):
        x = self._transform_input(x)
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        use_aux = self.training and self.aux1 is not None
        aux1 = self.aux1(x) if use_aux else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if use_aux else None
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        x = F.flatten(self.avgpool(x), 1)
        x = self.fc(self.dropout(x))
        if use_aux:
            return GoogLeNetOutputs(x, aux2, aux1)
        return x


def googlenet(num_classes: int = 1000, aux_logits: bool = False, transform_input: bool = False,
              **kwargs) -> GoogLeNet:
    """GoogLeNet (Inception v1) as torchvision: 6,624,904 parameters without the auxiliary heads."""
    return GoogLeNet(num_classes=num_classes, aux_logits=aux_logits, transform_input=transform_input, **kwargs)
