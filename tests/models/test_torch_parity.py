"""torchvision-style state dicts load 1:1: torch modules built here with the same names as ours (a basic block,
a bottleneck, a dense layer, an Inception block, a LeNet-5 Sequential and a whole ResNet-18) are saved, loaded
with ``cnnkit.io.load_state_dict`` and must give the same outputs in eval mode."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
from oracle import assert_close, requires_torch, torch

import cnnkit as ck
from cnnkit import io, models

pytestmark = requires_torch

if torch is not None:
    tnn = torch.nn

    class TBasicBlock(tnn.Module):
        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__()
            self.conv1 = tnn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(planes)
            self.relu = tnn.ReLU()
            self.conv2 = tnn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(planes)
            self.downsample = downsample

        def forward(self, x):
            out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            return self.relu(out + (x if self.downsample is None else self.downsample(x)))

    class TBottleneck(tnn.Module):
        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__()
            self.conv1 = tnn.Conv2d(inplanes, planes, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(planes)
            self.conv2 = tnn.Conv2d(planes, planes, 3, stride, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(planes)
            self.conv3 = tnn.Conv2d(planes, planes * 4, 1, bias=False)
            self.bn3 = tnn.BatchNorm2d(planes * 4)
            self.relu = tnn.ReLU()
            self.downsample = downsample

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            return self.relu(out + (x if self.downsample is None else self.downsample(x)))

    class TResNet18(tnn.Module):
        def __init__(self, num_classes=10):
            super().__init__()
            self.conv1 = tnn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = tnn.BatchNorm2d(64)
            self.relu = tnn.ReLU()
            self.maxpool = tnn.MaxPool2d(3, 2, 1)
            inplanes, stages = 64, []
            for planes, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
                down = None
                if stride != 1 or inplanes != planes:
                    down = tnn.Sequential(tnn.Conv2d(inplanes, planes, 1, stride, bias=False), tnn.BatchNorm2d(planes))
                stages.append(tnn.Sequential(TBasicBlock(inplanes, planes, stride, down), TBasicBlock(planes, planes)))
                inplanes = planes
            self.layer1, self.layer2, self.layer3, self.layer4 = stages
            self.avgpool = tnn.AdaptiveAvgPool2d(1)
            self.fc = tnn.Linear(512, num_classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    class TBasicConv2d(tnn.Module):
        def __init__(self, cin, cout, **kw):
            super().__init__()
            self.conv = tnn.Conv2d(cin, cout, bias=False, **kw)
            self.bn = tnn.BatchNorm2d(cout, eps=0.001)

        def forward(self, x):
            return torch.relu(self.bn(self.conv(x)))

    class TInception(tnn.Module):
        def __init__(self, cin, c1, c3r, c3, c5r, c5, pp):
            super().__init__()
            self.branch1 = TBasicConv2d(cin, c1, kernel_size=1)
            self.branch2 = tnn.Sequential(TBasicConv2d(cin, c3r, kernel_size=1),
                                          TBasicConv2d(c3r, c3, kernel_size=3, padding=1))
            self.branch3 = tnn.Sequential(TBasicConv2d(cin, c5r, kernel_size=1),
                                          TBasicConv2d(c5r, c5, kernel_size=3, padding=1))
            self.branch4 = tnn.Sequential(tnn.MaxPool2d(3, 1, 1, ceil_mode=True), TBasicConv2d(cin, pp, kernel_size=1))

        def forward(self, x):
            return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)

    class TDenseLayer(tnn.Module):
        def __init__(self, cin, growth, bn_size):
            super().__init__()
            self.norm1 = tnn.BatchNorm2d(cin)
            self.relu1 = tnn.ReLU()
            self.conv1 = tnn.Conv2d(cin, bn_size * growth, 1, bias=False)
            self.norm2 = tnn.BatchNorm2d(bn_size * growth)
            self.relu2 = tnn.ReLU()
            self.conv2 = tnn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False)

        def forward(self, features):
            x = torch.cat(features, 1)
            return self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))


def _randomise(module, seed=0):
    """Non-trivial BN statistics and affine parameters, so that eval-mode BN is really tested."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, tnn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.num_batches_tracked.fill_(7)
    return module.eval()


