"""The reference kernel set (backend ``"numpy"``): NumPy + Numba, im2col + GEMM; it implements every kernel of
:class:`~.backend.KernelSet` and is the fallback of every other set."""

from __future__ import annotations

import numpy as np

from . import conv as _conv
from . import elementwise as _elementwise
from . import norm as _norm
from . import pool as _pool
from .backend import REFERENCE, KernelSet


def _channels_last(x4: np.ndarray) -> np.ndarray | None:
    """The C-contiguous (N, H, W, C) view of an (N, C, H, W) array with channels-last memory and C > 1, else None
    (a one-channel array is both layouts and stays with the NCHW kernels)."""
    xh = x4.transpose(0, 2, 3, 1)
    return xh if x4.shape[1] > 1 and xh.flags.c_contiguous and not x4.flags.c_contiguous else None


def _fold(x: np.ndarray) -> np.ndarray:
    """(N, C, *spatial) -> (N, C, L)."""
    return x.reshape(x.shape[0], x.shape[1], -1)


def _unfold(y: np.ndarray, shape, rows: bool) -> np.ndarray:
    """The inverse of :func:`_fold` or, for channels-last rows (M, C), the (N, C, *spatial) view of them."""
    if not rows or len(shape) == 2:
        return y.reshape(shape)
    return np.moveaxis(y.reshape((shape[0],) + tuple(shape[2:]) + (shape[1],)), -1, 1)


class _MaxPoolSaved:
    """What the reference max-pool backward needs: the arg-max indices and the windows that saw no input."""

    __slots__ = ("indices", "empty")

    def __init__(self, indices, empty):
        self.indices, self.empty = indices, empty


class _BatchNormSaved:
    """What the reference batch-norm backward needs."""

    __slots__ = ("shape", "x", "rows", "weight", "training", "mean", "invstd", "running_mean", "running_var", "eps")


