"""Normalisation kernels on arrays: batch norm (training and inference, forward and fused backward) and
local response normalisation.

Batch-norm kernels take the input folded to ``(N, C, L)`` (L = product of the spatial sizes, 1 for 2-D
input) and per-channel vectors of length C; every reduction runs over axes (0, 2). Per-channel coefficients
are cast to the input's dtype, so float32 data stays float32.

    training:  y = (x - mean) * invstd * w + b,   invstd = 1 / sqrt(var + eps)   (biased batch variance)
    backward:  dx = w * invstd / M * (M g - sum(g) - xhat * sum(g xhat)),   M = N * L
               dw = sum(g xhat),  db = sum(g)
    inference: y = x * a + (b - mean_r * a),  a = w / sqrt(var_r + eps)

Channels-last data (NHWC, and plain (N, C)) is seen as rows ``(M, C)``, M = N * L, and handled by compiled
kernels split over the worker threads (:mod:`._parallel`): two passes forward (per-channel sums, then the
affine map) and two backward (per-channel sums of g and g * (x - mean), then dx). The sums accumulate in
float64; the data stays in its dtype. The NumPy (N, C, L) kernels serve every other layout and are the
references the compiled ones are tested against.
"""

from __future__ import annotations

import numpy as np

from . import _parallel
from ._numba import njit


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


# ------------------------------------------------------------------------------ channels-last rows (compiled)

PARALLEL_MIN_SIZE = 1 << 18  # elements below which the row kernels run on the calling thread


def channels_last_rows(x: np.ndarray) -> np.ndarray | None:
    """``x`` (N, C, *spatial) as a C-contiguous (N * L, C) view when its memory is channels-last, else None."""
    if x.ndim < 2:
        return None
    t = np.moveaxis(x, 1, -1) if x.ndim > 2 else x
    return t.reshape(-1, x.shape[1]) if t.flags.c_contiguous else None


def _row_parts(m: int, size: int) -> list[tuple[int, int]]:
    return _parallel.ranges(m, size, PARALLEL_MIN_SIZE)


# Flat arrays with unsigned indices: Numba then skips negative-index wraparound and LLVM vectorises the loops.


@njit
def _shifted_sums(x, shift, s1, s2):
    """s1[c] += sum_m (x[m, c] - shift[c]),  s2[c] += sum_m (x[m, c] - shift[c])^2  (float64 s1, s2)."""
    m, c = x.shape
    xf, u = x.reshape(-1), np.uint64
    for i in range(m):
        r0 = u(i * c)
        for j in range(u(c)):
            d = np.float64(xf[r0 + j]) - shift[j]
            s1[j] += d
            s2[j] += d * d


@njit
def _centered_affine(x, mean, scale, shift, out):
    """out[m, c] = (x[m, c] - mean[c]) * scale[c] + shift[c]."""
    m, c = x.shape
    xf, of, u = x.reshape(-1), out.reshape(-1), np.uint64
    for i in range(m):
        r0 = u(i * c)
        for j in range(u(c)):
            of[r0 + j] = (xf[r0 + j] - mean[j]) * scale[j] + shift[j]


@njit
def _grad_sums(g, x, mean, sg, sgx):
    """sg[c] += sum_m g[m, c],  sgx[c] += sum_m g[m, c] * (x[m, c] - mean[c])  (float64 sg, sgx)."""
    m, c = x.shape
    gf, xf, u = g.reshape(-1), x.reshape(-1), np.uint64
    for i in range(m):
        r0 = u(i * c)
        for j in range(u(c)):
            gv = np.float64(gf[r0 + j])
            sg[j] += gv
            sgx[j] += gv * (np.float64(xf[r0 + j]) - mean[j])


@njit
def _grad_input(g, x, mean, a, b, k, out):
    """out[m, c] = g[m, c] * a[c] + (x[m, c] - mean[c]) * b[c] + k[c]."""
    m, c = x.shape
    gf, xf, of, u = g.reshape(-1), x.reshape(-1), out.reshape(-1), np.uint64
    for i in range(m):
        r0 = u(i * c)
        for j in range(u(c)):
            of[r0 + j] = gf[r0 + j] * a[j] + (xf[r0 + j] - mean[j]) * b[j] + k[j]


