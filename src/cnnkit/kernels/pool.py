"""Pooling kernels on (N, C, H, W) ndarrays: max, average and adaptive pooling, forward and backward.

Window rule (PyTorch's). Along one axis, output position i of a pooling window covers the input positions

    p(i, j) = i*stride - padding + j*dilation,   j = 0 .. kernel-1,

of which only 0 <= p < size hold data. Max pooling takes the largest element of the window, choosing the first
one in row-major window order on ties and the last NaN when NaNs are present; its index is the flat position
h*W + w in the input plane. Average pooling divides the window sum by

    divisor_override                       if given
    (the window clipped to size + padding)  with count_include_pad (padding counts, the ceil-mode overhang not)
    (the window clipped to the input)       otherwise.

Adaptive pooling uses bins start(i) = floor(i*size/out), end(i) = ceil((i+1)*size/out).

The fast kernels are vectorised over the whole batch: they visit a window one kernel offset at a time, each
offset being a single strided slice of the input restricted to the outputs whose position falls inside it, so the
padding is never materialised. The ``*_reference`` functions beside them are plain loops that mirror the rule
above; tests compare the two.

Channels-last input (what convolutions return) has compiled max-pooling kernels of its own (``*_nhwc``, on
(N, H, W, C) arrays, batch split over the worker threads), which walk each window once with the channels as the
inner, contiguous loop.
"""

from __future__ import annotations

import numpy as np

from . import _parallel
from ._numba import njit
from .conv_arith import conv_output_size

__all__ = [
    "pool_output_shape", "adaptive_bins",
    "max_pool2d_forward", "max_pool2d_backward", "max_pool2d_empty_windows",
    "max_pool2d_forward_nhwc", "max_pool2d_backward_nhwc",
    "avg_pool2d_forward", "avg_pool2d_backward",
    "adaptive_avg_pool2d_forward", "adaptive_avg_pool2d_backward", "adaptive_max_pool2d_forward",
    "max_pool2d_reference", "max_pool2d_backward_reference", "avg_pool2d_reference",
    "avg_pool2d_backward_reference", "adaptive_avg_pool2d_reference", "adaptive_avg_pool2d_backward_reference",
    "adaptive_max_pool2d_reference", "max_unpool2d_forward", "max_unpool2d_backward", "max_unpool2d_reference",
]


# ------------------------------------------------------------------------------ geometry


def pool_output_shape(h: int, w: int, kernel_size, stride, padding, dilation=(1, 1),
                      ceil_mode: bool = False) -> tuple[int, int]:
    """(out_h, out_w) of a pooling window sweep (conv_arith's formula, ceil mode included)."""
    return (conv_output_size(h, kernel_size[0], stride[0], padding[0], dilation[0], ceil_mode),
            conv_output_size(w, kernel_size[1], stride[1], padding[1], dilation[1], ceil_mode))


