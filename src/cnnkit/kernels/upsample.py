"""Nearest and bilinear resampling of (N, C, H, W) ndarrays with PyTorch's source-index rules.

Along one axis (input size ``n_in``, output size ``n_out``), output position i reads the input at:

    scale = 1 / scale_factor            when a scale factor is passed (PyTorch: recompute_scale_factor not set)
          = n_in / n_out                otherwise
    nearest:        min(floor(i * scale), n_in - 1)   in float32 arithmetic; n_out == n_in copies and
                    n_out == 2*n_in reads i // 2, whatever the scale
    nearest-exact:  min(floor((i + 0.5) * scale), n_in - 1)
                    (both nearest rules use float32 for every dtype, the rule PyTorch's backward uses; its float64
                    forward sometimes works in double and may then pick the neighbouring pixel where i*scale lies
                    within float32 rounding of an integer. One rule here keeps forward and backward adjoint.)
    bilinear:       src = i * (n_in - 1) / (n_out - 1)                 (align_corners; 0 when n_out == 1)
                    src = max(scale * (i + 0.5) - 0.5, 0)              (otherwise)
                    i0 = min(floor(src), n_in - 1), i1 = i0 + (i0 < n_in - 1),
                    l1 = clip(src - i0, 0, 1), l0 = 1 - l1,  out = l0 * x[i0] + l1 * x[i1]
                    (n_out == n_in copies); arithmetic in the input's dtype

Resampling is separable: along W, then along H. The backward pass scatters each output gradient back with the
same indices and weights; the source indices never decrease with i, so each input pixel collects a contiguous
run of outputs and the scatter is a few gathers (one per position in the longest run) rather than an unordered
``np.add.at``. The ``*_reference`` functions are plain loops.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "nearest_source_index", "linear_source_index",
    "upsample_nearest2d", "upsample_nearest2d_backward", "upsample_bilinear2d", "upsample_bilinear2d_backward",
    "upsample_nearest2d_reference", "upsample_nearest2d_backward_reference", "upsample_bilinear2d_reference",
    "upsample_bilinear2d_backward_reference",
]


# ------------------------------------------------------------------------------ source indices


def _scale(n_in: int, n_out: int, scale_factor, dtype) -> np.generic:
    """PyTorch's resampling step in ``dtype``: 1/scale_factor when one was given, else n_in/n_out."""
    if scale_factor is not None and scale_factor > 0:
        return dtype.type(1.0 / scale_factor)
    return dtype.type(n_in) / dtype.type(n_out)


def nearest_source_index(n_in: int, n_out: int, scale_factor=None, exact: bool = False) -> np.ndarray:
    """Input index read by each output position in 'nearest' (or 'nearest-exact') mode (int64)."""
    f32 = np.dtype(np.float32)
    i = np.arange(n_out, dtype=np.int64)
    if not exact:
        if n_out == n_in:
            return i
        if n_out == 2 * n_in:
            return i >> 1
        src = np.floor(i.astype(np.float32) * _scale(n_in, n_out, scale_factor, f32))
    else:  # (i + 0.5) is formed in double, times the float32 scale, then rounded to float32 and floored
        src = np.floor(((i + 0.5) * np.float64(_scale(n_in, n_out, scale_factor, f32))).astype(np.float32))
    return np.minimum(src.astype(np.int64), n_in - 1)


def linear_source_index(n_in: int, n_out: int, align_corners: bool, scale_factor=None, dtype=np.float32):
    """(i0, i1, l0, l1) of linear resampling: out[i] = l0[i] * x[i0[i]] + l1[i] * x[i1[i]]."""
    dtype = np.dtype(dtype)
    if n_out == n_in:
        i = np.arange(n_out, dtype=np.int64)
        return i, i, np.ones(n_out, dtype), np.zeros(n_out, dtype)
    dst = np.arange(n_out, dtype=dtype)
    if align_corners:
        step = dtype.type(n_in - 1) / dtype.type(n_out - 1) if n_out > 1 else dtype.type(0)
        src = step * dst
    else:
        src = _scale(n_in, n_out, scale_factor, dtype) * (dst + dtype.type(0.5)) - dtype.type(0.5)
        src = np.maximum(src, dtype.type(0))
    i0 = np.minimum(np.floor(src.astype(np.float32)).astype(np.int64), n_in - 1)  # PyTorch floors in float32
    l1 = np.clip(src - i0.astype(dtype), dtype.type(0), dtype.type(1))
    i1 = i0 + (i0 < n_in - 1)
    return i0, i1, dtype.type(1) - l1, l1


