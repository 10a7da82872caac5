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
from .convolutionalize import convolutionalize
from .densenet import DenseNet, densenet121, densenet161, densenet169, densenet201
from .detection import FasterRCNN, YOLOv1, faster_rcnn, yolov1
from .detection.fast_rcnn import fast_rcnn
from .detection.rcnn import rcnn
from .detection.spp_net import spp_net
from .ensemble import Ensemble, Stacking, bagging, boosting, stacking
from .fcn import FCN, fcn8s, fcn8s_small, fcn16s, fcn16s_small, fcn32s, fcn32s_small
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
from .unet import EncoderDecoder, UNet, encoder_decoder, unet, unet_small
from .vgg import VGG, vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn


@dataclass(frozen=True)
class ModelInfo:
    """A registry entry: the builder, its natural input (C, H, W), a one-line description, the task it solves, the
    dataset ``cnnkit train`` uses for it by default, and which data-dependent keyword arguments the builder takes
    (``num_classes``, ``in_channels``, ``input_size``: :func:`build_model` passes only those)."""

    builder: Callable
    input_size: tuple[int, int, int]
    description: str
    task: str = "classification"
    default_dataset: str | None = None
    adapts: frozenset = frozenset({"num_classes", "in_channels"})


_IMAGENET = (3, 224, 224)
_CIFAR = (3, 32, 32)
_MNIST = (1, 28, 28)
_CLASSES_ONLY = frozenset({"num_classes"})

