"""The model zoo: classic CNN architectures built from :mod:`cnnkit.nn`.

Module and parameter names follow torchvision wherever torchvision has the model, so its ``state_dict`` loads
1:1 (see :func:`cnnkit.io.load_state_dict`). ``get_model(name, **kwargs)`` builds any of them by name,
``list_models()`` lists the names and ``model_input_size(name)`` gives the natural input (C, H, W).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from ..errors import InputError, InputTypeError
from .alexnet import AlexNet, alexnet
from .autoencoder import ConvAutoencoder, conv_autoencoder
from .densenet import DenseNet, densenet121, densenet161, densenet169, densenet201
from .googlenet import BasicConv2d, GoogLeNet, GoogLeNetOutputs, Inception, InceptionAux, NaiveInception, googlenet
from .lenet import LeNet5, lenet5
from .resnet import (
    BasicBlock,
    Bottleneck,
    CifarResNet,
    PadShortcut,
    PreActBasicBlock,
    PreActBottleneck,
    PreActResNet,
    ResNet,
    preact_resnet18,
    preact_resnet34,
    preact_resnet50,
    preact_resnet101,
    preact_resnet152,
    resnet18,
    resnet20,
    resnet32,
    resnet34,
    resnet44,
    resnet50,
    resnet56,
    resnet101,
    resnet110,
    resnet152,
)
from .small import SmallCNN, small_cnn
from .vgg import VGG, vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn


@dataclass(frozen=True)
class ModelInfo:
    """A registry entry: the builder, its natural input (C, H, W) and a one-line description."""

    builder: Callable
    input_size: tuple[int, int, int]
    description: str


_IMAGENET = (3, 224, 224)
_CIFAR = (3, 32, 32)
_MNIST = (1, 28, 28)

_REGISTRY: dict[str, ModelInfo] = {
    "lenet5": ModelInfo(lenet5, _MNIST, "LeNet-5, 1x28x28 input (conv1 padded by 2)"),
    "alexnet": ModelInfo(alexnet, _IMAGENET, "AlexNet, torchvision's variant"),
    "alexnet_original": ModelInfo(partial(alexnet, original=True), (3, 227, 227),
                                  "AlexNet as in the 2012 paper (LRN, two groups)"),
    "googlenet": ModelInfo(googlenet, _IMAGENET, "GoogLeNet / Inception v1, torchvision's variant"),
    "conv_autoencoder": ModelInfo(conv_autoencoder, _MNIST, "convolutional autoencoder (no classes)"),
    "small_cnn": ModelInfo(small_cnn, (1, 8, 8), "small CNN for 8x8 digits (input_size= sets H = W)"),
}
for _name, _fn in [("vgg11", vgg11), ("vgg11_bn", vgg11_bn), ("vgg13", vgg13), ("vgg13_bn", vgg13_bn),
                   ("vgg16", vgg16), ("vgg16_bn", vgg16_bn), ("vgg19", vgg19), ("vgg19_bn", vgg19_bn)]:
    _REGISTRY[_name] = ModelInfo(_fn, _IMAGENET, "VGG" + _name[3:].replace("_bn", " with batch norm"))
for _name, _fn in [("resnet18", resnet18), ("resnet34", resnet34), ("resnet50", resnet50),
                   ("resnet101", resnet101), ("resnet152", resnet152)]:
    _REGISTRY[_name] = ModelInfo(_fn, _IMAGENET, f"ResNet-{_name[6:]} (ImageNet)")
for _name, _fn in [("preact_resnet18", preact_resnet18), ("preact_resnet34", preact_resnet34),
                   ("preact_resnet50", preact_resnet50), ("preact_resnet101", preact_resnet101),
                   ("preact_resnet152", preact_resnet152)]:
    _REGISTRY[_name] = ModelInfo(_fn, _IMAGENET, f"pre-activation ResNet-{_name[13:]} (ImageNet)")
for _name, _fn in [("resnet20", resnet20), ("resnet32", resnet32), ("resnet44", resnet44), ("resnet56", resnet56),
                   ("resnet110", resnet110)]:
    _REGISTRY[_name] = ModelInfo(_fn, _CIFAR, f"ResNet-{_name[6:]} (CIFAR, option-A shortcuts)")
for _name, _fn in [("densenet121", densenet121), ("densenet161", densenet161), ("densenet169", densenet169),
                   ("densenet201", densenet201)]:
    _REGISTRY[_name] = ModelInfo(_fn, _IMAGENET, f"DenseNet-{_name[8:]} (BC)")
del _name, _fn


def list_models() -> list[str]:
    """Names accepted by :func:`get_model`, sorted."""
    return sorted(_REGISTRY)


def _info(name: str) -> ModelInfo:
    if not isinstance(name, str):
        raise InputTypeError(f"get_model: expected a model name (str), got {type(name).__name__}")
    key = name.lower()
    if key not in _REGISTRY:
        raise InputError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    return _REGISTRY[key]


def get_model(name: str, **kwargs):
    """Build a model by name, e.g. ``get_model("resnet18", num_classes=10)``."""
    return _info(name).builder(**kwargs)


def model_input_size(name: str) -> tuple[int, int, int]:
    """The natural input (C, H, W) of a registered model, e.g. (3, 224, 224) for resnet50."""
    return _info(name).input_size


def model_description(name: str) -> str:
    """One-line description of a registered model."""
    return _info(name).description


__all__ = [
    "ModelInfo", "get_model", "list_models", "model_input_size", "model_description",
    "LeNet5", "AlexNet", "VGG", "GoogLeNet", "GoogLeNetOutputs", "BasicConv2d", "Inception", "NaiveInception",
    "InceptionAux", "ResNet", "BasicBlock", "Bottleneck", "PreActResNet", "PreActBasicBlock", "PreActBottleneck",
    "CifarResNet", "PadShortcut", "DenseNet", "ConvAutoencoder", "SmallCNN", "small_cnn",
    "lenet5", "alexnet", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
    "googlenet", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "preact_resnet18", "preact_resnet34", "preact_resnet50", "preact_resnet101", "preact_resnet152",
    "resnet20", "resnet32", "resnet44", "resnet56", "resnet110",
    "densenet121", "densenet161", "densenet169", "densenet201", "conv_autoencoder",
]
