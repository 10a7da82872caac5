"""Nearest, bilinear, bicubic and antialiased resampling of (N, C, H, W) ndarrays with PyTorch's source-index rules
(bicubic and antialiased: see the section near the end).

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
    "nearest_source_index", "linear_source_index", "cubic_taps", "antialias_taps",
    "upsample_nearest2d", "upsample_nearest2d_backward", "upsample_bilinear2d", "upsample_bilinear2d_backward",
    "upsample_separable2d", "upsample_separable2d_backward",
    "upsample_nearest2d_reference", "upsample_nearest2d_backward_reference", "upsample_bilinear2d_reference",
    "upsample_bilinear2d_backward_reference", "upsample_separable2d_reference",
    "upsample_separable2d_backward_reference",
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


# ------------------------------------------------------------------------------ bicubic and antialiased
#
# Both are separable: along each axis output i is a weighted sum of a few input positions (its "taps"), one axis
# after the other (W, then H, as PyTorch). An axis is described by (index, weights), arrays of shape (n_out, taps).
#
# bicubic (PyTorch's upsample_bicubic2d): src as for bilinear but never clamped at 0 (align_corners: i*(in-1)/(out-1),
#     else scale*(i + 0.5) - 0.5); i0 = min(floor(src), in - 1) (floored in float32, as PyTorch), t = clip(src - i0, 0,
#     1); taps i0-1 .. i0+2, each index clamped to [0, in - 1] (the border pixel repeats), weights of the cubic
#     convolution with A = -0.75:
#         w0 = c2(t + 1), w1 = c1(t), w2 = c1(1 - t), w3 = c2(2 - t),
#         c1(x) = ((A + 2) x - (A + 3)) x^2 + 1            (|x| <= 1)
#         c2(x) = ((A x - 5A) x + 8A) x - 4A               (1 < |x| < 2)
# antialiased (PyTorch's _upsample_{bilinear,bicubic}2d_aa, Pillow's resampling): the filter (triangle, or the cubic
#     above with A = -0.5 as Pillow) is stretched by the downscale factor when scale = in/out >= 1:
#         support = (taps/2) * scale (taps 2: bilinear, 4: bicubic; taps/2 when upsampling), centre = scale (i + 0.5)
#         xmin = max(trunc(centre - support + 0.5), 0), xmax = min(trunc(centre + support + 0.5), in)
#         w_j = filter((j - centre + 0.5) / max(scale, 1)) for j in [xmin, xmax), then w /= sum(w)
#     (no clamping: near the border the weights are renormalised instead); an axis whose size does not change is
#     left alone. align_corners uses scale = (in - 1)/(out - 1) with the same centre formula, as PyTorch.

CUBIC_A = -0.75  # PyTorch's bicubic coefficient
CUBIC_A_ANTIALIAS = -0.5  # Pillow's, which PyTorch's antialiased bicubic uses


def _c1(x, a):
    return ((a + 2) * x - (a + 3)) * x * x + 1


def _c2(x, a):
    return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a


def _axis_scale(n_in: int, n_out: int, align_corners: bool, scale_factor, dtype) -> np.generic:
    """PyTorch's area_pixel_compute_scale in ``dtype``."""
    if align_corners:
        return dtype.type(n_in - 1) / dtype.type(n_out - 1) if n_out > 1 else dtype.type(0)
    return _scale(n_in, n_out, scale_factor, dtype)


def cubic_taps(n_in: int, n_out: int, align_corners: bool, scale_factor=None, dtype=np.float32):
    """(index, weights), each (n_out, 4): the bicubic taps of each output position (see above)."""
    dtype = np.dtype(dtype)
    scale = _axis_scale(n_in, n_out, align_corners, scale_factor, dtype)
    dst = np.arange(n_out, dtype=dtype)
    src = scale * dst if align_corners else scale * (dst + dtype.type(0.5)) - dtype.type(0.5)
    i0 = np.minimum(np.floor(src.astype(np.float32)).astype(np.int64), n_in - 1)
    t = np.clip(src - i0.astype(dtype), dtype.type(0), dtype.type(1))
    a = dtype.type(CUBIC_A)
    one = dtype.type(1)
    weights = np.stack([_c2(t + one, a), _c1(t, a), _c1(one - t, a), _c2(dtype.type(2) - t, a)], axis=1)
    index = np.clip(i0[:, None] + np.arange(-1, 3), 0, n_in - 1)
    return index, weights.astype(dtype, copy=False)


