"""Pooling layers: max, average and adaptive (2-D, NCHW)."""

from __future__ import annotations

from .. import functional as F
from ..kernels.conv_arith import pair
from .geometry import AdaptiveWindow, LayerCall, LayerGeometry, ParamCount, TransposedWindow, Window
from .module import Module

__all__ = ["MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "MaxUnpool2d"]


def _check(name: str, **sizes) -> None:
    """Type-check int-or-pair arguments early (the op checks them against the input)."""
    for what, value in sizes.items():
        pair(value, what, name)


class MaxPool2d(Module):
    """Max over ``kernel_size`` windows; ``stride`` defaults to ``kernel_size``. With ``return_indices`` the
    forward returns (output, indices) with flat per-plane indices, as PyTorch."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices: bool = False,
                 ceil_mode: bool = False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode
        _check("MaxPool2d", kernel_size=kernel_size, stride=self.stride, padding=padding, dilation=dilation)

    def forward(self, input):
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode, return_indices=self.return_indices)

    def geometry(self, call: LayerCall) -> LayerGeometry:
        """A window of the layer's kernel, stride, padding, dilation and ceil_mode; no MACs, no parameters."""
        return LayerGeometry(window=Window(pair(self.kernel_size), pair(self.stride), pair(self.padding),
                                           pair(self.dilation), self.ceil_mode), params=ParamCount())

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """Mean over ``kernel_size`` windows; ``stride`` defaults to ``kernel_size``."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override
        _check("AvgPool2d", kernel_size=kernel_size, stride=self.stride, padding=padding)

    def forward(self, input):
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def geometry(self, call: LayerCall) -> LayerGeometry:
        """A window of the layer's kernel, stride, padding and ceil_mode; no MACs, no parameters."""
        return LayerGeometry(window=Window(pair(self.kernel_size), pair(self.stride), pair(self.padding),
                                           ceil_mode=self.ceil_mode), params=ParamCount())

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


def _adaptive_geometry(call: LayerCall) -> LayerGeometry:
    """Adaptive pooling from the call's input size to its output size; no MACs, no parameters."""
    return LayerGeometry(window=AdaptiveWindow(call.input_shape[-2:], call.output_shape[-2:]), params=ParamCount())


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed ``output_size`` (int, pair, or None in a pair to keep that size)."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        return F.adaptive_avg_pool2d(input, self.output_size)

    def geometry(self, call: LayerCall) -> LayerGeometry:
        return _adaptive_geometry(call)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(Module):
    """Max pooling to a fixed ``output_size``; with ``return_indices`` also returns the argmax indices."""

    def __init__(self, output_size, return_indices: bool = False):
        super().__init__()
        self.output_size = output_size
        self.return_indices = return_indices

    def forward(self, input):
        return F.adaptive_max_pool2d(input, self.output_size, self.return_indices)

    def geometry(self, call: LayerCall) -> LayerGeometry:
        return _adaptive_geometry(call)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class MaxUnpool2d(Module):
    """The partial inverse of :class:`MaxPool2d`: ``forward(input, indices, output_size=None)`` puts each value
    where the pooling's index says and zeros elsewhere (:func:`cnnkit.nn.functional.max_unpool2d`); ``stride``
    defaults to ``kernel_size``. The SegNet decoder's upsampling."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        _check("MaxUnpool2d", kernel_size=kernel_size, stride=self.stride, padding=padding)

    def forward(self, input, indices, output_size=None):
        return F.max_unpool2d(input, indices, self.kernel_size, self.stride, self.padding, output_size)

    def geometry(self, call: LayerCall) -> LayerGeometry:
        """The adjoint of the pooling window (a transposed window of the same kernel, stride and padding, grown by
        what ``output_size`` adds to the default size); no MACs, no parameters."""
        k, s, p = pair(self.kernel_size), pair(self.stride), pair(self.padding)
        in_hw, out_hw = call.input_shape[-2:], call.output_shape[-2:]
        extra = tuple(max(0, out_hw[i] - ((in_hw[i] - 1) * s[i] - 2 * p[i] + k[i])) for i in range(2))
        return LayerGeometry(window=TransposedWindow(k, s, p, output_padding=extra), params=ParamCount())

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
