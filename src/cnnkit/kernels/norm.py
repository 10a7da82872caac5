"""Normalisation kernels on arrays: batch norm (training and inference, forward and fused backward) and
local response normalisation.

Batch-norm kernels take the input folded to ``(N, C, L)`` (L = product of the spatial sizes, 1 for 2-D
input) and per-channel vectors of length C; every reduction runs over axes (0, 2). Per-channel coefficients
are cast to the input's dtype, so float32 data stays float32.

    training:  y = (x - mean) * invstd * w + b,   invstd = 1 / sqrt(var + eps)   (biased batch variance)
    backward:  dx = w * invstd / M * (M g - sum(g) - xhat * sum(g xhat)),   M = N * L
               dw = sum(g xhat),  db = sum(g)
    inference: y = x * a + (b - mean_r * a),  a = w / sqrt(var_r + eps)
"""

from __future__ import annotations

import numpy as np


def _col(v: np.ndarray, dtype) -> np.ndarray:
    """A per-channel vector as a (C, 1) column that broadcasts against (N, C, L), in ``dtype``."""
    return np.asarray(v).reshape(-1, 1).astype(dtype, copy=False)


def _channel_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """sum over (n, l) of a[n, c, l] * b[n, c, l], without a full-size temporary."""
    return np.einsum("ncl,ncl->c", a, b)


def batch_norm_train_forward(x: np.ndarray, weight, bias, eps: float):
    """Normalise ``x`` (N, C, L) with its own batch statistics.

    Returns ``(y, mean, var, invstd)``: ``var`` is the biased batch variance, ``invstd = 1/sqrt(var + eps)``.
    """
    m = x.shape[0] * x.shape[2]
    mean = x.mean(axis=(0, 2))
    y = x - _col(mean, x.dtype)
    var = _channel_dot(y, y) / m
    invstd = 1.0 / np.sqrt(var + eps)
    scale = invstd if weight is None else invstd * weight
    y *= _col(scale, x.dtype)
    if bias is not None:
        y += _col(bias, x.dtype)
    return y, mean, var, invstd


def batch_norm_train_backward(g: np.ndarray, x: np.ndarray, mean: np.ndarray, invstd: np.ndarray, weight,
                              need_x: bool = True, need_weight: bool = True, need_bias: bool = True):
    """Gradients ``(dx, dweight, dbias)`` of :func:`batch_norm_train_forward` (None where not needed).

    One fused formula for dx; ``xhat`` is recomputed from ``x`` instead of being kept from the forward pass.
    """
    m = x.shape[0] * x.shape[2]
    sum_g = g.sum(axis=(0, 2))
    db = sum_g if need_bias else None
    dx = dw = None
    if not (need_x or need_weight):
        return dx, dw, db
    xc = x - _col(mean, x.dtype)
    sum_gxc = _channel_dot(g, xc)  # = sum(g * xhat) / invstd
    if need_weight:
        dw = sum_gxc * invstd
    if need_x:
        scale = invstd if weight is None else invstd * weight
        # dx = scale * (g - sum_g / M - xc * invstd^2 * sum_gxc / M), built in place in xc
        xc *= _col(invstd * invstd * sum_gxc / m, x.dtype)
        xc += _col(sum_g / m, x.dtype)
        np.subtract(g, xc, out=xc)
        xc *= _col(scale, x.dtype)
        dx = xc
    return dx, dw, db


def batch_norm_eval_forward(x: np.ndarray, running_mean, running_var, weight, bias, eps: float) -> np.ndarray:
    """Normalise ``x`` (N, C, L) with given statistics: one affine pass y = x * a + c."""
    invstd = 1.0 / np.sqrt(np.asarray(running_var, dtype=x.dtype).reshape(-1) + eps)
    a = invstd if weight is None else invstd * weight
    c = -np.asarray(running_mean, dtype=x.dtype).reshape(-1) * a
    if bias is not None:
        c = c + bias
    y = x * _col(a, x.dtype)
    y += _col(c, x.dtype)
    return y


def batch_norm_eval_backward(g: np.ndarray, x: np.ndarray, running_mean, running_var, weight, eps: float,
                             need_x: bool = True, need_weight: bool = True, need_bias: bool = True):
    """Gradients ``(dx, dweight, dbias)`` of :func:`batch_norm_eval_forward` (an affine map per channel)."""
    invstd = 1.0 / np.sqrt(np.asarray(running_var, dtype=x.dtype).reshape(-1) + eps)
    dx = dw = db = None
    if need_x:
        dx = g * _col(invstd if weight is None else invstd * weight, x.dtype)
    if need_weight:
        xc = x - _col(np.asarray(running_mean).reshape(-1), x.dtype)
        dw = _channel_dot(g, xc) * invstd
    if need_bias:
        db = g.sum(axis=(0, 2))
    return dx, dw, db


# ------------------------------------------------------------------------------ local response norm


def channel_window_sum(a: np.ndarray, before: int, after: int) -> np.ndarray:
    """out[:, c] = sum of a[:, j] for c - before <= j <= c + after (channels outside [0, C) count as zero)."""
    c = a.shape[1]
    out = a.copy()
    for d in range(1, min(after, c - 1) + 1):
        out[:, :c - d] += a[:, d:]
    for d in range(1, min(before, c - 1) + 1):
        out[:, d:] += a[:, :c - d]
    return out


def lrn_forward(x: np.ndarray, size: int, alpha: float, beta: float, k: float):
    """Local response norm across channels (axis 1) of (N, C, ...):

        y_c = x_c / d_c^beta,   d_c = k + alpha / size * sum_{j = c - size//2}^{c + (size-1)//2} x_j^2

    Returns ``(y, d)``; ``d`` is what the backward needs besides ``x``.
    """
    d = channel_window_sum(x * x, size // 2, (size - 1) // 2)
    d *= alpha / size
    d += k
    y = np.power(d, beta)
    np.divide(x, y, out=y)
    return y, d


def lrn_backward(g: np.ndarray, x: np.ndarray, d: np.ndarray, size: int, alpha: float, beta: float) -> np.ndarray:
    """Exact gradient of :func:`lrn_forward`:

        dx_i = g_i d_i^-beta - (2 alpha beta / size) x_i sum_{c : i in window(c)} g_c x_c d_c^(-beta-1)

    The reversed window of i runs from i - (size-1)//2 to i + size//2.
    """
    p = np.power(d, beta)
    t = p * d
    np.divide(x, t, out=t)
    t *= g
    r = channel_window_sum(t, (size - 1) // 2, size // 2)
    r *= x
    r *= 2.0 * alpha * beta / size
    np.divide(g, p, out=p)
    p -= r
    return p
