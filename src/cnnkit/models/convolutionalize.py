"""Turn a classifier into a fully convolutional network (Long et al., 2015, section 3.1).

A fully connected layer that sees a (C, h, w) feature map is a convolution with a (C, h, w) kernel and no
padding: ``Linear(C*h*w, n)`` with weight ``W`` becomes ``Conv2d(C, n, (h, w))`` with weight
``W.reshape(n, C, h, w)`` (the NCHW flatten order), and every later ``Linear(m, n)`` a 1x1 convolution. On the
natural input the network computes the same logits (as an (N, n, 1, 1) map); on a larger input it slides the
classifier over the image and gives an (N, n, h', w') map of class scores.
"""

from __future__ import annotations

import copy
from collections import OrderedDict

import numpy as np

from .. import nn
from ..autograd import Tensor, no_grad
from ..errors import InputError

__all__ = ["convolutionalize"]

# Leaves that act element-wise, so they work unchanged on the class-score maps after the first Linear.
_ELEMENTWISE = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.ELU, nn.GELU, nn.Dropout, nn.Dropout2d,
                nn.Identity)
_ADAPTIVE = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


def _leaves(module: nn.Module, prefix: str = ""):
    """(path, module) in the order the model applies them: containers (Sequential, the model itself) are opened,
    any other module with children is one opaque block."""
    for name, child in module.named_children():
        path = f"{prefix}{name}"
        if isinstance(child, nn.Sequential):
            yield from _leaves(child, path + ".")
        else:
            yield path, child


def _shapes(model: nn.Module, leaves, input_size) -> dict:
    """{path: (input shape, output shape)} of each leaf on one input of ``input_size`` (C, H, W)."""
    shapes, handles = {}, []
    for path, leaf in leaves:
        def hook(mod, inputs, output, path=path):
            shapes[path] = (tuple(inputs[0].shape), tuple(output.shape) if hasattr(output, "shape") else None)

        handles.append(leaf.register_forward_hook(hook))
    x = Tensor(np.zeros((1, *input_size), np.float32))
    try:
        with no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return shapes