_REGISTRY: dict[str, ModelInfo] = {
    "lenet5": ModelInfo(lenet5, _MNIST, "LeNet-5, 1x28x28 input (conv1 padded by 2)", default_dataset="mnist"),
    "alexnet": ModelInfo(alexnet, _IMAGENET, "AlexNet, torchvision's variant"),
    "alexnet_original": ModelInfo(partial(alexnet, original=True), (3, 227, 227),
                                  "AlexNet as in the 2012 paper (LRN, two groups)"),
    "googlenet": ModelInfo(googlenet, _IMAGENET, "GoogLeNet / Inception v1, torchvision's variant",
                           adapts=_CLASSES_ONLY),
    "conv_autoencoder": ModelInfo(conv_autoencoder, _MNIST, "convolutional autoencoder (no classes)",
                                  task="reconstruction", default_dataset="mnist", adapts=frozenset({"in_channels"})),
    "small_cnn": ModelInfo(small_cnn, (1, 8, 8), "small CNN for 8x8 digits (input_size= sets H = W)",
                           default_dataset="digits", adapts=frozenset({"num_classes", "in_channels", "input_size"})),
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
    _REGISTRY[_name] = ModelInfo(_fn, _CIFAR, f"ResNet-{_name[6:]} (CIFAR, option-A shortcuts)",
                                 default_dataset="cifar10")
for _name, _fn in [("densenet121", densenet121), ("densenet161", densenet161), ("densenet169", densenet169),
                   ("densenet201", densenet201)]:
    _REGISTRY[_name] = ModelInfo(_fn, _IMAGENET, f"DenseNet-{_name[8:]} (BC)")

# ---- segmentation models (FCN, U-Net, encoder-decoders) ----------------------------------------------------------
_SHAPES = (3, 64, 64)
_REGISTRY.update({
    "fcn32s": ModelInfo(fcn32s, _IMAGENET, "FCN-32s on VGG-16 (Long et al., pad-100 geometry)", task="segmentation"),
    "fcn16s": ModelInfo(fcn16s, _IMAGENET, "FCN-16s on VGG-16 (pool4 scores added)", task="segmentation"),
    "fcn8s": ModelInfo(fcn8s, _IMAGENET, "FCN-8s on VGG-16 (pool4 and pool3 scores added)", task="segmentation"),
    "fcn32s_small": ModelInfo(fcn32s_small, _SHAPES, "small FCN-32s (BN, same-size) for 64x64 scenes",
                              task="segmentation"),
    "fcn16s_small": ModelInfo(fcn16s_small, _SHAPES, "small FCN-16s (BN, same-size) for 64x64 scenes",
                              task="segmentation"),
    "fcn8s_small": ModelInfo(fcn8s_small, _SHAPES, "small FCN-8s (BN, same-size) for 64x64 scenes",
                             task="segmentation"),
    "unet": ModelInfo(unet, (3, 256, 256), "U-Net (same padding, BN, base 64, depth 4)", task="segmentation"),
    "unet_small": ModelInfo(unet_small, _SHAPES, "small U-Net (base 16, depth 3) for 64x64 scenes",
                            task="segmentation", default_dataset="shapes"),
    "encoder_decoder": ModelInfo(encoder_decoder, _SHAPES, "SegNet-style encoder-decoder (transposed-conv decoder)",
                                 task="segmentation"),
})
# ---- end of segmentation models -----------------------------------------------------------------------------------
del _name, _fn

# ---- detection: targets per image {"boxes", "labels"}; a dict of losses in training, detections in eval
_SHAPES_SCENES = (3, 64, 64)
_REGISTRY.update({
    "faster_rcnn": ModelInfo(faster_rcnn, _SHAPES_SCENES, "Faster R-CNN: RPN + RoI head on a small batch-norm "
                             "backbone (stride 8), for 64x64 scenes", task="detection", default_dataset="shapes"),
    "rcnn": ModelInfo(rcnn, _SHAPES_SCENES, "R-CNN: selective search, the CNN on every warped region, linear SVMs",
                      task="detection", default_dataset="shapes"),
    "spp_net": ModelInfo(spp_net, _SHAPES_SCENES, "SPP-net: the CNN once, a spatial pyramid on each selective-search "
                         "window, linear SVMs", task="detection", default_dataset="shapes"),
    "fast_rcnn": ModelInfo(fast_rcnn, _SHAPES_SCENES, "Fast R-CNN: the CNN once, RoI pooling of selective-search "
                           "regions, softmax + box regression", task="detection", default_dataset="shapes"),
    "yolov1": ModelInfo(yolov1, _SHAPES_SCENES, "YOLOv1: 8x8 grid, 2 boxes per cell, on a small batch-norm backbone "
                        "(stride 8), for 64x64 scenes", task="detection", default_dataset="shapes"),
})


def list_models(task: str | None = None) -> list[str]:
    """Names accepted by :func:`get_model`, sorted; only those of ``task`` when given."""
    return sorted(name for name, info in _REGISTRY.items() if task is None or info.task == task)


def model_info(name: str) -> ModelInfo:
    """The registry entry of a model name (an :class:`InputError` listing the known names otherwise)."""
    if not isinstance(name, str):
        raise InputTypeError(f"get_model: expected a model name (str), got {type(name).__name__}")
    key = name.lower()
    if key not in _REGISTRY:
        raise InputError(f"unknown model {name!r}; known models: {', '.join(list_models())}", field="model")
    return _REGISTRY[key]


def get_model(name: str, **kwargs):
    """Build a model by name, e.g. ``get_model("resnet18", num_classes=10)``."""
    return model_info(name).builder(**kwargs)


def build_model(name: str, num_classes: int | None = None, in_channels: int | None = None,
                input_size: int | None = None, **kwargs):
    """Build a registered model for a dataset: of the data-dependent arguments, only those the model adapts to are
    passed (:attr:`ModelInfo.adapts`); a dataset the model cannot take is an :class:`InputError` naming both."""
    info = model_info(name)
    given = {"num_classes": num_classes, "in_channels": in_channels, "input_size": input_size}
    for key, value in given.items():
        if value is None:
            continue
        if key in info.adapts:
            kwargs[key] = value
        elif key == "in_channels" and value != info.input_size[0]:
            raise InputError(f"model {name!r} takes {info.input_size[0]}-channel images, but the data has "
                             f"{value} channel(s)", field="model")
        elif key == "num_classes":
            raise InputError(f"model {name!r} ({info.task}) has no classes to set, got num_classes={value}",
                             field="num_classes")
    try:
        return info.builder(**kwargs)
    except TypeError as err:  # a setting the model does not have: the user's mistake, not a bug
        import re

        unknown = re.search(r"unexpected keyword argument '(\w+)'", str(err))
        if unknown is None:
            raise
        raise InputError(f"model {name!r} has no setting {unknown.group(1)!r}", field=unknown.group(1)) from None


def model_input_size(name: str) -> tuple[int, int, int]:
    """The natural input (C, H, W) of a registered model, e.g. (3, 224, 224) for resnet50."""
    return model_info(name).input_size


def model_description(name: str) -> str:
    """One-line description of a registered model."""
    return model_info(name).description


def default_model(task: str, dataset: str) -> str | None:
    """The model ``cnnkit train`` uses for ``task`` on ``dataset`` when none is named: the registered model of that
    task whose default dataset it is (None when there is none)."""
    for name in list_models(task):
        if _REGISTRY[name].default_dataset == dataset:
            return name
    return None


__all__ = [
    "ModelInfo", "get_model", "build_model", "model_info", "default_model", "list_models", "model_input_size",
    "model_description",
    "LeNet5", "AlexNet", "VGG", "GoogLeNet", "GoogLeNetOutputs", "BasicConv2d", "Inception", "NaiveInception",
    "InceptionAux", "ResNet", "BasicBlock", "Bottleneck", "PreActResNet", "PreActBasicBlock", "PreActBottleneck",
    "CifarResNet", "PadShortcut", "DenseNet", "ConvAutoencoder", "SmallCNN", "small_cnn",
    "lenet5", "alexnet", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
    "googlenet", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "preact_resnet18", "preact_resnet34", "preact_resnet50", "preact_resnet101", "preact_resnet152",
    "resnet20", "resnet32", "resnet44", "resnet56", "resnet110",
    "densenet121", "densenet161", "densenet169", "densenet201", "conv_autoencoder",
    "Ensemble", "Stacking", "bagging", "boosting", "stacking",
    "convolutionalize", "FCN", "fcn32s", "fcn16s", "fcn8s", "fcn32s_small", "fcn16s_small", "fcn8s_small",
    "UNet", "EncoderDecoder", "unet", "unet_small", "encoder_decoder",
    "FasterRCNN", "faster_rcnn",
    "rcnn", "spp_net", "fast_rcnn", "YOLOv1", "yolov1",
]
