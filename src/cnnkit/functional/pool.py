"""Max, average and adaptive pooling (PyTorch semantics); max-pool backward routes each gradient to its arg-max.

Window of output i along an axis: input positions i*stride - padding + j*dilation, j = 0..kernel_size-1.

    max_pool2d:          y = max over the window (padding is -inf), index = h*W + w of the arg-max
    max_unpool2d:        y = zeros of the output size, y.flat[index] = x (per plane); the partial inverse of
                         max_pool2d: default output size (h - 1)*stride - 2*padding + kernel_size
    avg_pool2d:          y = sum over the window / divisor
    adaptive_*_pool2d:   bins [floor(i*H/out), ceil((i+1)*H/out)) along each axis

Every op accepts a batched (N, C, H, W) or an unbatched (C, H, W) input, as PyTorch does.
"""

from __future__ import annotations

import numpy as np

from ..autograd import Function, Tensor
from ..errors import InputError
from ..kernels import pool as _k
from ..kernels.backend import kernels_for
from . import _checks

__all__ = ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d", "max_unpool2d"]

class MaxPool2d(Function):
    """y = max over each window; backward routes each gradient to its arg-max, summing where windows overlap.
    Runs on the backend's kernels (an empty batch never reaches them). Input (N, C, H, W)."""

    def forward(self, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices=False):
        self.shape = x.shape
        if x.shape[0] == 0:
            self.kernels = None
            out = np.zeros(x.shape[:2] + _k.pool_output_shape(*x.shape[2:], kernel_size, stride, padding, dilation,
                                                              ceil_mode), dtype=x.dtype)
            if return_indices:
                self.extras = (np.zeros(out.shape, np.int64),)
            return out
        self.kernels = kernels_for("max_pool2d", x.dtype, kernel_size=kernel_size, stride=stride, padding=padding,
                                   dilation=dilation, ceil_mode=ceil_mode, return_indices=return_indices)
        out, self.saved, idx = self.kernels.max_pool2d_forward(x, kernel_size, stride, padding, dilation,
                                                               ceil_mode, bool(self.needs_input_grad),
                                                               return_indices)
        if return_indices:
            self.extras = (idx,)
        return out

    def backward(self, g):
        if self.kernels is None:
            return np.zeros(self.shape, g.dtype)
        return self.kernels.max_pool2d_backward(g, self.saved, self.shape)