def _adaptive_to_fixed(path: str, pool: nn.Module, in_hw, out_hw):
    """An adaptive pooling that is the identity at the natural size is dropped (None); one whose input is an
    exact multiple of its output becomes the fixed pooling it equals there; anything else cannot slide."""
    if tuple(in_hw) == tuple(out_hw):
        return None
    if all(i % o == 0 for i, o in zip(in_hw, out_hw, strict=True)):
        k = tuple(i // o for i, o in zip(in_hw, out_hw, strict=True))
        return nn.AvgPool2d(k, k) if isinstance(pool, nn.AdaptiveAvgPool2d) else nn.MaxPool2d(k, k)
    raise InputError(f"convolutionalize: layer {path!r} ({type(pool).__name__}) pools {tuple(in_hw)} to "
                     f"{tuple(out_hw)}, which is not a fixed window; it cannot be made convolutional")


def _linear_to_conv(linear: nn.Linear, spatial) -> nn.Conv2d:
    """``Linear(C*h*w, n)`` -> ``Conv2d(C, n, (h, w))`` with the weights reshaped ((1, 1) after the first)."""
    channels, h, w = spatial
    with nn.init.skip_init():  # every weight is copied in below
        conv = nn.Conv2d(channels, linear.out_features, (h, w), bias=linear.bias is not None)
    conv.weight.data[...] = linear.weight.data.reshape(linear.out_features, channels, h, w)
    if linear.bias is not None:
        conv.bias.data[...] = linear.bias.data
    return conv


def convolutionalize(model: nn.Module, input_size, check: bool = True) -> nn.Sequential:
    """A fully convolutional copy of the classifier ``model`` whose natural input is ``input_size`` (C, H, W).

    The model must apply its layers in the order they are registered (LeNet-5, AlexNet, VGG, any
    ``Sequential``-style classifier; flattening may happen in ``forward``). Layers before the first ``Linear``
    are copied; ``Flatten`` is dropped; an adaptive pooling that is the identity at ``input_size`` is dropped
    (one that pools by an exact factor becomes that fixed pooling); the first ``Linear`` becomes a convolution
    whose kernel covers its input's spatial size and the later ones 1x1 convolutions. The result maps
    (N, C, H', W') to (N, classes, h', w'), with h' = w' = 1 at ``input_size``. With ``check`` the copy's output
    on a random natural-size input is compared to the model's (eval mode); a model whose forward is not its
    layers in order is an :class:`InputError`. The original model is not changed.
    """
    if not isinstance(model, nn.Module):
        raise InputError(f"convolutionalize: expected a Module, got {type(model).__name__}")
    size = tuple(int(s) for s in input_size) if isinstance(input_size, (tuple, list)) else ()
    if len(size) != 3 or min(size) < 1:
        raise InputError(f"convolutionalize: input_size must be (C, H, W) positive ints, got {input_size!r}")
    leaves = list(_leaves(model))
    was_training = model.training
    model.eval()
    try:
        shapes = _shapes(model, leaves, size)
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        spatial = None  # (C, h, w) of the last 4-D feature map before the first Linear
        seen_linear = False
        for path, leaf in leaves:
            if path not in shapes:
                raise InputError(f"convolutionalize: layer {path!r} ({type(leaf).__name__}) is not used by the "
                                 f"forward pass; the model must apply its layers in order")
            in_shape, out_shape = shapes[path]
            name = path.replace(".", "_")
            if isinstance(leaf, nn.Linear):
                if seen_linear:
                    layers[name] = _linear_to_conv(leaf, (leaf.in_features, 1, 1))
                else:
                    if spatial is None or int(np.prod(spatial)) != leaf.in_features:
                        raise InputError(f"convolutionalize: layer {path!r} (Linear) takes {leaf.in_features} "
                                         f"features, but the last feature map before it is {spatial}")
                    layers[name] = _linear_to_conv(leaf, spatial)
                    seen_linear = True
            elif isinstance(leaf, _ELEMENTWISE):
                layers[name] = copy.deepcopy(leaf)
            elif seen_linear:
                raise InputError(f"convolutionalize: layer {path!r} ({type(leaf).__name__}) follows a Linear and "
                                 f"is not element-wise; it cannot be made convolutional")
            elif isinstance(leaf, nn.Flatten):
                continue
            elif isinstance(leaf, _ADAPTIVE):
                fixed = _adaptive_to_fixed(path, leaf, in_shape[-2:], out_shape[-2:])
                if fixed is not None:
                    layers[name] = fixed
                spatial = out_shape[1:]
            else:
                if out_shape is None or len(out_shape) != 4:
                    raise InputError(f"convolutionalize: layer {path!r} ({type(leaf).__name__}) does not return "
                                     f"an (N, C, H, W) map; it cannot be made convolutional")
                layers[name] = copy.deepcopy(leaf)
                spatial = out_shape[1:]
        if not seen_linear:
            raise InputError(f"convolutionalize: {type(model).__name__} has no Linear layer to convert")
        result = nn.Sequential(layers)
        if check:
            _check_same(model, result, size)
    finally:
        model.train(was_training)
    return result.train(was_training)


def _check_same(model, result, size) -> None:
    result.eval()
    x = Tensor(np.random.default_rng(0).standard_normal((1, *size)).astype(np.float32))
    with no_grad():
        ref = np.asarray(model(x).data, np.float64)
        out = np.asarray(result(x).data, np.float64).reshape(ref.shape)
    scale = max(1.0, float(np.abs(ref).max()))
    if not np.allclose(out, ref, rtol=1e-4, atol=1e-4 * scale):
        raise InputError(f"convolutionalize: the converted {type(model).__name__} does not reproduce its logits; "
                         f"its forward is not its layers applied in order, so it cannot be converted")