def _aa_filter(x: np.ndarray, kind: str) -> np.ndarray:
    x = np.abs(x)
    if kind == "bilinear":
        return np.maximum(1 - x, 0)
    a = CUBIC_A_ANTIALIAS
    return np.where(x < 1, _c1(x, a), np.where(x < 2, _c2(x, a), 0))


def antialias_taps(n_in: int, n_out: int, align_corners: bool, scale_factor=None, kind: str = "bilinear",
                   dtype=np.float32):
    """(index, weights), each (n_out, taps), of antialiased resampling (``kind`` 'bilinear' or 'bicubic'); an
    output position with fewer taps than the widest has index -1 (and weight 0) in the unused ones."""
    dtype = np.dtype(dtype)
    scale = float(_axis_scale(n_in, n_out, align_corners, scale_factor, dtype))
    half = 1.0 if kind == "bilinear" else 2.0
    support = float(dtype.type(half * scale if scale >= 1 else half))
    taps = int(np.ceil(support)) * 2 + 1
    invscale = 1.0 / scale if scale >= 1 else 1.0
    i = np.arange(n_out, dtype=np.float64)
    centre = (scale * (i + 0.5)).astype(dtype).astype(np.float64)
    xmin = np.maximum(np.trunc(centre - support + 0.5), 0).astype(np.int64)
    xsize = np.clip(np.minimum(np.trunc(centre + support + 0.5).astype(np.int64), n_in) - xmin, 0, taps)
    j = np.arange(taps)
    used = j[None, :] < xsize[:, None]
    w = np.where(used, _aa_filter((j[None, :] + xmin[:, None] - centre[:, None] + 0.5) * invscale, kind), 0)
    total = w.sum(axis=1, keepdims=True)
    w = np.divide(w, total, out=w, where=total != 0)
    return np.where(used, xmin[:, None] + j[None, :], -1), w.astype(dtype)


def _resample_axis(x: np.ndarray, index: np.ndarray, weights: np.ndarray, axis: int) -> np.ndarray:
    """out[.., i, ..] = sum over taps k of weights[i, k] * x[.., index[i, k], ..] along ``axis`` (taps with index
    -1 are skipped, so an inf elsewhere does not turn into NaN through a 0 weight)."""
    shape = [1] * x.ndim
    shape[axis] = index.shape[0]
    out = None
    for k in range(index.shape[1]):
        unused = index[:, k] < 0
        term = np.take(x, np.where(unused, 0, index[:, k]), axis=axis)
        term *= weights[:, k].reshape(shape)
        if unused.any():
            where = [slice(None)] * x.ndim
            where[axis] = unused
            term[tuple(where)] = 0
        if out is None:
            out = term
        else:
            out += term
    return out


def _transpose_taps(index: np.ndarray, weights: np.ndarray, size: int):
    """The taps of the adjoint resampling: for each of the ``size`` input positions, the output positions that
    read it and with which weight (the weights of repeated reads, e.g. a clamped border, summed), -1 where unused."""
    n_out = index.shape[0]
    used = index >= 0
    rows = np.broadcast_to(np.arange(n_out)[:, None], index.shape)[used]
    keys, inverse = np.unique(index[used] * n_out + rows, return_inverse=True)  # sorted by input, then output
    sums = np.zeros(keys.size, dtype=weights.dtype)
    np.add.at(sums, inverse.reshape(-1), weights[used])
    cols, rows = keys // n_out, keys % n_out
    counts = np.bincount(cols, minlength=size)
    position = np.arange(keys.size) - (np.cumsum(counts) - counts)[cols]
    t_index = np.full((size, max(int(counts.max(initial=0)), 1)), -1, dtype=np.int64)
    t_weights = np.zeros(t_index.shape, dtype=weights.dtype)
    t_index[cols, position], t_weights[cols, position] = rows, sums
    return t_index, t_weights


def _resample_axis_backward(g: np.ndarray, index: np.ndarray, weights: np.ndarray, size: int,
                            axis: int) -> np.ndarray:
    """The adjoint of :func:`_resample_axis` (``size`` input positions along ``axis``): a resampling with the
    transposed taps, so each input position gathers the few outputs that read it."""
    return _resample_axis(g, *_transpose_taps(index, weights, size), axis)


