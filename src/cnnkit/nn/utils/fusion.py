"""Inference fusion: convolution + batch norm + ReLU as one oneDNN primitive, automatically.

In eval mode under ``no_grad``, on the oneDNN backend, ``nn.Conv2d`` does not run at once: it returns a
:class:`PendingConv`, a Tensor that knows its shape and dtype and computes its data on first access. An
``nn.BatchNorm2d`` in eval mode (running statistics) applied to it returns a new pending result with the batch norm
folded into the convolution's weights and bias; adding a same-shaped tensor to one (a residual) makes the addition a
post-op; an ``nn.ReLU`` applied to one makes ReLU the primitive's last post-op. Anything else that reads the data
(the next layer, a hook, ``.numpy()``) runs the fused primitive once. So ``relu(bn(conv(x)))`` writes one array
instead of three, a ResNet block's ``relu(bn2(conv2(out)) + identity)`` one instead of four, and a folded weight
is computed once per parameter update, not per call (see ``cnnkit.kernels.onednn._weights``).

Nothing changes in training, with gradients enabled, on the reference backend, or for modules used through the
functional API (``F.batch_norm(conv_output, ...)`` reads the data, which runs the convolution unfused). Results
equal the unfused ones up to float32 rounding (folding rescales the weights). Set ``CNNKIT_FUSION=0`` to turn the
fusion off; :func:`fuse_conv_bn` folds batch norms into convolutions explicitly, for any backend.
"""

from __future__ import annotations

import copy
import os

import numpy as np

from ...autograd import Tensor, is_grad_enabled
from ...kernels.backend import kernels_for

__all__ = ["PendingConv", "lazy_conv2d", "fuse_conv_bn", "fusion_enabled"]

_data_slot = Tensor.data  # the slot descriptor under PendingConv's property


def fusion_enabled() -> bool:
    return os.environ.get("CNNKIT_FUSION", "1") != "0"


class PendingConv(Tensor):
    """A convolution's output whose computation waits for the next layer (see the module docstring)."""

    __slots__ = ("_recipe", "_shape", "_done")

    def __init__(self, recipe: tuple, shape: tuple):
        Tensor.__init__(self, np.empty(0, np.float32))
        self._recipe, self._shape, self._done = recipe, shape, False

    @property
    def data(self):
        if not self._done:
            kernels, x, w, b, config, bn, relu, add = self._recipe
            y = kernels.conv2d_inference(x, w, b, *config, batch_norm=bn, relu=relu, add=add)
            if y is None:  # oneDNN declined after all: the unfused ops
                y = kernels.conv2d_forward(x, w, b, *config)
                if bn is not None:
                    gamma, beta, mean, var, eps = bn
                    y, _ = kernels.batch_norm_forward(y, mean, var, gamma, beta, False, 0.0, eps)
                if add is not None:
                    y = y + add
                if relu:
                    y = np.maximum(y, 0, out=np.empty_like(y))
            _data_slot.__set__(self, y)
            self._done, self._recipe = True, None
        return _data_slot.__get__(self)

    @data.setter
    def data(self, value):
        _data_slot.__set__(self, value)
        self._done, self._recipe = True, None

    @property
    def shape(self):
        return self._shape

    @property
    def ndim(self):
        return len(self._shape)

    @property
    def dtype(self):
        return np.dtype(np.float32)

    def _pending(self) -> tuple | None:
        return None if self._done else self._recipe

    def with_batch_norm(self, weight, bias, running_mean, running_var, eps) -> PendingConv | None:
        """This convolution with an inference batch norm folded in (None when that cannot be done)."""
        recipe = self._pending()
        if recipe is None or recipe[5] is not None or recipe[6] or recipe[7] is not None:
            return None
        kernels, x, w, b, config, _, _, _ = recipe
        arrays = [None if a is None else (a.data if isinstance(a, Tensor) else np.asarray(a))
                  for a in (weight, bias, running_mean, running_var)]
        if arrays[2] is None or arrays[3] is None or any(a is not None and a.size != self._shape[1] for a in arrays):
            return None
        return PendingConv((kernels, x, w, b, config, (*arrays, float(eps)), False, None), self._shape)

    def with_relu(self) -> PendingConv | None:
        recipe = self._pending()
        if recipe is None or recipe[6]:
            return None
        return PendingConv(recipe[:6] + (True, recipe[7]), self._shape)

    def with_residual(self, other) -> PendingConv | None:
        """This convolution plus ``other`` (a same-shaped float32 Tensor or array: a residual), as a post-op."""
        recipe = self._pending()
        if recipe is None or recipe[6] or recipe[7] is not None:
            return None
        if isinstance(other, Tensor):
            if other.requires_grad:
                return None
            other = other.data  # (runs it, if it is pending itself)
        if not isinstance(other, np.ndarray) or other.dtype != np.float32 or other.shape != self._shape:
            return None
        return PendingConv(recipe[:7] + (other,), self._shape)

    def __add__(self, other):
        fused = self.with_residual(other)
        return Tensor.__add__(self, other) if fused is None else fused

    def __radd__(self, other):
        fused = self.with_residual(other)
        return Tensor.__radd__(self, other) if fused is None else fused