def _compare(ours, theirs, x, tmp_path, via="pth"):
    theirs = _randomise(theirs)
    if via == "pth":
        path = tmp_path / "weights.pth"
        torch.save(theirs.state_dict(), path)
    else:
        path = tmp_path / "weights.safetensors"
        io.save_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()}, path)
    io.load_state_dict(ours, path)
    ours.eval()
    for key, value in theirs.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[key], value.numpy(), err_msg=key)
    with torch.no_grad():
        ref = theirs(torch.tensor(x) if not isinstance(x, list) else [torch.tensor(a) for a in x])
    with ck.no_grad():
        out = ours(ck.tensor(x) if not isinstance(x, list) else [ck.tensor(a) for a in x])
    assert_close(out, ref, type(ours).__name__)


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_basic_block_with_projection(tmp_path):
    down_t = tnn.Sequential(tnn.Conv2d(16, 32, 1, 2, bias=False), tnn.BatchNorm2d(32))
    down_o = ck.nn.Sequential(ck.nn.Conv2d(16, 32, 1, 2, bias=False), ck.nn.BatchNorm2d(32))
    _compare(models.BasicBlock(16, 32, 2, down_o), TBasicBlock(16, 32, 2, down_t), _x(2, 16, 9, 9), tmp_path)


def test_bottleneck_with_projection(tmp_path):
    down_t = tnn.Sequential(tnn.Conv2d(32, 64, 1, 2, bias=False), tnn.BatchNorm2d(64))
    down_o = ck.nn.Sequential(ck.nn.Conv2d(32, 64, 1, 2, bias=False), ck.nn.BatchNorm2d(64))
    _compare(models.Bottleneck(32, 16, 2, down_o), TBottleneck(32, 16, 2, down_t), _x(2, 32, 8, 8), tmp_path,
             via="safetensors")


def test_inception_block(tmp_path):
    _compare(models.Inception(24, 8, 8, 12, 4, 6, 5), TInception(24, 8, 8, 12, 4, 6, 5), _x(2, 24, 7, 7), tmp_path)


def test_dense_layer_takes_a_list(tmp_path):
    from cnnkit.models.densenet import _DenseLayer

    _compare(_DenseLayer(12, 4, 2, 0.0), TDenseLayer(12, 4, 2), [_x(2, 8, 5, 5), _x(2, 4, 5, 5, seed=1)], tmp_path)


def test_lenet5_from_a_torch_sequential(tmp_path):
    theirs = tnn.Module()
    theirs.features = tnn.Sequential(OrderedDict([
        ("conv1", tnn.Conv2d(1, 6, 5, padding=2)), ("relu1", tnn.ReLU()), ("pool1", tnn.MaxPool2d(2)),
        ("conv2", tnn.Conv2d(6, 16, 5)), ("relu2", tnn.ReLU()), ("pool2", tnn.MaxPool2d(2))]))
    theirs.flatten = tnn.Flatten()
    theirs.classifier = tnn.Sequential(OrderedDict([
        ("fc1", tnn.Linear(400, 120)), ("relu3", tnn.ReLU()), ("fc2", tnn.Linear(120, 84)), ("relu4", tnn.ReLU()),
        ("fc3", tnn.Linear(84, 10))]))
    theirs.forward = lambda x: theirs.classifier(theirs.flatten(theirs.features(x)))
    _compare(models.lenet5(), theirs, _x(3, 1, 28, 28), tmp_path)


def test_whole_resnet18(tmp_path):
    _compare(models.resnet18(num_classes=10), TResNet18(10), _x(2, 3, 64, 64), tmp_path)


def test_missing_key_and_wrong_shape_are_named(tmp_path):
    theirs = TBasicBlock(8, 8)
    state = {k: v.numpy() for k, v in theirs.state_dict().items()}
    ours = models.BasicBlock(8, 8)
    partial = dict(state)
    del partial["bn2.running_var"]
    with pytest.raises(RuntimeError, match=r'Missing key\(s\).*"bn2\.running_var"'):
        io.load_state_dict(ours, partial)
    assert io.load_state_dict(ours, partial, strict=False).missing_keys == ["bn2.running_var"]

    wrong = dict(state)
    wrong["conv2.weight"] = np.zeros((8, 8, 5, 5), np.float32)
    path = tmp_path / "wrong.pth"
    torch.save({k: torch.tensor(v) for k, v in wrong.items()}, path)
    before = ours.conv1.weight.data.copy()
    with pytest.raises(RuntimeError, match=r"(?s)wrong\.pth.*conv2\.weight.*\(8, 8, 5, 5\).*\(8, 8, 3, 3\)") as info:
        io.load_state_dict(ours, path)
    assert "size mismatch" in str(info.value)
    np.testing.assert_array_equal(ours.conv1.weight.data, before)  # nothing changed on error

    extra = dict(state, **{"fc.weight": np.zeros((2, 2), np.float32)})
    with pytest.raises(RuntimeError, match=r'Unexpected key\(s\).*"fc\.weight"'):
        io.load_state_dict(ours, extra)
