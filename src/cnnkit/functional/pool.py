"""Max, average and adaptive pooling (PyTorch semantics); max-pool backward routes each gradient to its arg-max.

Window of output i along an axis: input positions i*stride - padding + j*dilation, j = 0..kernel_size-1.

    max_pool2d:          y = max over the window (padding is -inf), index = h*W + w of the arg-max
    avg_pool2d:          y = sum over the window / divisor
    adaptive_*_pool2d:   bins [floor(i*H/out), ceil((i+1)*H/out)) along each axis

Every op accepts a batched (N, C, H, W) or an unbatched (C, H, W) input, as PyTorch does.
"""

from __future__ import annotations

import numpy as np

from ..autograd import Function, Tensor
from ..errors import InputError, InputTypeError
from ..kernels import pool as _k
from ..kernels.backend import kernels_for
from ..kernels.conv_arith import pair

__all__ = ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d"]

def _as_batch(x: np.ndarray) -> np.ndarray:
    return x[None] if x.ndim == 3 else x


class MaxPool2d(Function):
    """y = max over each window; backward routes each gradient to its arg-max, summing where windows overlap.
    Runs on the backend's kernels."""

    def forward(self, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices=False):
        x4 = _as_batch(x)
        self.kernels = kernels_for("max_pool2d", x.dtype, kernel_size=kernel_size, stride=stride, padding=padding,
                                   dilation=dilation, ceil_mode=ceil_mode, return_indices=return_indices)
        out, self.saved, idx = self.kernels.max_pool2d_forward(x4, kernel_size, stride, padding, dilation,
                                                               ceil_mode, bool(self.needs_input_grad),
                                                               return_indices)
        self.shape, self.unbatched = x4.shape, x.ndim == 3
        if return_indices:
            self.extras = (idx[0] if x.ndim == 3 else idx,)
        return out[0] if x.ndim == 3 else out

    def backward(self, g):
        grad = self.kernels.max_pool2d_backward(_as_batch(g), self.saved, self.shape)
        return grad[0] if self.unbatched else grad