def _per_part_sums(kernel, arrays, m: int, c: int, *extra) -> tuple[np.ndarray, np.ndarray]:
    """Run a two-accumulator sum kernel over row ranges on the threads and add the partial sums."""
    parts = _row_parts(m, m * c)

    def part(k):
        lo, hi = parts[k]
        s1, s2 = np.zeros(c), np.zeros(c)
        kernel(*(a[lo:hi] for a in arrays), *extra, s1, s2)
        return s1, s2

    partials = _parallel.run(part, len(parts))
    if not partials:
        return np.zeros(c), np.zeros(c)
    return sum(p[0] for p in partials), sum(p[1] for p in partials)


def _map_rows(kernel, arrays, out: np.ndarray, *coefficients) -> np.ndarray:
    """out[lo:hi] = kernel(arrays[lo:hi], coefficients) over row ranges on the threads."""
    parts = _row_parts(out.shape[0], out.size)
    _parallel.run(lambda k: kernel(*(a[parts[k][0]:parts[k][1]] for a in arrays), *coefficients,
                                   out[parts[k][0]:parts[k][1]]), len(parts))
    return out


def batch_norm_train_forward_rows(x: np.ndarray, weight, bias, eps: float):
    """:func:`batch_norm_train_forward` for channels-last rows ``x`` (M, C): returns (y (M, C), mean, var, invstd).

    The sums are taken about the first row (a sample of each channel), which keeps var = E[d^2] - E[d]^2
    free of cancellation when |mean| >> std."""
    m, c = x.shape
    dtype = x.dtype
    shift = x[0].astype(np.float64)
    s1, s2 = _per_part_sums(_shifted_sums, (x,), m, c, shift)
    dmean = s1 / m
    mean64 = shift + dmean
    var64 = np.maximum(s2 / m - dmean * dmean, 0.0)
    invstd64 = 1.0 / np.sqrt(var64 + eps)
    scale = invstd64 if weight is None else invstd64 * weight
    shift_out = np.zeros(c) if bias is None else np.asarray(bias, dtype=np.float64)
    y = _map_rows(_centered_affine, (x,), np.empty_like(x), mean64.astype(dtype), scale.astype(dtype),
                  shift_out.astype(dtype))
    return y, mean64.astype(dtype), var64.astype(dtype), invstd64.astype(dtype)


def batch_norm_train_backward_rows(g: np.ndarray, x: np.ndarray, mean: np.ndarray, invstd: np.ndarray, weight,
                                   need_x: bool = True, need_weight: bool = True, need_bias: bool = True):
    """:func:`batch_norm_train_backward` for channels-last rows ``g`` and ``x`` (M, C):

        dx = scale * (g - sum_g / M - (x - mean) * invstd^2 * sum_gxc / M),   scale = invstd * w
    """
    m, c = x.shape
    dtype = x.dtype
    mean64, invstd64 = mean.astype(np.float64), invstd.astype(np.float64)
    sum_g, sum_gxc = _per_part_sums(_grad_sums, (g, x), m, c, mean64)
    db = sum_g.astype(dtype) if need_bias else None
    dw = (sum_gxc * invstd64).astype(dtype) if need_weight else None
    dx = None
    if need_x:
        scale = invstd64 if weight is None else invstd64 * weight
        b = -scale * invstd64 * invstd64 * sum_gxc / m
        k = -scale * sum_g / m
        dx = _map_rows(_grad_input, (g, x), np.empty_like(x), mean.astype(dtype), scale.astype(dtype),
                       b.astype(dtype), k.astype(dtype))
    return dx, dw, db


def batch_norm_eval_forward_rows(x: np.ndarray, running_mean, running_var, weight, bias, eps: float) -> np.ndarray:
    """:func:`batch_norm_eval_forward` for channels-last rows ``x`` (M, C): y = (x - mean_r) * a + b."""
    dtype = x.dtype
    invstd = 1.0 / np.sqrt(np.asarray(running_var, dtype=np.float64).reshape(-1) + eps)
    a = invstd if weight is None else invstd * weight
    b = np.zeros(x.shape[1]) if bias is None else np.asarray(bias, dtype=np.float64)
    mean = np.asarray(running_mean).reshape(-1).astype(dtype)
    return _map_rows(_centered_affine, (x,), np.empty_like(x), mean, a.astype(dtype), b.astype(dtype))


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
