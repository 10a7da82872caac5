"""Convolution (im2col + GEMM) and transposed convolution.

    conv2d:            y[n, o] = b[o] + sum_{c in group(o), i, j} w[o, c, i, j] * xpad[n, c, s*oh + d*i, s*ow + d*j]
    conv_transpose2d:  the adjoint of conv2d in its input (the gradient of a convolution), plus bias;
                       output size (H - 1)*s - 2*p + d*(k - 1) + output_padding + 1

The array work lives in :mod:`cnnkit.kernels.conv`; this module validates arguments and records the ops.
"""

from __future__ import annotations

import numpy as np

from ..autograd import Function, Tensor
from ..errors import InputError
from ..kernels.backend import kernels_for
from ..kernels.conv_arith import conv_transpose_output_size, same_padding
from ..kernels.im2col import columns_output_size
from . import _checks

__all__ = ["conv2d", "conv_transpose2d"]


class Conv2d(Function):
    """2-D convolution; ``padding`` is ((top, bottom), (left, right)). Runs on the backend's kernels; an empty batch
    never reaches them (its output and gradients are zeros of the right shapes)."""

    def forward(self, x, w, b=None, *, stride, padding, dilation, groups):
        n = self.needs_input_grad
        if n:  # keep only what backward will read: x for dw, w for dx
            self.shapes = (x.shape, w.shape)
            self.dtype = x.dtype
            self.config = (stride, padding, dilation, groups)
        if x.shape[0] == 0:
            self.kernels = None
            out = columns_output_size(x.shape[2:], w.shape[2:], stride, padding, dilation)
            return np.zeros((0, w.shape[0]) + out, dtype=x.dtype)
        self.kernels = kernels_for("conv2d", x.dtype, stride=stride, padding=padding, dilation=dilation,
                                   groups=groups)
        if n:
            self.x = x if n[1] else None
            self.w = w if n[0] else None
        return self.kernels.conv2d_forward(x, w, b, stride, padding, dilation, groups)

    def backward(self, g):
        n = self.needs_input_grad
        if self.kernels is None:
            return _zero_gradients(n, *self.shapes, self.shapes[1][0], self.dtype)
        return self.kernels.conv2d_backward(
            g.astype(self.dtype, copy=False), self.x, self.w, *self.config, need_input=n[0], need_weight=n[1],
            need_bias=len(n) > 2 and n[2], x_shape=self.shapes[0], w_shape=self.shapes[1])


class ConvTranspose2d(Function):
    """2-D transposed convolution (the input gradient of conv2d, as an op of its own). Runs on the backend's
    kernels; an empty batch or an empty output (a side of size 0) never reaches them."""

    def forward(self, x, w, b=None, *, stride, padding, output_padding, dilation, groups):
        n = self.needs_input_grad
        if n:
            self.shapes = (x.shape, w.shape)
            self.dtype = x.dtype
            self.config = (stride, padding, output_padding, dilation, groups)
        out = tuple(conv_transpose_output_size(size, k, s, p, q, d) for size, k, s, p, q, d in zip(
            x.shape[2:], w.shape[2:], stride, padding, output_padding, dilation, strict=True))
        if x.shape[0] == 0 or 0 in out:
            self.kernels = None
            return np.zeros((x.shape[0], w.shape[1] * groups) + out, dtype=x.dtype)
        self.kernels = kernels_for("conv_transpose2d", x.dtype, stride=stride, padding=padding,
                                   output_padding=output_padding, dilation=dilation, groups=groups)
        if n:
            self.x = x if n[1] else None
            self.w = w if n[0] else None
        return self.kernels.conv_transpose2d_forward(x, w, b, stride, padding, output_padding, dilation, groups)

    def backward(self, g):
        n = self.needs_input_grad
        if self.kernels is None:
            return _zero_gradients(n, *self.shapes, self.shapes[1][1] * self.config[-1], self.dtype)
        return self.kernels.conv_transpose2d_backward(
            g.astype(self.dtype, copy=False), self.x, self.w, *self.config, need_input=n[0], need_weight=n[1],
            need_bias=len(n) > 2 and n[2], x_shape=self.shapes[0], w_shape=self.shapes[1])


def _zero_gradients(needs, x_shape, w_shape, channels, dtype):
    """The gradients of a convolution whose input batch or output is empty: zeros (no output reads anything)."""
    shapes = (x_shape, w_shape, (channels,))
    return tuple(np.zeros(shape, dtype) if need else None for need, shape in zip(needs, shapes, strict=False))


# ------------------------------------------------------------------------------ validation


def _check_operands(op: str, x, weight, bias, weight_layout: str):
    """Common checks; returns (x as a batch, weight, bias) as Tensors (bias may be None) and whether x was
    unbatched."""
    x, unbatched = _checks.image_input(op, x, exact=True)
    weight = _checks.tensor_arg(op, weight, "weight")
    bias = None if bias is None else _checks.tensor_arg(op, bias, "bias")
    _checks.check_same_dtype(op, x, weight, "weight")
    if bias is not None:
        _checks.check_same_dtype(op, x, bias, "bias")
    if weight.ndim != 4:
        raise InputError(f"{op}: expected a 4-D weight {weight_layout}, got shape {weight.shape}")
    if 0 in weight.shape:
        raise InputError(f"{op}: weight must not have an empty dimension, got shape {weight.shape}")
    return x, weight, bias, unbatched


def _check_bias(op: str, bias, channels: int) -> None:
    if bias is not None and bias.shape != (channels,):
        raise InputError(f"{op}: bias must have shape ({channels},) (one value per output channel), "
                         f"got {bias.shape}")