def lazy_conv2d(conv, input) -> PendingConv | None:
    """``conv(input)`` as a :class:`PendingConv` when fusion applies (eval, no grad, a backend with fused
    inference, float32, plain numeric padding, an input whose shape the layer accepts); else None."""
    if conv.training or is_grad_enabled() or not isinstance(input, Tensor) or not fusion_enabled():
        return None
    if isinstance(input, PendingConv):
        input.data  # noqa: B018 - one pending op at a time
    x = input.data
    w = conv.weight.data
    if x.dtype != np.float32 or x.ndim != 4 or w.dtype != np.float32 or x.shape[1] != w.shape[1] * conv.groups:
        return None
    if isinstance(conv.padding, str) or getattr(conv, "padding_mode", "zeros") != "zeros":
        return None
    stride, dilation, groups = tuple(conv.stride), tuple(conv.dilation), conv.groups
    ph, pw = conv.padding
    padding = ((ph, ph), (pw, pw))
    kernels = kernels_for("conv2d", x.dtype, stride=stride, padding=padding, dilation=dilation, groups=groups)
    if not hasattr(kernels, "conv2d_inference"):
        return None
    oh = (x.shape[2] + 2 * ph - dilation[0] * (w.shape[2] - 1) - 1) // stride[0] + 1
    ow = (x.shape[3] + 2 * pw - dilation[1] * (w.shape[3] - 1) - 1) // stride[1] + 1
    if oh < 1 or ow < 1:
        return None
    b = None if conv.bias is None else conv.bias.data
    return PendingConv((kernels, x, w, b, (stride, padding, dilation, groups), None, False, None),
                       (x.shape[0], w.shape[0], oh, ow))


def fuse_conv_bn(model):
    """A copy of ``model`` (in eval mode) in which every ``Conv2d`` directly followed by a ``BatchNorm2d`` inside a
    ``Sequential`` has the batch norm folded into its weights and bias, and the batch norm replaced by
    ``Identity``. Works on any backend; the automatic fusion above does the same at run time on oneDNN."""
    from ..containers import Sequential
    from ..conv import Conv2d
    from ..linear import Identity
    from ..normalization import BatchNorm2d
    from ..parameter import Parameter

    fused = copy.deepcopy(model).eval()
    for module in fused.modules():
        if not isinstance(module, Sequential):
            continue
        names = list(module._modules)
        for first, second in zip(names, names[1:], strict=False):
            conv, bn = module._modules[first], module._modules[second]
            if not (isinstance(conv, Conv2d) and isinstance(bn, BatchNorm2d) and bn.running_mean is not None):
                continue
            scale = 1.0 / np.sqrt(bn.running_var.data.astype(np.float64) + bn.eps)
            if bn.weight is not None:
                scale = scale * bn.weight.data
            shift = -bn.running_mean.data * scale + (0.0 if bn.bias is None else bn.bias.data)
            if conv.bias is not None:
                shift = shift + conv.bias.data * scale
            dtype = conv.weight.data.dtype
            conv.weight = Parameter((conv.weight.data * scale[:, None, None, None]).astype(dtype))
            conv.bias = Parameter(shift.astype(dtype))
            module._modules[second] = Identity()
    return fused
