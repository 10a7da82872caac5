"""Backbones of the detectors: a convolutional feature extractor with ``out_channels`` (and nothing after it).

    backbone = shapes_backbone(in_channels=3)               # small conv + batch-norm net, stride 8, 128 channels
    backbone = classifier_backbone(get_model("vgg11_bn"))   # a zoo classifier without its pooling and head
    loaded, total = load_backbone_weights(backbone, checkpoint_state["model"])
    freeze_backbone(detector)                              # no gradients, batch-norm statistics fixed

A backbone keeps its source classifier's parameter names (``features.0.weight``, ``layer1.0.conv1.weight``), so the
weights of a classification checkpoint load into it by name.
"""

from __future__ import annotations

from ... import nn
from ...errors import InputError

__all__ = ["Backbone", "shapes_backbone", "classifier_backbone", "named_backbone", "load_backbone_weights",
           "freeze_backbone"]

_HEAD_TYPES = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Linear, nn.Flatten, nn.Dropout)


class Backbone(nn.Module):
    """Named stages run in order: (N, C, H, W) -> (N, out_channels, H / stride, W / stride). A frozen backbone
    (:meth:`freeze`) stays in eval mode (batch norm uses its running statistics) and its parameters take no
    gradient."""

    def __init__(self, stages, out_channels: int):
        super().__init__()
        for name, module in stages:
            self.add_module(name, module)
        self.out_channels = int(out_channels)
        self.frozen = False

    def forward(self, x):
        for module in self.children():
            x = module(x)
        return x

    def freeze(self) -> Backbone:
        self.frozen = True
        self.requires_grad_(False)
        return self.train(self.training)

    def train(self, mode: bool = True) -> Backbone:
        super().train(mode)
        if self.frozen and mode:
            super().train(False)
            object.__setattr__(self, "training", True)  # the detector is training; only the stages are fixed
        return self

    def extra_repr(self) -> str:
        return f"out_channels={self.out_channels}" + (", frozen" if self.frozen else "")


def _conv_bn(cin: int, cout: int) -> list:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def shapes_backbone(in_channels: int = 3, widths=(32, 64, 128)) -> Backbone:
    """A small VGG-style net for 64x64 scenes: per width one or two 3x3 conv + batch norm + ReLU, then 2x2 max
    pooling; three widths give stride 8 (an 8x8 map for 64x64 images)."""
    layers, cin = [], in_channels
    for i, width in enumerate(widths):
        layers += _conv_bn(cin, width) + ([] if i == 0 else _conv_bn(width, width)) + [nn.MaxPool2d(2)]
        cin = width
    return Backbone([("features", nn.Sequential(*layers))], cin)


def _channels(modules) -> int | None:
    channels = None
    for module in modules:
        for m in module.modules():
            for attr in ("out_channels", "num_features"):
                if isinstance(getattr(m, attr, None), int):
                    channels = getattr(m, attr)
    return channels


def classifier_backbone(model: nn.Module) -> Backbone:
    """The feature extractor of a zoo classifier: its child modules in registration order up to (not including) the
    first global pooling, flatten, dropout or linear layer or block holding a linear layer (VGG/AlexNet:
    ``features``; ResNet: ``conv1`` ... ``layer4``). Parameter names are kept."""
    stages = []
    for name, child in model.named_children():
        if isinstance(child, _HEAD_TYPES) or any(isinstance(m, nn.Linear) for m in child.modules()):
            break
        stages.append((name, child))
    channels = _channels(child for _, child in stages)
    if not stages or channels is None:
        raise InputError(f"classifier_backbone: {type(model).__name__} has no convolutional stages before its head")
    return Backbone(stages, channels)


def named_backbone(name: str, in_channels: int = 3, op: str = "detector") -> Backbone:
    """A detector's backbone by name: ``"shapes"`` (:func:`shapes_backbone`) or a zoo classifier's name (its feature
    stages, :func:`classifier_backbone`); ``op`` names the caller in errors."""
    if name == "shapes":
        return shapes_backbone(in_channels)
    from .. import build_model, model_info

    if model_info(name).task != "classification":
        raise InputError(f"{op}: backbone {name!r} is not a classifier", field="backbone")
    return classifier_backbone(build_model(name, in_channels=in_channels))


def load_backbone_weights(backbone: nn.Module, state: dict) -> tuple[int, int]:
    """Copy into ``backbone`` the tensors of ``state`` (a model's state dict) named ``prefix + name`` for its own
    tensor names, with the one prefix that matches the most of them by name and shape ("" for a classifier's
    checkpoint, ``"backbone."`` for a detector's). Returns (tensors loaded, backbone tensors)."""
    import numpy as np

    own = backbone.state_dict()
    prefixes = {name[: len(name) - len(key)] for name in state for key in own
                if name == key or name.endswith("." + key)}

    def matches(prefix):
        return {key: state[prefix + key] for key, value in own.items()
                if prefix + key in state and tuple(np.shape(state[prefix + key])) == tuple(value.shape)}

    best = max(sorted(prefixes, key=len), key=lambda prefix: len(matches(prefix)), default=None)
    update = matches(best) if best is not None else {}
    if update:
        backbone.load_state_dict({**own, **update})
    return len(update), len(own)


def freeze_backbone(model: nn.Module) -> int:
    """Freeze ``model.backbone`` (see :meth:`Backbone.freeze`); returns how many parameters were frozen."""
    backbone = getattr(model, "backbone", None)
    if not isinstance(backbone, nn.Module):
        raise InputError(f"{type(model).__name__} has no backbone to freeze")
    if isinstance(backbone, Backbone):
        backbone.freeze()
    else:
        backbone.requires_grad_(False)
    return sum(1 for _ in backbone.parameters())