# ------------------------------------------------------------------------------ public functions


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:  # noqa: A002
    """2-D convolution (cross-correlation, as PyTorch) of ``input`` (N, C, H, W) or (C, H, W) with ``weight``
    (out_channels, C/groups, kH, kW), plus ``bias`` (out_channels,).

    ``padding``: an int, (ph, pw), ``'valid'`` (none) or ``'same'`` (stride 1 only; the output keeps the input
    size; when d*(k-1) is odd the extra row/column goes on the bottom/right). Output size per axis:
    (H + 2p - d*(k-1) - 1) // s + 1.
    """
    op = "conv2d"
    x, weight, bias, unbatched = _check_operands(op, input, weight, bias, "(out_channels, in_channels/groups, kH, kW)")
    groups = _checks.integer(op, "groups", groups, minimum=1)
    stride = _checks.positive_pair(op, "stride", stride)
    dilation = _checks.positive_pair(op, "dilation", dilation)
    out_ch, in_per_group, kh, kw = weight.shape
    channels, h, w = x.shape[-3:]
    if channels % groups:
        raise InputError(f"{op}: input channels ({channels}) must be divisible by groups ({groups})")
    if out_ch % groups:
        raise InputError(f"{op}: weight's out_channels ({out_ch}) must be divisible by groups ({groups}) "
                         f"(weight shape {weight.shape})")
    if in_per_group * groups != channels:
        extra = f", groups={groups}" if groups != 1 else ""
        raise InputError(f"{op}: input has {channels} channels but weight expects {in_per_group * groups} "
                         f"(weight shape {weight.shape}{extra})")
    _check_bias(op, bias, out_ch)
    if isinstance(padding, str):
        if padding == "valid":
            pads = ((0, 0), (0, 0))
        elif padding == "same":
            if stride != (1, 1):
                raise InputError(f"{op}: padding='same' is only supported with stride 1, got stride {stride}")
            pads = (same_padding(kh, dilation[0]), same_padding(kw, dilation[1]))
        else:
            raise InputError(f"{op}: padding must be 'same', 'valid', an int or a pair of ints, got {padding!r}")
    else:
        ph, pw = _checks.non_negative_pair(op, "padding", padding)
        pads = ((ph, ph), (pw, pw))
    out_size = columns_output_size((h, w), (kh, kw), stride, pads, dilation)
    if min(out_size) < 1:
        padded = (h + pads[0][0] + pads[0][1], w + pads[1][0] + pads[1][1])
        raise InputError(f"{op}: kernel {kh}x{kw} (dilation {dilation}) is larger than the padded input "
                         f"{padded[0]}x{padded[1]} (input {h}x{w}, padding {pads}): the output size would be "
                         f"{out_size[0]}x{out_size[1]}")
    y = Conv2d.apply(x, weight, bias, stride=stride, padding=pads, dilation=dilation, groups=groups)
    return _checks.unbatch(y, unbatched)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,  # noqa: A002
                     dilation=1) -> Tensor:
    """2-D transposed convolution of ``input`` (N, C, H, W) or (C, H, W) with ``weight``
    (C, out_channels/groups, kH, kW), plus ``bias`` (out_channels,): the gradient of conv2d with respect to
    its input. Output size per axis: (H - 1)*s - 2*p + d*(k - 1) + output_padding + 1, where
    output_padding < max(stride, dilation) selects among the input sizes that a stride-s conv maps to H.
    """
    op = "conv_transpose2d"
    x, weight, bias, unbatched = _check_operands(op, input, weight, bias,
                                                 "(in_channels, out_channels/groups, kH, kW)")
    groups = _checks.integer(op, "groups", groups, minimum=1)
    stride = _checks.positive_pair(op, "stride", stride)
    dilation = _checks.positive_pair(op, "dilation", dilation)
    if isinstance(padding, str):
        raise InputError(f"{op}: padding must be an int or a pair of ints, got {padding!r}")
    padding = _checks.non_negative_pair(op, "padding", padding)
    output_padding = _checks.non_negative_pair(op, "output_padding", output_padding)
    in_ch, out_per_group, kh, kw = weight.shape
    channels, h, w = x.shape[-3:]
    if channels % groups:
        raise InputError(f"{op}: input channels ({channels}) must be divisible by groups ({groups})")
    if in_ch != channels:
        raise InputError(f"{op}: input has {channels} channels but weight expects {in_ch} "
                         f"(weight shape {weight.shape})")
    _check_bias(op, bias, out_per_group * groups)
    for axis in (0, 1):
        if output_padding[axis] >= max(stride[axis], dilation[axis]):
            raise InputError(f"{op}: output_padding must be smaller than either stride or dilation, got "
                             f"output_padding {output_padding} with stride {stride} and dilation {dilation}")
    out_size = tuple(conv_transpose_output_size(size, k, s, p, q, d) for size, k, s, p, q, d in zip(
        (h, w), (kh, kw), stride, padding, output_padding, dilation, strict=True))
    if min(out_size) < 0:  # a side of size 0 is an empty output (as PyTorch's batched float32 path)
        raise InputError(f"{op}: the output size would be {out_size[0]}x{out_size[1]}, which is not positive "
                         f"(input {h}x{w}, kernel {kh}x{kw}, stride {stride}, padding {padding}, "
                         f"dilation {dilation}, output_padding {output_padding}); a side of size 0 gives an empty "
                         f"output, a negative one is an error")
    y = ConvTranspose2d.apply(x, weight, bias, stride=stride, padding=padding, output_padding=output_padding,
                              dilation=dilation, groups=groups)
    return _checks.unbatch(y, unbatched)
