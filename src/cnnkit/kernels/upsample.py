"""Nearest and bilinear resampling of (N, C, H, W) ndarrays with PyTorch's source-index rules.

Along one axis (input size ``n_in``, output size ``n_out``), output position i reads the input at:

    scale = 1 / scale_factor            when a scale factor is passed (PyTorch: recompute_scale_factor not set)
          = n_in / n_out                otherwise
    nearest:        min(floor(i * scale), n_in - 1)   in float32 arithmetic; n_out == n_in copies and
                    n_out == 2*n_in reads i // 2, whatever the scale
    nearest-exact:  min(floor((i + 0.5) * scale), n_in - 1)
    bilinear:       src = i * (n_in - 1) / (n_out - 1)                 (align_corners; 0 when n_out == 1)
                    src = max(scale * (i + 0.5) - 0.5, 0)              (otherwise)
                    i0 = min(floor(src), n_in - 1), i1 = i0 + (i0 < n_in - 1),
                    l1 = clip(src - i0, 0, 1), l0 = 1 - l1,  out = l0 * x[i0] + l1 * x[i1]
                    (n_out == n_in copies); arithmetic in the input's dtype

Resampling is separable: along W, then along H. The backward pass scatters each output gradient back with the
same indices and weights; the source indices never decrease with i, so the scatter is a segmented sum
(``np.add.reduceat``) rather than an unordered ``np.add.at``. The ``*_reference`` functions are plain loops.
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


def _scatter_sum(values: np.ndarray, index: np.ndarray, size: int, axis: int) -> np.ndarray:
    """out[k] = sum of values[j] over j with index[j] == k, along ``axis`` (zero where nothing lands)."""
    shape = list(values.shape)
    shape[axis] = size
    if index.size and np.all(index[1:] >= index[:-1]):  # non-decreasing: segment sums
        targets, starts = np.unique(index, return_index=True)
        summed = np.add.reduceat(values, starts, axis=axis)
        if targets.size == size:
            return summed
        out = np.zeros(shape, dtype=values.dtype)
        sel = [slice(None)] * values.ndim
        sel[axis] = targets
        out[tuple(sel)] = summed
        return out
    out = np.zeros(shape, dtype=values.dtype)  # general order (not reached by the index rules above)
    np.add.at(np.moveaxis(out, axis, 0), index, np.moveaxis(values, axis, 0))
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
    return _scatter_sum(_scatter_sum(grad_out, iw, w, 3), ih, h, 2)


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
    rows = _scatter_sum(grad_out * _weights(hl0, 2), h0, h, 2)
    rows += _scatter_sum(grad_out * _weights(hl1, 2), h1, h, 2)
    grad = _scatter_sum(rows * wl0, w0, w, 3)
    grad += _scatter_sum(rows * wl1, w1, w, 3)
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