class AvgPool2d(Function):
    """y = window sum / divisor; backward spreads g / divisor evenly over each window. Runs on the backend's
    kernels."""

    def forward(self, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
        self.shape = _as_batch(x).shape
        self.unbatched = x.ndim == 3
        self.args = (kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
        self.kernels = kernels_for("avg_pool2d", x.dtype, kernel_size=kernel_size, stride=stride, padding=padding,
                                   ceil_mode=ceil_mode, count_include_pad=count_include_pad,
                                   divisor_override=divisor_override)
        out = self.kernels.avg_pool2d_forward(_as_batch(x), *self.args)
        return out[0] if self.unbatched else out

    def backward(self, g):
        grad = self.kernels.avg_pool2d_backward(_as_batch(g), self.shape, *self.args)
        return grad[0] if self.unbatched else grad


class AdaptiveAvgPool2d(Function):
    """y[i, j] = mean of x over bin (i, j); backward spreads g / bin size over each bin."""

    def forward(self, x, output_size):
        self.shape, self.unbatched = _as_batch(x).shape, x.ndim == 3
        out = _k.adaptive_avg_pool2d_forward(_as_batch(x), output_size)
        return out[0] if self.unbatched else out

    def backward(self, g):
        grad = _k.adaptive_avg_pool2d_backward(_as_batch(g), self.shape)
        return grad[0] if self.unbatched else grad


class AdaptiveMaxPool2d(Function):
    """y[i, j] = max of x over bin (i, j); backward routes each gradient to its arg-max."""

    def forward(self, x, output_size, return_indices=False):
        self.shape, self.unbatched = _as_batch(x).shape, x.ndim == 3
        out, idx = _k.adaptive_max_pool2d_forward(_as_batch(x), output_size)
        if self.needs_input_grad:
            self.indices = idx
        if return_indices:
            self.extras = (idx[0] if self.unbatched else idx,)
        return out[0] if self.unbatched else out

    def backward(self, g):
        grad = _k.max_pool2d_backward(_as_batch(g), self.indices, self.shape)
        return grad[0] if self.unbatched else grad


# ------------------------------------------------------------------------------ argument checks


def _check_input(op: str, x) -> None:
    if isinstance(x, Tensor):
        data = x.data
    elif isinstance(x, np.ndarray):
        data = x
    else:
        raise InputTypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if data.dtype.kind != "f":
        raise InputTypeError(f"{op}: expected a floating-point input, got dtype {data.dtype}")
    if data.ndim not in (3, 4):
        raise InputError(f"{op}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape {data.shape}")
    if 0 in data.shape[-3:]:
        raise InputError(f"{op}: expected non-zero channel and spatial sizes, got shape {data.shape}")


def _positive_pair(op: str, name: str, value, minimum: int = 1) -> tuple[int, int]:
    p = pair(value, name, op)
    if min(p) < minimum:
        what = "positive" if minimum == 1 else "non-negative"
        raise InputError(f"{op}: {name} must be {what}, got {value!r}")
    return p


def _window_args(op, x, kernel_size, stride, padding, dilation, ceil_mode):
    """Validated (kernel, stride, padding, dilation) pairs for a pooling window sweep over ``x``."""
    k = _positive_pair(op, "kernel_size", kernel_size)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) else \
        _positive_pair(op, "stride", stride)
    p = _positive_pair(op, "padding", padding, minimum=0)
    d = _positive_pair(op, "dilation", dilation)
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise InputError(f"{op}: padding must be at most half of kernel_size (padding <= kernel_size // 2), "
                         f"got padding={p} and kernel_size={k}")
    h, w = x.shape[-2:]
    out = _k.pool_output_shape(h, w, k, s, p, d, bool(ceil_mode))
    if min(out) < 1:
        raise InputError(f"{op}: input of spatial size {(h, w)} is too small for kernel_size={k}, stride={s}, "
                         f"padding={p}, dilation={d}, ceil_mode={bool(ceil_mode)}: the output size would be {out}")
    return k, s, p, d


def _output_size(op: str, x, output_size) -> tuple[int, int]:
    """An adaptive output size as an (h, w) pair; None entries keep the input size."""
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 2:
            raise InputError(f"{op}: output_size must be an int or a pair, got {output_size!r}")
        size = tuple(x.shape[-2 + i] if v is None else v for i, v in enumerate(output_size))
    else:
        size = output_size
    size = pair(size, "output_size", op)
    if min(size) < 1:
        raise InputError(f"{op}: output_size must be positive, got {output_size!r}")
    return size


# ------------------------------------------------------------------------------ public functions


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,  # noqa: A002
               return_indices=False):
    """2-D max pooling over (N, C, H, W) or (C, H, W); with ``return_indices`` also returns the int64 flat
    indices h*W + w of each maximum (ties go to the first element of the window, as in PyTorch)."""
    op = "max_pool2d"
    _check_input(op, input)
    k, s, p, d = _window_args(op, input, kernel_size, stride, padding, dilation, ceil_mode)
    apply = MaxPool2d.apply_with_extras if return_indices else MaxPool2d.apply
    return apply(input, kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=bool(ceil_mode),
                 return_indices=bool(return_indices))


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,  # noqa: A002
               divisor_override=None):
    """2-D average pooling: window sum / divisor, where the divisor is ``divisor_override`` if given, else the
    window size clipped to the padded input (``count_include_pad``) or to the input itself."""
    op = "avg_pool2d"
    _check_input(op, input)
    k, s, p, _ = _window_args(op, input, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None:
        if isinstance(divisor_override, bool) or not isinstance(divisor_override, (int, np.integer)):
            raise InputTypeError(f"{op}: divisor_override must be an int, got {divisor_override!r}")
        if divisor_override == 0:
            raise InputError(f"{op}: divisor_override must be non-zero, got 0")
        divisor_override = int(divisor_override)
    return AvgPool2d.apply(input, kernel_size=k, stride=s, padding=p, ceil_mode=bool(ceil_mode),
                           count_include_pad=bool(count_include_pad), divisor_override=divisor_override)


def adaptive_avg_pool2d(input, output_size):  # noqa: A002
    """Average over bins [floor(i*H/out), ceil((i+1)*H/out)); ``output_size=1`` is global average pooling."""
    op = "adaptive_avg_pool2d"
    _check_input(op, input)
    return AdaptiveAvgPool2d.apply(input, output_size=_output_size(op, input, output_size))


def adaptive_max_pool2d(input, output_size, return_indices=False):  # noqa: A002
    """Max over bins [floor(i*H/out), ceil((i+1)*H/out)); with ``return_indices`` also the int64 flat indices."""
    op = "adaptive_max_pool2d"
    _check_input(op, input)
    apply = AdaptiveMaxPool2d.apply_with_extras if return_indices else AdaptiveMaxPool2d.apply
    return apply(input, output_size=_output_size(op, input, output_size), return_indices=bool(return_indices))