class ReferenceKernels(KernelSet):
    """NumPy + Numba kernels (see :mod:`.conv`, :mod:`.pool`, :mod:`.norm`, :mod:`.elementwise`)."""

    name = REFERENCE

    # ---------------------------------------------------------------------------------------------- convolution
    def conv2d_forward(self, x, w, b, stride, padding, dilation, groups):
        return _conv.conv2d_forward(x, w, b, stride, padding, dilation, groups)

    def conv2d_backward(self, grad, x, w, stride, padding, dilation, groups, need_input, need_weight, need_bias,
                        x_shape, w_shape):
        return _conv.conv2d_backward(grad, x, w, stride, padding, dilation, groups, need_input=need_input,
                                     need_weight=need_weight, need_bias=need_bias, x_shape=x_shape, w_shape=w_shape)

    def conv_transpose2d_forward(self, x, w, b, stride, padding, output_padding, dilation, groups):
        return _conv.conv_transpose2d_forward(x, w, b, stride, padding, output_padding, dilation, groups)

    def conv_transpose2d_backward(self, grad, x, w, stride, padding, output_padding, dilation, groups, need_input,
                                  need_weight, need_bias, x_shape, w_shape):
        return _conv.conv_transpose2d_backward(grad, x, w, stride, padding, output_padding, dilation, groups,
                                               need_input=need_input, need_weight=need_weight, need_bias=need_bias,
                                               x_shape=x_shape, w_shape=w_shape)

    # ---------------------------------------------------------------------------------------------- pooling
    def max_pool2d_forward(self, x, kernel_size, stride, padding, dilation, ceil_mode, need_backward,
                           return_indices):
        need_indices = need_backward or return_indices
        xh = _channels_last(x)
        if xh is not None:  # channels-last memory (a convolution's output): the compiled NHWC kernel
            out, idx = _pool.max_pool2d_forward_nhwc(xh, kernel_size, stride, padding, dilation, ceil_mode,
                                                     return_indices=need_indices)
            out, idx = out.transpose(0, 3, 1, 2), None if idx is None else idx.transpose(0, 3, 1, 2)
        else:
            out, idx = _pool.max_pool2d_forward(x, kernel_size, stride, padding, dilation, ceil_mode,
                                                return_indices=need_indices)
        saved = None
        if need_backward:
            empty = _pool.max_pool2d_empty_windows(*x.shape[2:], kernel_size, stride, padding, dilation, ceil_mode)
            saved = _MaxPoolSaved(idx, empty)
        return out, saved, (idx if return_indices else None)

    def max_pool2d_backward(self, grad, saved, input_shape):
        g, idx = grad, saved.indices
        if saved.empty is not None:  # windows lying wholly in the padding output -inf and pass nothing back
            g, idx = np.where(saved.empty, 0, g), np.where(saved.empty, 0, idx)
        idx_h = _channels_last(idx)
        if idx_h is not None:
            g_h = np.ascontiguousarray(g.transpose(0, 2, 3, 1))
            n, c, h, w = input_shape
            return _pool.max_pool2d_backward_nhwc(g_h, idx_h, (n, h, w, c)).transpose(0, 3, 1, 2)
        return _pool.max_pool2d_backward(g, idx, input_shape)

    def avg_pool2d_forward(self, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
        return _pool.avg_pool2d_forward(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                        divisor_override)

    def avg_pool2d_backward(self, grad, input_shape, kernel_size, stride, padding, ceil_mode, count_include_pad,
                            divisor_override):
        return _pool.avg_pool2d_backward(grad, input_shape, kernel_size, stride, padding, ceil_mode,
                                         count_include_pad, divisor_override)

    # ---------------------------------------------------------------------------------------------- batch norm
    def batch_norm_forward(self, x, running_mean, running_var, weight, bias, training, momentum, eps):
        rows = _norm.channels_last_rows(x)  # channels-last memory: the compiled row kernels
        x3 = rows if rows is not None else _fold(x)
        s = _BatchNormSaved()
        s.shape, s.x, s.rows, s.weight, s.training, s.eps = x.shape, x3, rows is not None, weight, training, eps
        w = None if weight is None else weight.reshape(-1)
        b = None if bias is None else bias.reshape(-1)
        if training:
            if rows is not None:
                y, mean, var, invstd = _norm.batch_norm_train_forward_rows(rows, w, b, eps)
                n = rows.shape[0]
            else:
                y, mean, var, invstd = _norm.batch_norm_train_forward(x3, w, b, eps)
                n = x3.shape[0] * x3.shape[2]
            s.mean, s.invstd = mean, invstd
            if running_mean is not None:
                running_mean *= 1.0 - momentum
                running_mean += (momentum * mean).reshape(running_mean.shape)
                running_var *= 1.0 - momentum
                running_var += (momentum * n / (n - 1) * var).reshape(running_var.shape)
        else:
            s.running_mean, s.running_var = running_mean.copy(), running_var.copy()
            if rows is not None:
                y = _norm.batch_norm_eval_forward_rows(rows, running_mean, running_var, w, b, eps)
            else:
                y = _norm.batch_norm_eval_forward(x3, running_mean, running_var, w, b, eps)
        return _unfold(y, x.shape, rows is not None), s

    def batch_norm_backward(self, grad, saved, need_input, need_weight, need_bias):
        s = saved
        w = None if s.weight is None else s.weight.reshape(-1)
        if s.rows:  # the gradient as C-contiguous rows too (a copy only when it arrives in another layout)
            g3 = _norm.channels_last_rows(grad)
            if g3 is None:
                g3 = np.ascontiguousarray(np.moveaxis(grad, 1, -1)).reshape(s.x.shape)
        else:
            g3 = _fold(grad)
        if s.training:
            train_backward = _norm.batch_norm_train_backward_rows if s.rows else _norm.batch_norm_train_backward
            dx, dw, db = train_backward(g3, s.x, s.mean, s.invstd, w, need_input, need_weight, need_bias)
        elif s.rows:  # an affine map per channel: the (N, C, L) kernel on the rows seen as (1, C, M)
            dx, dw, db = _norm.batch_norm_eval_backward(g3.T[None], s.x.T[None], s.running_mean, s.running_var, w,
                                                        s.eps, need_input, need_weight, need_bias)
            dx = None if dx is None else np.ascontiguousarray(dx[0].T)
        else:
            dx, dw, db = _norm.batch_norm_eval_backward(g3, s.x, s.running_mean, s.running_var, w, s.eps,
                                                        need_input, need_weight, need_bias)
        if dx is not None:
            dx = _unfold(dx, s.shape, s.rows)
        return dx, dw, db

    # ---------------------------------------------------------------------------------------------- relu
    def relu_forward(self, x):
        return _elementwise.relu(x)

    def relu_backward(self, grad, y):
        return _elementwise.relu_backward(grad, y)