def adaptive_bins(size: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """Bin bounds of adaptive pooling: start = floor(i*size/out), end = ceil((i+1)*size/out) (int64 arrays)."""
    i = np.arange(out, dtype=np.int64)
    return (i * size) // out, -((-(i + 1) * size) // out)


def _first_valid(out: int, stride: int, padding: int, dilation: int) -> np.ndarray:
    """Per output position, how many leading window taps lie in the left padding (ceil(-start/dilation))."""
    start = np.arange(out, dtype=np.int64) * stride - padding
    return np.where(start < 0, -(start // dilation), 0)


def _small_int(n: int) -> np.dtype:
    """The narrowest signed integer dtype that holds 0..n-1 (window-local tap codes)."""
    for dt in (np.int8, np.int16, np.int32):
        if n - 1 <= np.iinfo(dt).max:
            return np.dtype(dt)
    return np.dtype(np.int64)


class _Sweep:
    """A strided window sweep laid out so that every kernel tap is one contiguous block of memory.

    The padded input is split by stride phase (space-to-depth): phase (u, v) holds the padded positions
    (q*s_h + u, p*s_w + v) at (q, p), so tap (a, b) of every output reads a single phase, shifted by
    (a*d_h // s_h, b*d_w // s_w). Each phase stores all N*C planes back to back, each plane Hq x Wq, flattened.
    Outputs are computed on the same "wide" grid: output (plane, i, j) sits at plane*Hq*Wq + i*Wq + j, so one tap
    for the whole batch is the flat block [shift, shift + N*C*Hq*Wq) of its phase. Grid positions with i >= oh or
    j >= ow are scratch (they may read a neighbouring plane, which is harmless). Building the layout is one pass
    over the input.
    """

    def __init__(self, h, w, kernel_size, stride, padding, dilation, ceil_mode):
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
        self.h, self.w = h, w
        self.oh, self.ow = pool_output_shape(h, w, kernel_size, stride, padding, dilation, ceil_mode)
        self.hq = self.oh + (kh - 1) * dh // sh
        self.wq = self.ow + (kw - 1) * dw // sw
        row_phases = sorted({a * dh % sh for a in range(kh)})  # only the phases some tap reads are stored
        col_phases = sorted({b * dw % sw for b in range(kw)})
        self.n_phases = len(row_phases) * len(col_phases)
        self.taps = []  # (code a*kw + b, phase slot, flat shift)
        for a in range(kh):
            for b in range(kw):
                slot = row_phases.index(a * dh % sh) * len(col_phases) + col_phases.index(b * dw % sw)
                self.taps.append((a * kw + b, slot, (a * dh // sh) * self.wq + b * dw // sw))
        self.tail = max(shift for _, _, shift in self.taps)
        # per stored phase: slot, (input slice, phase slice) along rows, and along columns
        self.maps = [(u * len(col_phases) + v, self._axis_map(pu, h, sh, ph, self.hq),
                      self._axis_map(pv, w, sw, pw, self.wq))
                     for u, pu in enumerate(row_phases) for v, pv in enumerate(col_phases)]

    @staticmethod
    def _axis_map(phase, size, stride, padding, stored):
        first = (phase - padding) % stride  # the first input position whose padded position has this phase
        q0 = (first + padding) // stride
        count = max(0, min(-(-(size - first) // stride), stored - q0))
        return slice(first, first + (count - 1) * stride + 1 if count else first, stride), slice(q0, q0 + count)

    def size(self, nc: int) -> int:
        """Length of the wide grid for ``nc`` planes."""
        return nc * self.hq * self.wq

    def _planes(self, buf: np.ndarray, nc: int) -> np.ndarray:
        return buf[:, :self.size(nc)].reshape(self.n_phases, nc, self.hq, self.wq)

    def pack(self, x: np.ndarray, fill) -> np.ndarray:
        """The phase layout (phases, N*C*Hq*Wq + tail) of an (N, C, H, W) array, padding set to ``fill``."""
        nc = x.shape[0] * x.shape[1]
        buf = np.full((self.n_phases, self.size(nc) + self.tail), fill, dtype=x.dtype)
        planes, xs = self._planes(buf, nc), x.reshape(nc, self.h, self.w)
        for slot, (r_in, r_out), (c_in, c_out) in self.maps:
            planes[slot, :, r_out, c_out] = xs[:, r_in, c_in]
        return buf

    def unpack(self, buf: np.ndarray, n: int, c: int) -> np.ndarray:
        """The (N, C, H, W) array held by a phase layout (padding dropped; the inverse of ``pack``)."""
        planes = self._planes(buf, n * c)
        out = np.zeros((n * c, self.h, self.w), dtype=buf.dtype)
        for slot, (r_in, r_out), (c_in, c_out) in self.maps:
            out[:, r_in, c_in] = planes[slot, :, r_out, c_out]
        return out.reshape(n, c, self.h, self.w)

    def tap(self, buf: np.ndarray, slot: int, shift: int, nc: int) -> np.ndarray:
        """The values one kernel tap contributes to every position of the wide grid (a view)."""
        return buf[slot, shift:shift + self.size(nc)]

    def wide(self, nc: int, dtype, fill) -> np.ndarray:
        """A wide-grid buffer of ``nc`` planes filled with ``fill``."""
        return np.full(self.size(nc), fill, dtype=dtype)

    def crop(self, wide: np.ndarray) -> np.ndarray:
        """The (N*C, oh, ow) outputs of a wide-grid buffer (a view)."""
        return wide.reshape(-1, self.hq, self.wq)[:, :self.oh, :self.ow]

    def to_nchw(self, wide: np.ndarray, n: int, c: int) -> np.ndarray:
        """The outputs of a wide-grid buffer as an (N, C, oh, ow) array (a view when no scratch exists)."""
        return np.ascontiguousarray(self.crop(wide)).reshape(n, c, self.oh, self.ow)


def _is_global(h, w, kernel_size, padding, dilation=(1, 1)) -> bool:
    """Whether the only window is the whole unpadded plane (any stride, either rounding mode)."""
    return tuple(kernel_size) == (h, w) and tuple(padding) == (0, 0) and tuple(dilation) == (1, 1)


def max_pool2d_empty_windows(h: int, w: int, kernel_size, stride, padding, dilation,
                             ceil_mode: bool = False) -> np.ndarray | None:
    """Boolean (out_h, out_w) mask of windows that hold no input element (only padding, possible with dilation),
    or None when every window sees the input. Such windows output -inf and pass no gradient."""
    oh, ow = pool_output_shape(h, w, kernel_size, stride, padding, dilation, ceil_mode)
    empty = []
    for out, size, k, s, p, d in ((oh, h, kernel_size[0], stride[0], padding[0], dilation[0]),
                                  (ow, w, kernel_size[1], stride[1], padding[1], dilation[1])):
        taps = np.arange(out)[:, None] * s - p + np.arange(k)[None, :] * d
        empty.append(~np.any((taps >= 0) & (taps < size), axis=1))
    if not (empty[0].any() or empty[1].any()):
        return None
    return empty[0][:, None] | empty[1][None, :]


# ------------------------------------------------------------------------------ max pooling


def max_pool2d_forward(x: np.ndarray, kernel_size, stride, padding, dilation=(1, 1), ceil_mode: bool = False,
                       return_indices: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Max pooling of an (N, C, H, W) array: returns (values, int64 flat indices h*W + w into each plane), the
    indices None when ``return_indices`` is False (values only: about half the work)."""
    n, c, h, w = x.shape
    nc = n * c
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    if _is_global(h, w, kernel_size, padding, dilation):
        values, indices = _global_max(x)
        return values, (indices if return_indices else None)
    sweep = _Sweep(h, w, kernel_size, stride, padding, dilation, ceil_mode)
    src = sweep.pack(x, -np.inf)
    best = sweep.wide(nc, x.dtype, -np.inf)
    if not return_indices:  # np.maximum propagates NaN, as PyTorch's max does
        for _, slot, shift in sweep.taps:
            np.maximum(best, sweep.tap(src, slot, shift, nc), out=best)
        return sweep.to_nchw(best, n, c), None
    code_t = _small_int(kh * kw)
    # window-local code a*kw + b of the chosen tap; it starts at the first tap inside the input, which is what
    # PyTorch reports for a window of -inf
    init = (_first_valid(sweep.oh, sh, ph, dh)[:, None] * kw + _first_valid(sweep.ow, sw, pw, dw)).astype(code_t)
    code = sweep.wide(nc, code_t, 0)
    sweep.crop(code)[...] = init
    mask = np.empty(best.shape, dtype=bool)
    step = np.empty(best.shape, dtype=code_t)
    # A later tap replaces the best only when strictly greater (padding is -inf and never does), so the code of
    # the final choice is the largest code that replaced it: a running maximum instead of a masked store.
    for k, slot, shift in sweep.taps:
        v = sweep.tap(src, slot, shift, nc)
        np.greater(v, best, out=mask)
        np.maximum(best, v, out=best)
        np.multiply(mask, code_t.type(k), out=step)
        np.maximum(code, step, out=code)
    values = sweep.to_nchw(best, n, c)
    if np.isnan(values).any():  # NaNs present: redo with PyTorch's rule (a NaN always replaces the best)
        best.fill(-np.inf)
        code.fill(0)
        sweep.crop(code)[...] = init
        for k, slot, shift in sweep.taps:
            v = sweep.tap(src, slot, shift, nc)
            np.greater(v, best, out=mask)
            mask |= np.isnan(v)
            np.copyto(best, v, where=mask)
            np.copyto(code, code_t.type(k), where=mask)
        values = sweep.to_nchw(best, n, c)
    # code -> flat input index (i*sh - ph + a*dh)*W + (j*sw - pw + b*dw)
    tap_offset = (np.arange(kh, dtype=np.int64)[:, None] * (dh * w) + np.arange(kw, dtype=np.int64) * dw).ravel()
    indices = np.take(tap_offset, sweep.to_nchw(code, n, c))
    indices += (np.arange(sweep.oh, dtype=np.int64) * sh - ph)[:, None] * w + (
        np.arange(sweep.ow, dtype=np.int64) * sw - pw)
    return values, indices


def max_pool2d_backward(grad_out: np.ndarray, indices: np.ndarray, input_shape) -> np.ndarray:
    """Scatter each output gradient to the input element its index names (accumulating repeats)."""
    n, c, h, w = input_shape
    grad = np.zeros(n * c * h * w, dtype=grad_out.dtype)
    plane = np.arange(n * c, dtype=np.int64).reshape(n, c, 1, 1) * (h * w)
    np.add.at(grad, (indices + plane).ravel(), grad_out.ravel())
    return grad.reshape(n, c, h, w)


# ------------------------------------------------------------------------------ max pooling, channels-last (compiled)

PARALLEL_MIN_SIZE = 1 << 18  # input elements below which the NHWC kernels run on the calling thread


@njit
def _max_pool_nhwc_kernel(x, kh, kw, sh, sw, ph, pw, dh, dw, values, indices, want_indices):
    """values[n, i, j, c] = max of x[n, i*sH - pH + a*dH, j*sW - pW + b*dW, c] over the taps inside the image,
    taking a tap when it is strictly greater or NaN (first maximum, last NaN); indices[...] = its h*W + w,
    starting at the window's first tap inside the image (PyTorch's pick for an all -inf window)."""
    n, h, w, c = x.shape
    _, oh, ow, _ = values.shape
    xf, vf, idf = x.reshape(-1), values.reshape(-1), indices.reshape(-1)
    u = np.uint64
    for b in range(n):
        for i in range(oh):
            r0 = i * sh - ph
            while r0 < 0:
                r0 += dh
            for j in range(ow):
                c0 = j * sw - pw
                while c0 < 0:
                    c0 += dw
                o0 = u(((b * oh + i) * ow + j) * c)
                for ch in range(u(c)):
                    vf[o0 + ch] = -np.inf
                if want_indices:
                    for ch in range(u(c)):
                        idf[o0 + ch] = r0 * w + c0
                for a in range(kh):
                    r = i * sh - ph + a * dh
                    if r < 0 or r >= h:
                        continue
                    for bb in range(kw):
                        q = j * sw - pw + bb * dw
                        if q < 0 or q >= w:
                            continue
                        x0 = u(((b * h + r) * w + q) * c)
                        for ch in range(u(c)):
                            v = xf[x0 + ch]
                            if v > vf[o0 + ch] or v != v:
                                vf[o0 + ch] = v
                                if want_indices:
                                    idf[o0 + ch] = r * w + q


@njit
def _max_pool_nhwc_backward_kernel(g, indices, out):
    """out[n, k // W, k % W, c] += g[n, i, j, c] with k = indices[n, i, j, c]; out is zeroed first."""
    n, h, w, c = out.shape
    _, oh, ow, _ = g.shape
    gf, idf, of = g.reshape(-1), indices.reshape(-1), out.reshape(-1)
    u = np.uint64
    for t in range(u(out.size)):
        of[t] = 0
    for b in range(n):
        base = u(b * h * w * c)
        for p in range(oh * ow):
            g0 = u((b * oh * ow + p) * c)
            for ch in range(u(c)):
                of[base + u(idf[g0 + ch]) * u(c) + ch] += gf[g0 + ch]


def max_pool2d_forward_nhwc(x: np.ndarray, kernel_size, stride, padding, dilation=(1, 1), ceil_mode: bool = False,
                            return_indices: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`max_pool2d_forward` on a C-contiguous channels-last array x (N, H, W, C): returns values
    (N, OH, OW, C) and int64 indices h*W + w of the same shape (None unless ``return_indices``)."""
    n, h, w, c = x.shape
    oh, ow = pool_output_shape(h, w, kernel_size, stride, padding, dilation, ceil_mode)
    values = np.empty((n, oh, ow, c), dtype=x.dtype)
    indices = np.empty((n, oh, ow, c) if return_indices else (n, 0, 0, 0), dtype=np.int64)
    args = (*kernel_size, *stride, *padding, *dilation)
    parts = _parallel.ranges(n, x.size, PARALLEL_MIN_SIZE)
    _parallel.run(lambda k: _max_pool_nhwc_kernel(x[parts[k][0]:parts[k][1]], *args,
                                                  values[parts[k][0]:parts[k][1]],
                                                  indices[parts[k][0]:parts[k][1]], return_indices), len(parts))
    return values, (indices if return_indices else None)


def max_pool2d_backward_nhwc(grad_out: np.ndarray, indices: np.ndarray, input_shape) -> np.ndarray:
    """:func:`max_pool2d_backward` for channels-last grad_out and indices (N, OH, OW, C) -> (N, H, W, C)."""
    grad = np.empty(input_shape, dtype=grad_out.dtype)
    parts = _parallel.ranges(input_shape[0], grad.size, PARALLEL_MIN_SIZE)
    _parallel.run(lambda k: _max_pool_nhwc_backward_kernel(
        *(a[parts[k][0]:parts[k][1]] for a in (grad_out, indices, grad))), len(parts))
    return grad


# ------------------------------------------------------------------------------ average pooling


def _avg_divisor(h, w, oh, ow, kernel_size, stride, padding, count_include_pad, divisor_override, dtype):
    """The (oh, ow) divisors of average pooling (a scalar for divisor_override)."""
    if divisor_override is not None:
        return dtype.type(divisor_override)
    lengths = []
    for out, size, k, s, p in ((oh, h, kernel_size[0], stride[0], padding[0]),
                               (ow, w, kernel_size[1], stride[1], padding[1])):
        start = np.arange(out, dtype=np.int64) * s - p
        end = np.minimum(start + k, size + p)
        if count_include_pad:
            lengths.append(end - start)
        else:  # an empty window sums to 0; dividing by 1 gives PyTorch's 0 instead of 0/0
            lengths.append(np.maximum(np.minimum(end, size) - np.maximum(start, 0), 1))
    return (lengths[0][:, None] * lengths[1][None, :]).astype(dtype)


def avg_pool2d_forward(x: np.ndarray, kernel_size, stride, padding, ceil_mode: bool = False,
                       count_include_pad: bool = True, divisor_override: int | None = None) -> np.ndarray:
    """Average pooling of an (N, C, H, W) array: window sum / divisor (see the module docstring)."""
    n, c, h, w = x.shape
    if _is_global(h, w, kernel_size, padding):
        total = x.reshape(n, c, h * w).sum(axis=-1).reshape(n, c, 1, 1)
        total /= x.dtype.type(h * w if divisor_override is None else divisor_override)
        return total
    sweep = _Sweep(h, w, kernel_size, stride, padding, (1, 1), ceil_mode)
    src = sweep.pack(x, 0)
    total = sweep.wide(n * c, x.dtype, 0)
    for _, slot, shift in sweep.taps:
        total += sweep.tap(src, slot, shift, n * c)
    out = sweep.crop(total)
    out /= _avg_divisor(h, w, sweep.oh, sweep.ow, kernel_size, stride, padding, count_include_pad,
                        divisor_override, x.dtype)
    return sweep.to_nchw(total, n, c)


def avg_pool2d_backward(grad_out: np.ndarray, input_shape, kernel_size, stride, padding, ceil_mode: bool = False,
                        count_include_pad: bool = True, divisor_override: int | None = None) -> np.ndarray:
    """Spread each output gradient / divisor evenly over its window."""
    n, c, h, w = input_shape
    if _is_global(h, w, kernel_size, padding):
        g = grad_out / grad_out.dtype.type(h * w if divisor_override is None else divisor_override)
        return np.broadcast_to(g, (n, c, h, w)).copy()
    sweep = _Sweep(h, w, kernel_size, stride, padding, (1, 1), ceil_mode)
    wide = sweep.wide(n * c, grad_out.dtype, 0)  # scratch positions stay 0 so they add nothing
    np.divide(grad_out.reshape(n * c, sweep.oh, sweep.ow),
              _avg_divisor(h, w, sweep.oh, sweep.ow, kernel_size, stride, padding, count_include_pad,
                           divisor_override, grad_out.dtype), out=sweep.crop(wide))
    grad = np.zeros((sweep.n_phases, sweep.size(n * c) + sweep.tail), dtype=grad_out.dtype)
    for _, slot, shift in sweep.taps:
        grad[slot, shift:shift + sweep.size(n * c)] += wide
    return sweep.unpack(grad, n, c)


# ------------------------------------------------------------------------------ adaptive pooling


def _adaptive_matrix(size: int, out: int, dtype) -> np.ndarray:
    """(out, size) averaging matrix: row i holds 1/len over bin i."""
    start, end = adaptive_bins(size, out)
    pos = np.arange(size)
    inside = (pos[None, :] >= start[:, None]) & (pos[None, :] < end[:, None])
    return inside.astype(dtype) / (end - start).astype(dtype)[:, None]


def adaptive_avg_pool2d_forward(x: np.ndarray, output_size) -> np.ndarray:
    """Adaptive average pooling to (out_h, out_w): each output is the mean of its bin."""
    n, c, h, w = x.shape
    oh, ow = output_size
    if h % oh == 0 and w % ow == 0:  # equal bins (global pooling included): a reshape and a mean
        return x.reshape(n, c, oh, h // oh, ow, w // ow).mean(axis=(3, 5))
    rows, cols = _adaptive_matrix(h, oh, x.dtype), _adaptive_matrix(w, ow, x.dtype)
    y = (x.reshape(n * c * h, w) @ cols.T).reshape(n * c, h, ow)
    return np.matmul(rows, y).reshape(n, c, oh, ow)


def adaptive_avg_pool2d_backward(grad_out: np.ndarray, input_shape) -> np.ndarray:
    """Each input element receives the gradient of every bin holding it, divided by that bin's size."""
    n, c, h, w = input_shape
    oh, ow = grad_out.shape[-2:]
    if h % oh == 0 and w % ow == 0:
        kh, kw = h // oh, w // ow
        g = grad_out / grad_out.dtype.type(kh * kw)
        return np.broadcast_to(g[:, :, :, None, :, None], (n, c, oh, kh, ow, kw)).reshape(n, c, h, w)
    rows, cols = _adaptive_matrix(h, oh, grad_out.dtype), _adaptive_matrix(w, ow, grad_out.dtype)
    y = (grad_out.reshape(n * c * oh, ow) @ cols).reshape(n * c, oh, w)
    return np.matmul(rows.T, y).reshape(n, c, h, w)


def _window_argmax(windows: np.ndarray) -> np.ndarray:
    """Argmax over the last axis with PyTorch's pooling rule: the first maximum, or the last NaN if any."""
    arg = windows.argmax(axis=-1)  # NumPy returns the first maximum, or the first NaN
    picked = np.take_along_axis(windows, arg[..., None], axis=-1)[..., 0]
    nan = np.isnan(picked)
    if nan.any():
        last = windows.shape[-1] - 1
        arg[nan] = last - np.isnan(windows[nan][:, ::-1]).argmax(axis=-1)
    return arg


def _global_max(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Max over each whole plane: (values, indices), each (N, C, 1, 1)."""
    n, c, h, w = x.shape
    flat = x.reshape(n, c, h * w)
    idx = _window_argmax(flat)[..., None]
    return np.take_along_axis(flat, idx, axis=-1)[..., None], idx[..., None]


def adaptive_max_pool2d_forward(x: np.ndarray, output_size) -> tuple[np.ndarray, np.ndarray]:
    """Adaptive max pooling to (out_h, out_w): returns (values, int64 flat indices h*W + w)."""
    n, c, h, w = x.shape
    oh, ow = output_size
    if oh == 1 and ow == 1:
        return _global_max(x)
    if h % oh == 0 and w % ow == 0:  # equal bins: plain max pooling with kernel = stride = bin size
        k = (h // oh, w // ow)
        return max_pool2d_forward(x, k, k, (0, 0))
    h0, h1 = adaptive_bins(h, oh)
    w0, w1 = adaptive_bins(w, ow)
    lh, lw = int((h1 - h0).max()), int((w1 - w0).max())
    shape = (n, c, oh, ow)
    best = np.full(shape, -np.inf, dtype=x.dtype)
    code = np.zeros(shape, dtype=np.int64)
    mask = np.empty(shape, dtype=bool)
    has_nan = bool(np.isnan(x).any())
    for a in range(lh):
        r = np.minimum(h0 + a, h1 - 1)  # shorter bins repeat their last row; a repeat never wins (strict >)
        for b in range(lw):
            col = np.minimum(w0 + b, w1 - 1)
            v = x[:, :, r[:, None], col[None, :]]
            np.greater(v, best, out=mask)
            if has_nan:  # a NaN replaces the best, but a repeated tap must not count twice
                mask |= np.isnan(v) & ((h0 + a < h1)[:, None] & (w0 + b < w1)[None, :])
            np.copyto(best, v, where=mask)
            np.copyto(code, a * lw + b, where=mask)
    a, b = np.divmod(code, lw)
    return best, (h0[:, None] + a) * w + (w0[None, :] + b)


# ------------------------------------------------------------------------------ loop references


def max_pool2d_reference(x, kernel_size, stride, padding, dilation=(1, 1), ceil_mode=False):
    """Loop reference for ``max_pool2d_forward`` (vectorised over N and C only)."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh, ow = pool_output_shape(h, w, kernel_size, stride, padding, dilation, ceil_mode)
    out = np.empty((n, c, oh, ow), dtype=x.dtype)
    idx = np.empty((n, c, oh, ow), dtype=np.int64)
    for i in range(oh):
        for j in range(ow):
            rows = [i * sh - ph + a * dh for a in range(kh) if 0 <= i * sh - ph + a * dh < h]
            cols = [j * sw - pw + b * dw for b in range(kw) if 0 <= j * sw - pw + b * dw < w]
            r0, c0 = i * sh - ph, j * sw - pw  # PyTorch's pick for an all -inf window: the first tap inside
            while r0 < 0:
                r0 += dh
            while c0 < 0:
                c0 += dw
            best = np.full((n, c), -np.inf, dtype=x.dtype)
            arg = np.full((n, c), r0 * w + c0, dtype=np.int64)
            for r in rows:
                for q in cols:
                    v = x[:, :, r, q]
                    take = (v > best) | np.isnan(v)
                    best = np.where(take, v, best)
                    arg = np.where(take, r * w + q, arg)
            out[:, :, i, j], idx[:, :, i, j] = best, arg
    return out, idx


def max_pool2d_backward_reference(grad_out, indices, input_shape):
    n, c, h, w = input_shape
    grad = np.zeros((n, c, h * w), dtype=grad_out.dtype)
    for b in range(n):
        for ch in range(c):
            for k, g in zip(indices[b, ch].ravel(), grad_out[b, ch].ravel(), strict=True):
                grad[b, ch, k] += g
    return grad.reshape(n, c, h, w)


def _avg_windows(h, w, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    """Yield (i, j, rows, cols, divisor) for every average-pooling window."""
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    oh, ow = pool_output_shape(h, w, kernel_size, stride, padding, (1, 1), ceil_mode)
    for i in range(oh):
        for j in range(ow):
            r_start, c_start = i * sh - ph, j * sw - pw
            r_end, c_end = min(r_start + kh, h + ph), min(c_start + kw, w + pw)
            rows = range(max(r_start, 0), min(r_end, h))
            cols = range(max(c_start, 0), min(c_end, w))
            if divisor_override is not None:
                div = divisor_override
            elif count_include_pad:
                div = (r_end - r_start) * (c_end - c_start)
            else:
                div = max(len(rows) * len(cols), 1)
            yield i, j, rows, cols, div


def avg_pool2d_reference(x, kernel_size, stride, padding, ceil_mode=False, count_include_pad=True,
                         divisor_override=None):
    n, c, h, w = x.shape
    oh, ow = pool_output_shape(h, w, kernel_size, stride, padding, (1, 1), ceil_mode)
    out = np.zeros((n, c, oh, ow), dtype=x.dtype)
    for i, j, rows, cols, div in _avg_windows(h, w, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                               divisor_override):
        total = np.zeros((n, c), dtype=x.dtype)
        for r in rows:
            for q in cols:
                total += x[:, :, r, q]
        out[:, :, i, j] = total / x.dtype.type(div)
    return out


def avg_pool2d_backward_reference(grad_out, input_shape, kernel_size, stride, padding, ceil_mode=False,
                                  count_include_pad=True, divisor_override=None):
    n, c, h, w = input_shape
    grad = np.zeros((n, c, h, w), dtype=grad_out.dtype)
    for i, j, rows, cols, div in _avg_windows(h, w, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                               divisor_override):
        for r in rows:
            for q in cols:
                grad[:, :, r, q] += grad_out[:, :, i, j] / grad_out.dtype.type(div)
    return grad


def adaptive_avg_pool2d_reference(x, output_size):
    n, c, h, w = x.shape
    (h0, h1), (w0, w1) = adaptive_bins(h, output_size[0]), adaptive_bins(w, output_size[1])
    out = np.empty((n, c) + tuple(output_size), dtype=x.dtype)
    for i in range(output_size[0]):
        for j in range(output_size[1]):
            out[:, :, i, j] = x[:, :, h0[i]:h1[i], w0[j]:w1[j]].sum(axis=(2, 3)) / x.dtype.type(
                (h1[i] - h0[i]) * (w1[j] - w0[j]))
    return out


def adaptive_avg_pool2d_backward_reference(grad_out, input_shape):
    n, c, h, w = input_shape
    oh, ow = grad_out.shape[-2:]
    (h0, h1), (w0, w1) = adaptive_bins(h, oh), adaptive_bins(w, ow)
    grad = np.zeros(input_shape, dtype=grad_out.dtype)
    for i in range(oh):
        for j in range(ow):
            size = (h1[i] - h0[i]) * (w1[j] - w0[j])
            grad[:, :, h0[i]:h1[i], w0[j]:w1[j]] += (grad_out[:, :, i, j] / grad_out.dtype.type(size))[:, :, None, None]
    return grad


def adaptive_max_pool2d_reference(x, output_size):
    n, c, h, w = x.shape
    (h0, h1), (w0, w1) = adaptive_bins(h, output_size[0]), adaptive_bins(w, output_size[1])
    out = np.empty((n, c) + tuple(output_size), dtype=x.dtype)
    idx = np.empty((n, c) + tuple(output_size), dtype=np.int64)
    for i in range(output_size[0]):
        for j in range(output_size[1]):
            best = np.full((n, c), -np.inf, dtype=x.dtype)
            arg = np.full((n, c), h0[i] * w + w0[j], dtype=np.int64)
            for r in range(h0[i], h1[i]):
                for q in range(w0[j], w1[j]):
                    v = x[:, :, r, q]
                    take = (v > best) | np.isnan(v)
                    best = np.where(take, v, best)
                    arg = np.where(take, r * w + q, arg)
            out[:, :, i, j], idx[:, :, i, j] = best, arg
    return out, idx


# ------------------------------------------------------------------------------ max unpooling


def max_unpool2d_forward(x: np.ndarray, indices: np.ndarray, output_size: tuple[int, int]) -> np.ndarray:
    """Scatter each value of ``x`` (N, C, h, w) to the flat position ``indices`` (same shape, h*W + w within each
    (H, W) plane) of a zero (N, C, H, W) output; where several values name one position the last one stays."""
    n, c = x.shape[:2]
    out = np.zeros((n * c, output_size[0] * output_size[1]), x.dtype)
    np.put_along_axis(out, indices.reshape(n * c, -1), x.reshape(n * c, -1), axis=1)
    return out.reshape(n, c, *output_size)


def max_unpool2d_backward(g: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Gradient of max unpooling with respect to its input: the output gradient read back at each index."""
    n, c = indices.shape[:2]
    flat = g.reshape(n * c, -1)
    return np.take_along_axis(flat, indices.reshape(n * c, -1), axis=1).reshape(indices.shape)


def max_unpool2d_reference(x: np.ndarray, indices: np.ndarray, output_size: tuple[int, int]) -> np.ndarray:
    """Plain loops of :func:`max_unpool2d_forward`."""
    n, c, h, w = x.shape
    out = np.zeros((n, c, output_size[0] * output_size[1]), x.dtype)
    for b in range(n):
        for ch in range(c):
            for i in range(h):
                for j in range(w):
                    out[b, ch, indices[b, ch, i, j]] = x[b, ch, i, j]
    return out.reshape(n, c, *output_size)