class AvgPool2d(Function):
    """y = window sum / divisor; backward spreads g / divisor evenly over each window. Runs on the backend's
    kernels (an empty batch never reaches them). Input (N, C, H, W)."""

    def forward(self, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
        self.shape = x.shape
        self.args = (kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
        if x.shape[0] == 0:
            self.kernels = None
            return np.zeros(x.shape[:2] + _k.pool_output_shape(*x.shape[2:], kernel_size, stride, padding,
                                                               (1, 1), ceil_mode), dtype=x.dtype)
        self.kernels = kernels_for("avg_pool2d", x.dtype, kernel_size=kernel_size, stride=stride, padding=padding,
                                   ceil_mode=ceil_mode, count_include_pad=count_include_pad,
                                   divisor_override=divisor_override)
        return self.kernels.avg_pool2d_forward(x, *self.args)

    def backward(self, g):
        if self.kernels is None:
            return np.zeros(self.shape, g.dtype)
        return self.kernels.avg_pool2d_backward(g, self.shape, *self.args)


class AdaptiveAvgPool2d(Function):
    """y[i, j] = mean of x over bin (i, j); backward spreads g / bin size over each bin. Input (N, C, H, W)."""

    def forward(self, x, output_size):
        self.shape = x.shape
        return _k.adaptive_avg_pool2d_forward(x, output_size)

    def backward(self, g):
        return _k.adaptive_avg_pool2d_backward(g, self.shape)


class AdaptiveMaxPool2d(Function):
    """y[i, j] = max of x over bin (i, j); backward routes each gradient to its arg-max. Input (N, C, H, W)."""

    def forward(self, x, output_size, return_indices=False):
        self.shape = x.shape
        out, idx = _k.adaptive_max_pool2d_forward(x, output_size)
        if self.needs_input_grad:
            self.indices = idx
        if return_indices:
            self.extras = (idx,)
        return out

    def backward(self, g):
        return _k.max_pool2d_backward(g, self.indices, self.shape)


class MaxUnpool2d(Function):
    """y = zeros (N, C, *output_size); y.flat[indices] = x per (H, W) plane. Backward reads the output gradient
    back at each index; the indices get no gradient. Inputs (N, C, h, w) values and int64 indices."""

    def forward(self, x, indices, kernel_size, stride, padding, output_size):
        self.indices = indices
        return _k.max_unpool2d_forward(x, indices, output_size)

    def backward(self, g):
        return _k.max_unpool2d_backward(g, self.indices), None


# ------------------------------------------------------------------------------ argument checks


def _window_args(op, x, kernel_size, stride, padding, dilation, ceil_mode):
    """Validated (kernel, stride, padding, dilation) pairs for a pooling window sweep over ``x``."""
    k = _checks.positive_pair(op, "kernel_size", kernel_size)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) else \
        _checks.positive_pair(op, "stride", stride)
    p = _checks.non_negative_pair(op, "padding", padding)
    d = _checks.positive_pair(op, "dilation", dilation)
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
    size = _checks.pair(op, "output_size", size)
    if min(size) < 1:
        raise InputError(f"{op}: output_size must be positive, got {output_size!r}")
    return size


# ------------------------------------------------------------------------------ public functions


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,  # noqa: A002
               return_indices=False):
    """2-D max pooling over (N, C, H, W) or (C, H, W); with ``return_indices`` also returns the int64 flat
    indices h*W + w of each maximum (ties go to the first element of the window, as in PyTorch)."""
    op = "max_pool2d"
    x, unbatched = _checks.image_input(op, input)
    k, s, p, d = _window_args(op, x, kernel_size, stride, padding, dilation, ceil_mode)
    apply = MaxPool2d.apply_with_extras if return_indices else MaxPool2d.apply
    return _checks.unbatch(apply(x, kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=bool(ceil_mode),
                                 return_indices=bool(return_indices)), unbatched)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,  # noqa: A002
               divisor_override=None):
    """2-D average pooling: window sum / divisor, where the divisor is ``divisor_override`` if given, else the
    window size clipped to the padded input (``count_include_pad``) or to the input itself."""
    op = "avg_pool2d"
    x, unbatched = _checks.image_input(op, input)
    k, s, p, _ = _window_args(op, x, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None:
        divisor_override = _checks.integer(op, "divisor_override", divisor_override)
        if divisor_override == 0:
            raise InputError(f"{op}: divisor_override must be non-zero, got 0")
    return _checks.unbatch(AvgPool2d.apply(x, kernel_size=k, stride=s, padding=p, ceil_mode=bool(ceil_mode),
                                           count_include_pad=bool(count_include_pad),
                                           divisor_override=divisor_override), unbatched)


def adaptive_avg_pool2d(input, output_size):  # noqa: A002
    """Average over bins [floor(i*H/out), ceil((i+1)*H/out)); ``output_size=1`` is global average pooling."""
    op = "adaptive_avg_pool2d"
    x, unbatched = _checks.image_input(op, input)
    return _checks.unbatch(AdaptiveAvgPool2d.apply(x, output_size=_output_size(op, x, output_size)), unbatched)


def adaptive_max_pool2d(input, output_size, return_indices=False):  # noqa: A002
    """Max over bins [floor(i*H/out), ceil((i+1)*H/out)); with ``return_indices`` also the int64 flat indices."""
    op = "adaptive_max_pool2d"
    x, unbatched = _checks.image_input(op, input)
    apply = AdaptiveMaxPool2d.apply_with_extras if return_indices else AdaptiveMaxPool2d.apply
    return _checks.unbatch(apply(x, output_size=_output_size(op, x, output_size),
                                 return_indices=bool(return_indices)), unbatched)


def unpool_output_size(op: str, in_hw, kernel_size, stride, padding, output_size=None) -> tuple[int, int]:
    """The (H, W) of a max unpooling: (h - 1)*stride - 2*padding + kernel_size, or ``output_size`` (its last two
    entries) when given, which must lie strictly within stride of that default (PyTorch's rule)."""
    default = tuple((in_hw[i] - 1) * stride[i] - 2 * padding[i] + kernel_size[i] for i in range(2))
    if output_size is None:
        size = default
    else:
        if isinstance(output_size, (tuple, list)) and len(output_size) in (2, 3, 4):
            size = tuple(output_size)[-2:]
        else:
            raise InputError(f"{op}: output_size must be (H, W), (C, H, W) or (N, C, H, W), got {output_size!r}")
        size = _checks.pair(op, "output_size", size)
        for i in range(2):
            low, high = default[i] - stride[i], default[i] + stride[i]
            if not low < size[i] < high:
                raise InputError(f"{op}: output_size {size} is not possible for input of spatial size "
                                 f"{tuple(in_hw)}: each side must lie strictly between {default[i]} - stride and "
                                 f"{default[i]} + stride, i.e. in ({low}, {high}) along axis {i}")
    if min(size) < 1:
        raise InputError(f"{op}: the output size would be {size} for input of spatial size {tuple(in_hw)}, "
                         f"kernel_size={kernel_size}, stride={stride}, padding={padding}")
    return size


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):  # noqa: A002
    """The partial inverse of :func:`max_pool2d`: each value goes to the position its index names (flat h*W + w
    within its (H, W) plane, as ``max_pool2d(..., return_indices=True)`` returns them); every other output is 0.
    The output size is (h - 1)*stride - 2*padding + kernel_size unless ``output_size`` says otherwise (within
    stride of that). Input (N, C, h, w) or (C, h, w); ``indices`` of the same shape."""
    op = "max_unpool2d"
    x, unbatched = _checks.image_input(op, input)
    k = _checks.positive_pair(op, "kernel_size", kernel_size)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) else \
        _checks.positive_pair(op, "stride", stride)
    p = _checks.non_negative_pair(op, "padding", padding)
    idx = indices.data if isinstance(indices, Tensor) else np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise InputError(f"{op}: indices must be integers (from max_pool2d with return_indices=True), got dtype "
                         f"{idx.dtype}")
    if unbatched:
        idx = idx.reshape(1, *idx.shape) if idx.ndim == 3 else idx
    if idx.shape != x.shape:
        raise InputError(f"{op}: indices must have the input's shape {tuple(x.shape)}, got {tuple(idx.shape)}")
    size = unpool_output_size(op, x.shape[-2:], k, s, p, output_size)
    plane = size[0] * size[1]
    if idx.size and (idx.min() < 0 or idx.max() >= plane):
        bad = int(idx.max()) if idx.max() >= plane else int(idx.min())
        raise InputError(f"{op}: index {bad} is outside the output plane of {size[0]}x{size[1]} = {plane} "
                         f"elements (indices must be in [0, {plane}))")
    if not (isinstance(indices, Tensor) and indices.data is idx and idx.dtype == np.int64):
        indices = Tensor(np.ascontiguousarray(idx, dtype=np.int64))  # (the pooling's own tensor keeps the graph link)
    return _checks.unbatch(MaxUnpool2d.apply(x, indices, kernel_size=k, stride=s, padding=p,
                                             output_size=size), unbatched)
