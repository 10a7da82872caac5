"""Convolution layers: ``Conv2d`` and ``ConvTranspose2d``."""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..errors import InputError
from ..kernels.conv import conv2d_workspace_bytes
from ..kernels.conv_arith import conv_transpose_output_size, pair, same_padding
from . import init
from ._utils import factory_dtype, positive_int
from .geometry import LayerCall, LayerGeometry, ParamCount, TransposedWindow, Window
from .module import Module
from .parameter import Parameter
from .utils import fusion as _fusion

__all__ = ["Conv2d", "ConvTranspose2d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _nchw(shape) -> tuple[int, int, int, int]:
    """A 4-D shape, or a 3-D unbatched one as a batch of one."""
    return tuple(shape) if len(shape) == 4 else (1, *shape)


class _ConvNd(Module):
    """Shared parameters, validation, initialisation and repr of the convolution layers."""

    transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, output_padding, groups,
                 bias, padding_mode, device, dtype):
        super().__init__()
        name = type(self).__name__
        self.in_channels = positive_int(name, "in_channels", in_channels)
        self.out_channels = positive_int(name, "out_channels", out_channels)
        self.groups = positive_int(name, "groups", groups)
        if self.in_channels % self.groups:
            raise InputError(f"{name}: in_channels ({in_channels}) must be divisible by groups ({groups})")
        if self.out_channels % self.groups:
            raise InputError(f"{name}: out_channels ({out_channels}) must be divisible by groups ({groups})")
        self.kernel_size = pair(kernel_size, "kernel_size", name)
        self.stride = pair(stride, "stride", name)
        self.dilation = pair(dilation, "dilation", name)
        self.output_padding = pair(output_padding, "output_padding", name)
        for what, value in (("kernel_size", self.kernel_size), ("stride", self.stride),
                            ("dilation", self.dilation)):
            if min(value) <= 0:
                raise InputError(f"{name}: {what} must be positive, got {value}")
        if isinstance(padding, str):
            if self.transposed:
                raise InputError(f"{name}: string padding {padding!r} is not supported, expected an int or a pair")
            if padding not in ("same", "valid"):
                raise InputError(f"{name}: invalid padding string {padding!r}, expected one of 'same', 'valid'")
            if padding == "same" and self.stride != (1, 1):
                raise InputError(f"{name}: padding='same' is not supported for strided convolutions "
                                 f"(stride={self.stride})")
            self.padding = padding
        else:
            self.padding = pair(padding, "padding", name)
            if min(self.padding) < 0:
                raise InputError(f"{name}: padding must be non-negative, got {self.padding}")
        if padding_mode not in _PADDING_MODES:
            raise InputError(f"{name}: padding_mode must be one of {_PADDING_MODES}, got {padding_mode!r}")
        if padding_mode != "zeros":
            raise NotImplementedError(f"{name}: only padding_mode='zeros' is supported, got {padding_mode!r}")
        self.padding_mode = padding_mode
        dt = factory_dtype(name, dtype, device)
        if self.transposed:
            shape = (self.in_channels, self.out_channels // self.groups, *self.kernel_size)
        else:
            shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        self.weight = Parameter(np.empty(shape, dtype=dt))
        if bias:
            self.bias = Parameter(np.empty(self.out_channels, dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.default_weight_and_bias_(self.weight, self.bias)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0, 0):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv2d(_ConvNd):
    """2-D convolution over NCHW input; weight (out_channels, in_channels/groups, kH, kW).

    ``padding`` is an int, a pair, 'valid' or 'same' (stride 1 only). Only ``padding_mode='zeros'`` is
    implemented; the other PyTorch modes raise NotImplementedError.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, 0, groups, bias,
                         padding_mode, device, dtype)

    def forward(self, input):
        if not self.training:  # eval under no_grad on oneDNN: a pending result that the next layers can fuse into
            pending = _fusion.lazy_conv2d(self, input)
            if pending is not None:
                return pending
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def _pads(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """(before, after) padding per axis, 'same' and 'valid' resolved as the op resolves them."""
        if self.padding == "valid":
            return (0, 0), (0, 0)
        if self.padding == "same":
            return same_padding(self.kernel_size[0], self.dilation[0]), same_padding(self.kernel_size[1],
                                                                                     self.dilation[1])
        return (self.padding[0], self.padding[0]), (self.padding[1], self.padding[1])

    def geometry(self, call: LayerCall) -> LayerGeometry:
        """MACs kH*kW*(C_in/groups)*C_out*H_out*W_out*N; a window of the layer's kernel, stride, padding and
        dilation; the im2col buffers the convolution kernels allocate."""
        n, c_in, h, w = _nchw(call.input_shape)
        _, c_out, h_out, w_out = _nchw(call.output_shape)
        (kh, kw), cg, pads = self.kernel_size, self.in_channels // self.groups, self._pads()
        workspace = conv2d_workspace_bytes((n, c_in, h, w), self.weight.shape, self.stride, pads, self.dilation,
                                           self.groups, dtype=call.dtype, num_threads=call.num_threads)
        return LayerGeometry(
            macs=kh * kw * cg * c_out * h_out * w_out * n,
            window=Window(self.kernel_size, self.stride, pads, self.dilation),
            workspace_bytes=workspace,
            im2col_matrix=(c_in * kh * kw, h_out * w_out, n),
            params=ParamCount((kh, kw, cg, self.out_channels), self.out_channels if self.bias is not None else 0))


class ConvTranspose2d(_ConvNd):
    """2-D transposed convolution; weight (in_channels, out_channels/groups, kH, kW).

    ``forward(input, output_size=None)``: ``output_size`` (H, W) or (N, C, H, W) picks the output_padding
    that reaches that size, as in PyTorch."""

    transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, padding_mode: str = "zeros", device=None,
                 dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, output_padding, groups,
                         bias, padding_mode, device, dtype)
        if any(op >= max(s, d) for op, s, d in zip(self.output_padding, self.stride, self.dilation, strict=True)):
            raise InputError(f"ConvTranspose2d: output_padding {self.output_padding} must be smaller than either "
                             f"stride {self.stride} or dilation {self.dilation}")

    def _output_padding(self, input, output_size) -> tuple[int, int]:
        if output_size is None:
            return self.output_padding
        size = [int(s) for s in output_size]
        if len(size) == 4:
            size = size[2:]
        if len(size) != 2:
            raise InputError(f"ConvTranspose2d: output_size must have 2 or 4 elements (got {len(output_size)})")
        in_hw = input.shape[-2:]
        result = []
        for i in range(2):
            smallest = conv_transpose_output_size(in_hw[i], self.kernel_size[i], self.stride[i], self.padding[i], 0,
                                                  self.dilation[i])
            largest = smallest + self.stride[i] - 1
            if not smallest <= size[i] <= largest:
                raise InputError(f"ConvTranspose2d: requested an output size of {tuple(size)}, but valid sizes "
                                 f"range from ({smallest}) to ({largest}) along dimension {i} "
                                 f"for an input of size {tuple(in_hw)}")
            result.append(size[i] - smallest)
        return tuple(result)

    def forward(self, input, output_size=None):
        output_padding = self._output_padding(input, output_size)
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding, output_padding,
                                  self.groups, self.dilation)

    def geometry(self, call: LayerCall) -> LayerGeometry:
        """MACs kH*kW*(C_out/groups)*C_in*H_in*W_in*N; a transposed window (with the output_padding the call
        used, which ``output_size`` may have chosen); the column buffers the kernels allocate."""
        n, c_in, h, w = _nchw(call.input_shape)
        _, c_out, h_out, w_out = _nchw(call.output_shape)
        (kh, kw), og = self.kernel_size, self.out_channels // self.groups
        output_padding = tuple(
            out - conv_transpose_output_size(size, self.kernel_size[i], self.stride[i], self.padding[i], 0,
                                             self.dilation[i])
            for i, (size, out) in enumerate(((h, h_out), (w, w_out))))
        workspace = conv2d_workspace_bytes((n, c_in, h, w), self.weight.shape, self.stride, self.padding,
                                           self.dilation, self.groups, transposed=True, output_padding=output_padding,
                                           dtype=call.dtype, num_threads=call.num_threads)
        return LayerGeometry(
            macs=kh * kw * og * c_in * h * w * n,
            window=TransposedWindow(self.kernel_size, self.stride, self.padding, self.dilation, output_padding),
            workspace_bytes=workspace,
            im2col_matrix=(c_out * kh * kw, h * w, n),
            params=ParamCount((kh, kw, og, self.in_channels), self.out_channels if self.bias is not None else 0))