def _taps(mode: str, antialias: bool, n_in: int, n_out: int, align_corners: bool, scale_factor, dtype):
    if antialias:
        return antialias_taps(n_in, n_out, align_corners, scale_factor, mode, dtype)
    return cubic_taps(n_in, n_out, align_corners, scale_factor, dtype)


def upsample_separable2d(x: np.ndarray, output_size, mode: str = "bicubic", align_corners: bool = False,
                         scale_factors=(None, None), antialias: bool = False) -> np.ndarray:
    """Bicubic (``mode='bicubic'``) or antialiased (``antialias=True``, mode 'bilinear' or 'bicubic') resampling
    of (N, C, H, W) to ``output_size``: along W, then along H. Antialiased resampling leaves an axis whose size does
    not change alone."""
    out = x
    for axis in (3, 2):
        n_in, n_out = x.shape[axis], output_size[axis - 2]
        if antialias and n_in == n_out:
            continue
        index, weights = _taps(mode, antialias, n_in, n_out, align_corners, scale_factors[axis - 2], x.dtype)
        out = _resample_axis(out, index, weights, axis)
    return out.copy() if out is x else out


def upsample_separable2d_backward(grad_out: np.ndarray, input_shape, mode: str = "bicubic",
                                  align_corners: bool = False, scale_factors=(None, None),
                                  antialias: bool = False) -> np.ndarray:
    """The gradient of :func:`upsample_separable2d` with respect to its input (its adjoint)."""
    grad = grad_out
    for axis in (2, 3):
        n_in, n_out = input_shape[axis], grad_out.shape[axis]
        if antialias and n_in == n_out:
            continue
        index, weights = _taps(mode, antialias, n_in, n_out, align_corners, scale_factors[axis - 2], grad.dtype)
        grad = _resample_axis_backward(grad, index, weights, n_in, axis)
    return grad.copy() if grad is grad_out else grad


def upsample_separable2d_reference(x, output_size, mode="bicubic", align_corners=False, scale_factors=(None, None),
                                   antialias=False):
    """Loop reference: every output pixel as the double sum over its H taps and W taps."""
    taps = []
    for axis in (2, 3):
        n_in, n_out = x.shape[axis], output_size[axis - 2]
        if antialias and n_in == n_out:
            taps.append((np.arange(n_in)[:, None], np.ones((n_in, 1), x.dtype)))
        else:
            taps.append(_taps(mode, antialias, n_in, n_out, align_corners, scale_factors[axis - 2], x.dtype))
    (hi, hw), (wi, ww) = taps
    out = np.zeros(x.shape[:2] + tuple(output_size), dtype=x.dtype)
    for i in range(output_size[0]):
        for j in range(output_size[1]):
            for a in range(hi.shape[1]):
                row = np.zeros(x.shape[:2], dtype=x.dtype)
                if hi[i, a] < 0:
                    continue
                for b in range(wi.shape[1]):
                    if wi[j, b] >= 0:
                        row += ww[j, b] * x[:, :, hi[i, a], wi[j, b]]
                out[:, :, i, j] += hw[i, a] * row
    return out


def upsample_separable2d_backward_reference(grad_out, input_shape, mode="bicubic", align_corners=False,
                                            scale_factors=(None, None), antialias=False):
    """Loop reference of the gradient: each output gradient scattered to its taps with the products of weights."""
    taps = []
    for axis in (2, 3):
        n_in, n_out = input_shape[axis], grad_out.shape[axis]
        if antialias and n_in == n_out:
            taps.append((np.arange(n_in)[:, None], np.ones((n_in, 1), grad_out.dtype)))
        else:
            taps.append(_taps(mode, antialias, n_in, n_out, align_corners, scale_factors[axis - 2], grad_out.dtype))
    (hi, hw), (wi, ww) = taps
    grad = np.zeros(input_shape, dtype=grad_out.dtype)
    for i in range(grad_out.shape[2]):
        for j in range(grad_out.shape[3]):
            for a in range(hi.shape[1]):
                for b in range(wi.shape[1]):
                    if hi[i, a] >= 0 and wi[j, b] >= 0:
                        grad[:, :, hi[i, a], wi[j, b]] += hw[i, a] * ww[j, b] * grad_out[:, :, i, j]
    return grad