# ------------------------------------------------------------------------------ gather / scatter along an axis


def _scatter_sum(values: np.ndarray, index: np.ndarray, size: int, axis: int, weights=None,
                 index2=None, weights2=None) -> np.ndarray:
    """Transpose of a resampling along ``axis``: out[k] = sum over j of w(k, j) * values[j], where output j read
    input ``index[j]`` with weight ``weights[j]`` (1 when None) and, if given, ``index2[j]`` with ``weights2[j]``.

    Both index arrays are non-decreasing in j (the rules above guarantee it), so each target k collects a
    contiguous run j = lo[k] .. lo[k] + width[k] - 1; the runs are summed one offset at a time, each offset being
    one gather of whole slices, so the work is (longest run) passes over the result."""
    n = values.shape[axis]
    j = np.arange(n)
    targets, sources = (index, j) if index2 is None else (np.concatenate([index, index2]), np.concatenate([j, j]))
    if np.any(np.diff(index) < 0) or (index2 is not None and np.any(np.diff(index2) < 0)):
        return _scatter_unordered(values, size, axis, ((index, weights), (index2, weights2)))
    lo = np.full(size, n, dtype=np.int64)
    hi = np.zeros(size, dtype=np.int64)
    np.minimum.at(lo, targets, sources)
    np.maximum.at(hi, targets, sources + 1)
    width = np.maximum(hi - lo, 0)
    band = None
    if weights is not None:  # band[k, a]: weight of values[lo[k] + a] in out[k] (repeated pairs add up)
        w = weights if index2 is None else np.concatenate([weights, weights2])
        band = np.zeros((size, max(int(width.max()), 1)), dtype=values.dtype)
        np.add.at(band, (targets, sources - lo[targets]), w)
    shape = [1] * values.ndim
    shape[axis] = size
    out = None
    for a in range(int(width.max())):
        valid = a < width
        term = np.take(values, np.where(valid, lo + a, 0), axis=axis)
        if band is not None:
            with np.errstate(invalid="ignore"):  # 0 * inf is NaN here exactly as in PyTorch's backward
                term *= band[:, a].reshape(shape)
        if not valid.all():  # zero, not multiply by 0: an inf elsewhere must not leak in as NaN
            sel = [slice(None)] * values.ndim
            sel[axis] = ~valid
            term[tuple(sel)] = 0
        if out is None:
            out = term
        else:
            out += term
    if out is None:
        shape = list(values.shape)
        shape[axis] = size
        out = np.zeros(shape, dtype=values.dtype)
    return out


def _scatter_unordered(values, size, axis, pairs):
    """``_scatter_sum`` for indices in any order (np.add.at; not reached by the index rules above)."""
    shape = list(values.shape)
    shape[axis] = size
    out = np.zeros(shape, dtype=values.dtype)
    w_shape = [1] * values.ndim
    w_shape[axis] = values.shape[axis]
    for index, weights in pairs:
        if index is not None:
            v = values if weights is None else values * weights.reshape(w_shape)
            np.add.at(np.moveaxis(out, axis, 0), index, np.moveaxis(v, axis, 0))
    return out


def _weights(w: np.ndarray, axis: int) -> np.ndarray:
    """A 1-D weight vector shaped to broadcast along ``axis`` of an (N, C, H, W) array."""
    return w.reshape((-1, 1) if axis == 2 else (-1,))


# ------------------------------------------------------------------------------ nearest


def upsample_nearest2d(x: np.ndarray, output_size, scale_factors=(None, None), exact: bool = False) -> np.ndarray:
    """Nearest resampling of (N, C, H, W) to ``output_size`` = (out_h, out_w)."""
    ih = nearest_source_index(x.shape[2], output_size[0], scale_factors[0], exact)
    iw = nearest_source_index(x.shape[3], output_size[1], scale_factors[1], exact)
    return np.take(np.take(x, ih, axis=2), iw, axis=3)


def upsample_nearest2d_backward(grad_out: np.ndarray, input_shape, scale_factors=(None, None),
                                exact: bool = False) -> np.ndarray:
    """Each input element receives the sum of the output gradients that read it."""
    h, w = input_shape[2:]
    ih = nearest_source_index(h, grad_out.shape[2], scale_factors[0], exact)
    iw = nearest_source_index(w, grad_out.shape[3], scale_factors[1], exact)
    return _scatter_sum(_scatter_sum(grad_out, ih, h, 2), iw, w, 3)


# ------------------------------------------------------------------------------ bilinear


def upsample_bilinear2d(x: np.ndarray, output_size, align_corners: bool = False,
                        scale_factors=(None, None)) -> np.ndarray:
    """Bilinear resampling of (N, C, H, W) to ``output_size`` = (out_h, out_w)."""
    h0, h1, hl0, hl1 = linear_source_index(x.shape[2], output_size[0], align_corners, scale_factors[0], x.dtype)
    w0, w1, wl0, wl1 = linear_source_index(x.shape[3], output_size[1], align_corners, scale_factors[1], x.dtype)
    rows = np.take(x, w0, axis=3)
    rows *= wl0
    rows += np.take(x, w1, axis=3) * wl1
    out = np.take(rows, h0, axis=2)
    out *= _weights(hl0, 2)
    out += np.take(rows, h1, axis=2) * _weights(hl1, 2)
    return out


def upsample_bilinear2d_backward(grad_out: np.ndarray, input_shape, align_corners: bool = False,
                                 scale_factors=(None, None)) -> np.ndarray:
    """Scatter each output gradient to its four source pixels with the bilinear weights."""
    h, w = input_shape[2:]
    dtype = grad_out.dtype
    h0, h1, hl0, hl1 = linear_source_index(h, grad_out.shape[2], align_corners, scale_factors[0], dtype)
    w0, w1, wl0, wl1 = linear_source_index(w, grad_out.shape[3], align_corners, scale_factors[1], dtype)
    rows = _scatter_sum(grad_out, h0, h, 2, hl0, h1, hl1)
    grad = _scatter_sum(rows, w0, w, 3, wl0, w1, wl1)
    return grad


# ------------------------------------------------------------------------------ loop references


def upsample_nearest2d_reference(x, output_size, scale_factors=(None, None), exact=False):
    ih = nearest_source_index(x.shape[2], output_size[0], scale_factors[0], exact)
    iw = nearest_source_index(x.shape[3], output_size[1], scale_factors[1], exact)
    out = np.empty(x.shape[:2] + tuple(output_size), dtype=x.dtype)
    for i in range(output_size[0]):
        for j in range(output_size[1]):
            out[:, :, i, j] = x[:, :, ih[i], iw[j]]
    return out


def upsample_nearest2d_backward_reference(grad_out, input_shape, scale_factors=(None, None), exact=False):
    ih = nearest_source_index(input_shape[2], grad_out.shape[2], scale_factors[0], exact)
    iw = nearest_source_index(input_shape[3], grad_out.shape[3], scale_factors[1], exact)
    grad = np.zeros(input_shape, dtype=grad_out.dtype)
    for i in range(grad_out.shape[2]):
        for j in range(grad_out.shape[3]):
            grad[:, :, ih[i], iw[j]] += grad_out[:, :, i, j]
    return grad


def upsample_bilinear2d_reference(x, output_size, align_corners=False, scale_factors=(None, None)):
    h0, h1, hl0, hl1 = linear_source_index(x.shape[2], output_size[0], align_corners, scale_factors[0], x.dtype)
    w0, w1, wl0, wl1 = linear_source_index(x.shape[3], output_size[1], align_corners, scale_factors[1], x.dtype)
    out = np.empty(x.shape[:2] + tuple(output_size), dtype=x.dtype)
    for i in range(output_size[0]):
        for j in range(output_size[1]):
            top = x[:, :, h0[i], w0[j]] * wl0[j] + x[:, :, h0[i], w1[j]] * wl1[j]
            bottom = x[:, :, h1[i], w0[j]] * wl0[j] + x[:, :, h1[i], w1[j]] * wl1[j]
            out[:, :, i, j] = top * hl0[i] + bottom * hl1[i]
    return out


def upsample_bilinear2d_backward_reference(grad_out, input_shape, align_corners=False, scale_factors=(None, None)):
    dtype = grad_out.dtype
    h0, h1, hl0, hl1 = linear_source_index(input_shape[2], grad_out.shape[2], align_corners, scale_factors[0], dtype)
    w0, w1, wl0, wl1 = linear_source_index(input_shape[3], grad_out.shape[3], align_corners, scale_factors[1], dtype)
    grad = np.zeros(input_shape, dtype=dtype)
    for i in range(grad_out.shape[2]):
        for j in range(grad_out.shape[3]):
            g = grad_out[:, :, i, j]
            grad[:, :, h0[i], w0[j]] += g * (hl0[i] * wl0[j])
            grad[:, :, h0[i], w1[j]] += g * (hl0[i] * wl1[j])
            grad[:, :, h1[i], w0[j]] += g * (hl1[i] * wl0[j])
            grad[:, :, h1[i], w1[j]] += g * (hl1[i] * wl1[j])
    return grad
