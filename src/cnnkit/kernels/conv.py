"""Convolution and transposed convolution: im2col + GEMM on channels-last data, batch chunk by chunk.

Convolution (weight W of shape (O, C/G, kH, kW), G groups):

    y[n, o, oh, ow] = b[o] + sum_{c in group(o), i, j} W[o, c, i, j] * xpad[n, c, oh*sH + i*dH, ow*sW + j*dW]

Inside, images are channels-last (NHWC). With ``rows = im2col_nhwc(x)`` (one row per output position, one
column per (group, i, j, channel); see :mod:`.im2col`), Y the output as an (N*OH*OW, O) matrix and W_g the
weight of group g as a (kH*kW*C/G, O/G) matrix:

    Y[:, g] = rows[:, g] @ W_g + b
    drows[:, g] = dY[:, g] @ W_g^T  ->  dx = col2im(drows)        dW_g = dY[:, g]^T @ rows[:, g]        db = sum of dY

A transposed convolution is the adjoint of a convolution with respect to its input: its forward is the
convolution's input gradient (GEMM then col2im), and its backward is a convolution (im2col then GEMM).

Layout at the boundary: arrays are NCHW-shaped. Results are NCHW *views* of NHWC memory (PyTorch's
channels_last), so the next convolution (and the elementwise ops between) read them without a copy; an
NCHW-contiguous operand is transposed once.

Work and memory: the batch is cut into one contiguous range per thread (:mod:`._parallel`, single-threaded BLAS
in each), each range into chunks whose rows buffer stays near ``COLUMN_BUDGET_BYTES`` (cache-sized; the one
buffer is reused from chunk to chunk; :func:`conv2d_workspace_bytes` adds those buffers up from the same geometry);
each chunk's GEMM writes straight into its slice of the output, and the weight gradient is accumulated chunk by
chunk per thread, then summed. A 1x1 convolution with stride 1 and no padding is a plain GEMM on the image (no
im2col); an input of very few channels (an image) is unfolded into channel-major columns instead (long runs), with
out^T = W @ cols; a depthwise convolution (groups = C) is a direct compiled loop.
Padding is never materialised, and the dtype of the inputs (float32 or float64) is kept throughout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _parallel
from ._numba import njit
from .conv_arith import conv_transpose_output_size, pair
from .im2col import _col2im_rows, _im2col_columns, _im2col_rows, columns_output_size, normalize_padding

__all__ = [
    "COLUMN_BUDGET_BYTES",
    "conv2d_forward",
    "conv2d_backward",
    "conv_transpose2d_forward",
    "conv_transpose2d_backward",
    "conv2d_reference",
    "conv_transpose2d_reference",
    "conv2d_workspace_bytes",
]

COLUMN_BUDGET_BYTES = 2 << 20  # target size of the rows buffer of one batch chunk (per thread)
PARALLEL_MIN_FLOPS = 2e7  # smaller convolutions run on one thread: handing work out would cost more
CHANNEL_MAJOR_MAX_CHANNELS = 4  # inputs with at most this many channels use channel-major columns


def nhwc(a: np.ndarray) -> np.ndarray:
    """An NCHW-shaped array as C-contiguous NHWC: a view when its memory is channels-last, else a copy."""
    t = a.transpose(0, 2, 3, 1)
    return t if t.flags.c_contiguous else np.ascontiguousarray(t)


@dataclass(frozen=True)
class _Geometry:
    """One convolution: its input (N, C, H, W) -> output (N, O, OH, OW), weight (O, C/G, kH, kW)."""

    n: int
    c: int
    h: int
    w: int
    o: int
    oh: int
    ow: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    pads: tuple[tuple[int, int], tuple[int, int]]
    dilation: tuple[int, int]
    groups: int

    @property
    def k_group(self) -> int:  # columns of rows per group: kH * kW * C/G
        return self.c // self.groups * self.kernel[0] * self.kernel[1]

    @property
    def spatial(self) -> int:
        return self.oh * self.ow

    @property
    def pointwise(self) -> bool:
        """1x1, stride 1, no padding, one group: the rows are the image itself."""
        return (self.kernel == (1, 1) and self.stride == (1, 1) and self.pads == ((0, 0), (0, 0))
                and self.groups == 1 and (self.oh, self.ow) == (self.h, self.w))

    @property
    def channel_major(self) -> bool:
        """Few input channels (one group): im2col into channel-major columns, whose runs are long (:mod:`.im2col`)."""
        return self.groups == 1 and self.c <= CHANNEL_MAJOR_MAX_CHANNELS and not self.pointwise

    @property
    def depthwise(self) -> bool:
        """One input channel per group (groups = C > 1): computed directly, without im2col."""
        return self.groups == self.c and self.groups > 1

    @property
    def flops(self) -> int:
        return 2 * self.n * self.spatial * self.o * self.k_group

    def chunks(self, lo: int, hi: int, itemsize: int):
        """Batch ranges [n0, n1) covering [lo, hi) whose rows buffer is about COLUMN_BUDGET_BYTES (>= 1 image)."""
        per_image = self.c * self.kernel[0] * self.kernel[1] * self.spatial * itemsize
        step = max(1, COLUMN_BUDGET_BYTES // max(1, per_image))
        return [(n0, min(hi, n0 + step)) for n0 in range(lo, hi, step)]

    def rows_buffer_size(self, lo: int, hi: int, itemsize: int) -> int:
        """Elements of the rows buffer for the batch range [lo, hi): its largest chunk's rows (0 when pointwise)."""
        if self.pointwise:
            return 0
        most = max((n1 - n0 for n0, n1 in self.chunks(lo, hi, itemsize)), default=0)
        return most * self.spatial * self.c * self.kernel[0] * self.kernel[1]

    def rows_buffer(self, lo: int, hi: int, dtype) -> np.ndarray | None:
        """A buffer for the rows of the largest chunk of [lo, hi) (None for a pointwise convolution)."""
        if self.pointwise:
            return None
        return np.empty(self.rows_buffer_size(lo, hi, np.dtype(dtype).itemsize), dtype=dtype)

    def rows(self, image: np.ndarray, buffer: np.ndarray | None) -> np.ndarray:
        """im2col rows (nc*OH*OW, G*kH*kW*C/G) of an NHWC chunk ``image`` (nc, H, W, C), in ``buffer``."""
        nc = image.shape[0]
        if self.pointwise:
            return image.reshape(nc * self.spatial, self.c)
        out = buffer[: nc * self.spatial * self.c * self.kernel[0] * self.kernel[1]]
        out = out.reshape(nc * self.spatial, -1)
        _im2col_rows(image, *self.kernel_args, out)
        return out

    def columns(self, image: np.ndarray, buffer: np.ndarray) -> np.ndarray:
        """Channel-major columns (C*kH*kW, nc*OH*OW) of an NHWC chunk ``image`` (nc, H, W, C), in ``buffer``."""
        out = buffer[: image.shape[0] * self.spatial * self.k_group].reshape(self.k_group, -1)
        _im2col_columns(image, *self.kernel_args[:-1], out)
        return out

    def scatter(self, drows: np.ndarray, image: np.ndarray) -> None:
        """col2im of rows (nc*OH*OW, G*kH*kW*C/G) into an NHWC chunk ``image`` (nc, H, W, C), overwriting it."""
        _col2im_rows(drows, *self.kernel_args, False, image)

    @property
    def kernel_args(self) -> tuple:
        """The geometry arguments of the compiled row kernels (:mod:`.im2col`)."""
        (kh, kw), (sh, sw), ((pt, _), (pl, _)), (dh, dw) = self.kernel, self.stride, self.pads, self.dilation
        return kh, kw, sh, sw, pt, pl, dh, dw, self.oh, self.ow, self.groups

    def parts(self, num_threads: int | None = None) -> list[tuple[int, int]]:
        """The batch ranges the threads take: one per thread, or one in all for a small convolution.
        ``num_threads`` defaults to :func:`._parallel.get_num_threads`."""
        threads = _parallel.get_num_threads() if num_threads is None else num_threads
        return _parallel.split(self.n, threads if self.flops >= PARALLEL_MIN_FLOPS else 1)


def _group_columns(a: np.ndarray, g: int, width: int) -> np.ndarray:
    return a if a.shape[1] == width else a[:, g * width:(g + 1) * width]


def _column_sums(a: np.ndarray) -> np.ndarray:
    """Sum over the rows of an (M, K) matrix, as one matrix-vector product: BLAS is an order of magnitude faster
    than NumPy's axis-0 sum of a narrow matrix (and sums in blocks, so more accurately)."""
    return np.ones(a.shape[0], dtype=a.dtype) @ a


def _sum_parts(partials: list, shape, dtype) -> np.ndarray:
    partials = [p for p in partials if p is not None]
    if not partials:
        return np.zeros(shape, dtype=dtype)
    total = partials[0]
    for p in partials[1:]:
        total += p
    return total


class _Weights:
    """The weight W (O, C/G, kH, kW) as the GEMM operand of either column layout, and the weight gradient
    accumulated in that layout and returned in W's shape.

    rows layout:            G matrices (kH*kW*C/G, O/G), rows ordered (i, j, c) like the im2col rows
    channel-major layout:   one matrix (O, C*kH*kW), i.e. W itself reshaped (one group)
    """

    def __init__(self, weight: np.ndarray, geo: _Geometry, channel_major: bool):
        self.shape, self.geo, self.channel_major = weight.shape, geo, channel_major
        g, o = geo.groups, geo.o
        if channel_major:
            self.matrix = weight.reshape(o, geo.k_group)
        else:
            o, cg, kh, kw = weight.shape
            self.matrix = np.ascontiguousarray(
                weight.reshape(g, o // g, cg, kh, kw).transpose(0, 3, 4, 2, 1)).reshape(g, kh * kw * cg, o // g)

    def gradient_buffers(self, dtype) -> tuple[np.ndarray, np.ndarray]:
        """(accumulator, scratch) for the weight gradient of one thread."""
        geo = self.geo  # channel-major: dW^T (C*kH*kW, O) = cols @ dY, the faster product for these shapes
        shape = (geo.k_group, geo.o) if self.channel_major else (geo.groups, geo.o // geo.groups, geo.k_group)
        return np.zeros(shape, dtype), np.empty(shape[-2:], dtype)

    def gradient(self, accumulators: list) -> np.ndarray:
        """The threads' accumulators summed, in W's shape (O, C/G, kH, kW)."""
        total = accumulators[0]
        for acc in accumulators[1:]:
            total += acc
        if self.channel_major:
            return np.ascontiguousarray(total.T).reshape(self.shape)
        o, cg, kh, kw = self.shape
        return np.ascontiguousarray(total.reshape(o, kh, kw, cg).transpose(0, 3, 1, 2))


def _accumulate_weight_gradient(grad_w, tmp, dy: np.ndarray, cols: np.ndarray, weights: _Weights) -> None:
    """grad_w += dY^T @ rows (per group), or (dW^T) += cols @ dY for channel-major columns."""
    if weights.channel_major:
        grad_w += np.matmul(cols, dy, out=tmp)
        return
    geo = weights.geo
    og, kg = geo.o // geo.groups, geo.k_group
    for gi in range(geo.groups):
        grad_w[gi] += np.matmul(_group_columns(dy, gi, og).T, _group_columns(cols, gi, kg), out=tmp)


def _im2col_pass(a: np.ndarray, weight: np.ndarray, geo: _Geometry, out: np.ndarray | None = None,
                 bias: np.ndarray | None = None, partner: np.ndarray | None = None) -> np.ndarray | None:
    """Chunk loop over rows = im2col(a), ``a`` the NHWC image (N, H, W, C) of the convolution's input.

    If ``out`` (N*OH*OW, O) is given: out = rows @ W (+ bias), the convolution. If ``partner`` (N*OH*OW, O) is
    given: return dW = partner^T @ rows in W's shape, the weight gradient. Both share the rows (or, with very few
    input channels, the channel-major columns: out^T = W @ cols, dW = partner^T @ cols^T).
    """
    g, og, kg, s, dtype = geo.groups, geo.o // geo.groups, geo.k_group, geo.spatial, a.dtype
    weights = _Weights(weight, geo, geo.channel_major)
    w = weights.matrix

    def part(k):
        lo, hi = ranges[k]
        buffer = geo.rows_buffer(lo, hi, dtype)
        grad_w, tmp = weights.gradient_buffers(dtype) if partner is not None else (None, None)
        for n0, n1 in geo.chunks(lo, hi, dtype.itemsize):
            if weights.channel_major:
                cols = geo.columns(a[n0:n1], buffer)
            else:
                cols = geo.rows(a[n0:n1], buffer)
            if out is not None:
                y = out[n0 * s:n1 * s]
                if weights.channel_major:
                    np.matmul(w, cols, out=y.T)
                else:
                    for gi in range(g):
                        np.matmul(_group_columns(cols, gi, kg), w[gi], out=_group_columns(y, gi, og))
                if bias is not None:
                    y += bias
            if partner is not None:
                _accumulate_weight_gradient(grad_w, tmp, partner[n0 * s:n1 * s], cols, weights)
        return grad_w

    ranges = geo.parts()
    partials = _parallel.run(part, len(ranges))
    if partner is None:
        return None
    return weights.gradient(partials) if partials else np.zeros(weight.shape, dtype)


def _col2im_pass(b: np.ndarray, weight: np.ndarray, geo: _Geometry, out: np.ndarray | None = None,
                 partner: np.ndarray | None = None, bias: np.ndarray | None = None) -> np.ndarray | None:
    """Chunk loop over ``b`` (N*OH*OW, O), shaped like the convolution's output as a matrix.

    If ``out`` (N, H, W, C) is given: out = col2im(b @ W^T) (+ bias), the convolution's input gradient. If
    ``partner`` (N, H, W, C) is given: return dW = b^T @ im2col(partner) in W's shape.
    """
    g, og, kg, s, dtype = geo.groups, geo.o // geo.groups, geo.k_group, geo.spatial, b.dtype
    weights = _Weights(weight, geo, geo.channel_major and out is None)  # col2im needs the rows layout
    w = weights.matrix

    def part(k):
        lo, hi = ranges[k]
        buffer = geo.rows_buffer(lo, hi, dtype)
        grad_w, tmp = weights.gradient_buffers(dtype) if partner is not None else (None, None)
        for n0, n1 in geo.chunks(lo, hi, dtype.itemsize):
            dy = b[n0 * s:n1 * s]
            if partner is not None:
                if weights.channel_major:
                    cols = geo.columns(partner[n0:n1], buffer)
                else:
                    cols = geo.rows(partner[n0:n1], buffer)
                _accumulate_weight_gradient(grad_w, tmp, dy, cols, weights)
            if out is not None:
                if geo.pointwise:  # the rows are the image: write straight into it
                    np.matmul(dy, w[0].T, out=out[n0:n1].reshape(-1, geo.c))
                else:
                    drows = buffer[: (n1 - n0) * s * g * kg].reshape((n1 - n0) * s, g * kg)
                    for gi in range(g):
                        np.matmul(_group_columns(dy, gi, og), w[gi].T, out=_group_columns(drows, gi, kg))
                    geo.scatter(drows, out[n0:n1])
                if bias is not None:
                    out[n0:n1] += bias
        return grad_w

    ranges = geo.parts()
    partials = _parallel.run(part, len(ranges))
    if partner is None:
        return None
    return weights.gradient(partials) if partials else np.zeros(weight.shape, dtype)


# ------------------------------------------------------------------------------ depthwise (groups = C)


@njit
def _depthwise_kernel(x, wd, kh, kw, sh, sw, pt, pl, dh, dw, mult, out):
    """out[n, r, q, o] = sum_{i, j} x[n, r*sH - top + i*dH, q*sW - left + j*dW, o // mult] * wd[i, j, o]
    for x (N, H, W, C), wd (kH, kW, O) and out (N, OH, OW, O), all C-contiguous. (Unsigned flat indices let
    LLVM vectorise the channel loops, as in :mod:`.im2col`.)"""
    n, h, w, c = x.shape
    _, oh, ow, o = out.shape
    xf, wf, of = x.reshape(-1), wd.reshape(-1), out.reshape(-1)
    u = np.uint64
    for b in range(n):
        for r in range(oh):
            for q in range(ow):
                o0 = u(((b * oh + r) * ow + q) * o)
                for t in range(u(o)):
                    of[o0 + t] = 0
                for i in range(kh):
                    y = r * sh - pt + i * dh
                    if y < 0 or y >= h:
                        continue
                    for j in range(kw):
                        z = q * sw - pl + j * dw
                        if z < 0 or z >= w:
                            continue
                        x0, w0 = u(((b * h + y) * w + z) * c), u((i * kw + j) * o)
                        if mult == 1:
                            for t in range(u(o)):
                                of[o0 + t] += xf[x0 + t] * wf[w0 + t]
                        else:
                            for t in range(u(o)):
                                of[o0 + t] += xf[x0 + t // u(mult)] * wf[w0 + t]


@njit
def _depthwise_backward_kernel(g, x, wd, kh, kw, sh, sw, pt, pl, dh, dw, mult, dx, dwacc, need_x, need_w):
    """dx[n, y, z, o // mult] += g[n, r, q, o] * wd[i, j, o] and dwacc[i, j, o] += g[n, r, q, o] * x[n, y, z, o // mult]
    over every (r, q, i, j) whose window position (y, z) lies inside the image; dx is zeroed first."""
    n, oh, ow, o = g.shape
    h, w, c = dx.shape[1], dx.shape[2], dx.shape[3]
    gf, xf, wf, dxf, af = g.reshape(-1), x.reshape(-1), wd.reshape(-1), dx.reshape(-1), dwacc.reshape(-1)
    u = np.uint64
    for b in range(n):
        if need_x:
            for t in range(u(b * h * w * c), u((b + 1) * h * w * c)):
                dxf[t] = 0
        for r in range(oh):
            for q in range(ow):
                g0 = u(((b * oh + r) * ow + q) * o)
                for i in range(kh):
                    y = r * sh - pt + i * dh
                    if y < 0 or y >= h:
                        continue
                    for j in range(kw):
                        z = q * sw - pl + j * dw
                        if z < 0 or z >= w:
                            continue
                        x0, w0 = u(((b * h + y) * w + z) * c), u((i * kw + j) * o)
                        if need_x:
                            if mult == 1:
                                for t in range(u(o)):
                                    dxf[x0 + t] += gf[g0 + t] * wf[w0 + t]
                            else:
                                for t in range(u(o)):
                                    dxf[x0 + t // u(mult)] += gf[g0 + t] * wf[w0 + t]
                        if need_w:
                            if mult == 1:
                                for t in range(u(o)):
                                    af[w0 + t] += gf[g0 + t] * xf[x0 + t]
                            else:
                                for t in range(u(o)):
                                    af[w0 + t] += gf[g0 + t] * xf[x0 + t // u(mult)]


def _depthwise_args(geo: _Geometry):
    (kh, kw), (sh, sw), ((pt, _), (pl, _)), (dh, dw) = geo.kernel, geo.stride, geo.pads, geo.dilation
    return kh, kw, sh, sw, pt, pl, dh, dw, geo.o // geo.c


def _depthwise_forward(xh: np.ndarray, w: np.ndarray, b, geo: _Geometry) -> np.ndarray:
    wd = np.ascontiguousarray(w[:, 0].transpose(1, 2, 0))  # (kH, kW, O)
    y = np.empty((geo.n, geo.oh, geo.ow, geo.o), dtype=xh.dtype)
    args = _depthwise_args(geo)
    ranges = _parallel.ranges(geo.n, geo.flops, PARALLEL_MIN_FLOPS / 4)  # memory-bound: less work per flop

    def part(k):
        lo, hi = ranges[k]
        _depthwise_kernel(xh[lo:hi], wd, *args, y[lo:hi])
        if b is not None:
            y[lo:hi] += b

    _parallel.run(part, len(ranges))
    return y


def _depthwise_backward(gh: np.ndarray, xh: np.ndarray | None, w: np.ndarray, geo: _Geometry, need_input: bool,
                        need_weight: bool):
    dtype = gh.dtype
    wd = np.ascontiguousarray(w[:, 0].transpose(1, 2, 0))
    dx = np.empty((geo.n, geo.h, geo.w, geo.c), dtype=dtype) if need_input else np.empty((0, 1, 1, 1), dtype)
    x = xh if xh is not None else np.empty((0, 1, 1, 1), dtype)
    args = _depthwise_args(geo)
    ranges = _parallel.ranges(geo.n, geo.flops, PARALLEL_MIN_FLOPS / 4)  # memory-bound: less work per flop

    def part(k):
        lo, hi = ranges[k]
        acc = np.zeros((geo.kernel[0], geo.kernel[1], geo.o), dtype=np.float64)  # a sum over N*OH*OW terms
        _depthwise_backward_kernel(gh[lo:hi], x[lo:hi] if need_weight else x, wd, *args,
                                   dx[lo:hi] if need_input else dx, acc, need_input, need_weight)
        return acc

    partials = _parallel.run(part, len(ranges))
    gw = None
    if need_weight:
        acc = _sum_parts(partials, (geo.kernel[0], geo.kernel[1], geo.o), np.float64)
        gw = np.ascontiguousarray(acc.transpose(2, 0, 1)[:, None].astype(dtype))
    return (dx if need_input else None), gw


# ------------------------------------------------------------------------------ convolution


def _conv_geometry(x_shape, w_shape, stride, padding, dilation, groups) -> _Geometry:
    n, c, h, w = x_shape
    o, _, kh, kw = w_shape
    pads, stride, dilation = normalize_padding(padding), pair(stride), pair(dilation)
    oh, ow = columns_output_size((h, w), (kh, kw), stride, pads, dilation)
    return _Geometry(n, c, h, w, o, oh, ow, (kh, kw), stride, pads, dilation, int(groups))


def conv2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride=1, padding=0, dilation=1,
                   groups: int = 1) -> np.ndarray:
    """y = conv2d(x, w) + b for x (N, C, H, W), w (O, C/groups, kH, kW), b (O,) or None -> (N, O, OH, OW).

    ``padding`` is an int, (ph, pw) or ((top, bottom), (left, right)). The result is an NCHW view of
    channels-last memory.
    """
    geo = _conv_geometry(x.shape, w.shape, stride, padding, dilation, groups)
    xh = nhwc(x)
    if geo.depthwise:
        return _depthwise_forward(xh, w, b, geo).transpose(0, 3, 1, 2)
    y = np.empty((geo.n, geo.oh, geo.ow, geo.o), dtype=x.dtype)
    _im2col_pass(xh, w, geo, out=y.reshape(-1, geo.o), bias=b)
    return y.transpose(0, 3, 1, 2)


def conv2d_backward(grad: np.ndarray, x: np.ndarray | None, w: np.ndarray | None, stride=1, padding=0,
                    dilation=1, groups: int = 1, need_input: bool = True, need_weight: bool = True,
                    need_bias: bool = True, x_shape=None, w_shape=None):
    """Gradients (dx, dw, db) of conv2d given dL/dy ``grad``; each is None unless asked for.

    ``x`` is needed only for dw and ``w`` only for dx; pass ``x_shape`` / ``w_shape`` when an array is omitted.
    dx is an NCHW view of channels-last memory.
    """
    x_shape = x.shape if x is not None else x_shape
    w_shape = w.shape if w is not None else w_shape
    geo = _conv_geometry(x_shape, w_shape, stride, padding, dilation, groups)
    dtype = grad.dtype
    gh = nhwc(grad)
    gx = gw = None
    if need_input or need_weight:
        weight = w if w is not None else np.zeros(w_shape, dtype=dtype)
        xh = nhwc(x) if need_weight else None
        if geo.depthwise:
            gx, gw = _depthwise_backward(gh, xh, weight, geo, need_input, need_weight)
        else:
            gx = np.empty((geo.n, geo.h, geo.w, geo.c), dtype=dtype) if need_input else None
            gw = _col2im_pass(gh.reshape(-1, geo.o), weight, geo, out=gx, partner=xh)
        if gx is not None:
            gx = gx.transpose(0, 3, 1, 2)
    gb = _column_sums(gh.reshape(-1, geo.o)) if need_bias else None
    return gx, gw, gb


# ------------------------------------------------------------------------------ transposed convolution


def _transpose_geometry(x_shape, w_shape, stride, padding, output_padding, dilation, groups) -> _Geometry:
    """The convolution whose input gradient is this transposed convolution: its input is our output."""
    n, c_in, h_in, w_in = x_shape
    _, c_out_g, kh, kw = w_shape
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = pair(stride), pair(padding), pair(output_padding), pair(dilation)
    h_out = conv_transpose_output_size(h_in, kh, sh, ph, oph, dh)
    w_out = conv_transpose_output_size(w_in, kw, sw, pw, opw, dw)
    return _Geometry(n, c_out_g * int(groups), h_out, w_out, c_in, h_in, w_in, (kh, kw), (sh, sw),
                     ((ph, ph), (pw, pw)), (dh, dw), int(groups))


def conv_transpose2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride=1, padding=0,
                             output_padding=0, dilation=1, groups: int = 1) -> np.ndarray:
    """y = conv_transpose2d(x, w) + b for x (N, C, H, W), w (C, O/groups, kH, kW) -> (N, O, H', W') with
    H' = (H-1)*sH - 2*pH + dH*(kH-1) + output_padding + 1: the adjoint of conv2d with weight w."""
    geo = _transpose_geometry(x.shape, w.shape, stride, padding, output_padding, dilation, groups)
    y = np.empty((geo.n, geo.h, geo.w, geo.c), dtype=x.dtype)
    _col2im_pass(nhwc(x).reshape(-1, geo.o), w, geo, out=y, bias=b)
    return y.transpose(0, 3, 1, 2)


def conv_transpose2d_backward(grad: np.ndarray, x: np.ndarray | None, w: np.ndarray | None, stride=1, padding=0,
                              output_padding=0, dilation=1, groups: int = 1, need_input: bool = True,
                              need_weight: bool = True, need_bias: bool = True, x_shape=None, w_shape=None):
    """Gradients (dx, dw, db) of conv_transpose2d given dL/dy ``grad``; each is None unless asked for.

    dx = conv2d(grad, w) and dw pairs x with im2col(grad); both share the rows of ``grad``.
    """
    x_shape = x.shape if x is not None else x_shape
    w_shape = w.shape if w is not None else w_shape
    geo = _transpose_geometry(x_shape, w_shape, stride, padding, output_padding, dilation, groups)
    dtype = grad.dtype
    gh = nhwc(grad)
    gx = gw = None
    if need_input or need_weight:
        weight = w if w is not None else np.zeros(w_shape, dtype=dtype)
        gx = np.empty((geo.n, geo.oh, geo.ow, geo.o), dtype=dtype) if need_input else None
        partner = nhwc(x).reshape(-1, geo.o) if need_weight else None
        gw = _im2col_pass(gh, weight, geo, out=None if gx is None else gx.reshape(-1, geo.o), partner=partner)
        if gx is not None:
            gx = gx.transpose(0, 3, 1, 2)
    gb = _column_sums(gh.reshape(-1, gh.shape[3])) if need_bias else None
    return gx, gw, gb


# ------------------------------------------------------------------------------ workspace


def conv2d_workspace_bytes(x_shape, w_shape, stride=1, padding=0, dilation=1, groups: int = 1, *,
                           transposed: bool = False, output_padding=0, dtype=np.float32,
                           num_threads: int | None = None) -> int:
    """Bytes of scratch the forward pass of this convolution allocates: the im2col rows buffers.

    Same arguments as :func:`conv2d_forward` (``transposed=True``: as :func:`conv_transpose2d_forward`, ``w_shape``
    then being (C, O/groups, kH, kW)), but shapes instead of arrays. The batch is cut the way the driver cuts it
    (:meth:`_Geometry.parts` over ``num_threads`` threads, default :func:`._parallel.get_num_threads`; one range
    for a small convolution), and each range allocates one buffer for the rows of its largest chunk, so the result
    is the sum of those buffers: 0 for a pointwise (1x1) convolution, whose rows are the image itself, and for a
    depthwise one, computed directly. The output and the reordered weight are not counted.
    """
    if transposed:
        geo = _transpose_geometry(x_shape, w_shape, stride, padding, output_padding, dilation, groups)
    else:
        geo = _conv_geometry(x_shape, w_shape, stride, padding, dilation, groups)
        if geo.depthwise:
            return 0
    itemsize = np.dtype(dtype).itemsize
    return sum(geo.rows_buffer_size(lo, hi, itemsize) for lo, hi in geo.parts(num_threads)) * itemsize


# ------------------------------------------------------------------------------ plain references


def conv2d_reference(x, w, b=None, stride=1, padding=0, dilation=1, groups: int = 1) -> np.ndarray:
    """Direct convolution by loops over groups and kernel offsets, on an explicitly padded input."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    (sh, sw), (dh, dw) = pair(stride), pair(dilation)
    (pt, pb), (pl, pr) = normalize_padding(padding)
    oh, ow = columns_output_size((h, wd), (kh, kw), (sh, sw), ((pt, pb), (pl, pr)), (dh, dw))
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    og = o // groups
    y = np.zeros((n, o, oh, ow), dtype=x.dtype)
    for g in range(groups):
        xs = xp[:, g * cg:(g + 1) * cg]
        for i in range(kh):
            for j in range(kw):
                patch = xs[:, :, i * dh:i * dh + (oh - 1) * sh + 1:sh, j * dw:j * dw + (ow - 1) * sw + 1:sw]
                y[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", patch, w[g * og:(g + 1) * og, :, i, j])
    if b is not None:
        y += b[:, None, None]
    return y


def conv_transpose2d_reference(x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1,
                               groups: int = 1) -> np.ndarray:
    """Transposed convolution by scattering: every input pixel adds weight * value into the full output, whose
    ``padding`` border is then cropped away."""
    n, c, h, wd = x.shape
    _, og, kh, kw = w.shape
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = pair(stride), pair(padding), pair(output_padding), pair(dilation)
    h_out = conv_transpose_output_size(h, kh, sh, ph, oph, dh)
    w_out = conv_transpose_output_size(wd, kw, sw, pw, opw, dw)
    full = np.zeros((n, og * groups, h_out + 2 * ph, w_out + 2 * pw), dtype=x.dtype)
    cg = c // groups
    for g in range(groups):
        xs = x[:, g * cg:(g + 1) * cg]
        for i in range(kh):
            for j in range(kw):
                contrib = np.einsum("nchw,co->nohw", xs, w[g * cg:(g + 1) * cg, :, i, j])
                full[:, g * og:(g + 1) * og, i * dh:i * dh + (h - 1) * sh + 1:sh,
                     j * dw:j * dw + (wd - 1) * sw + 1:sw] += contrib
    y = full[:, :, ph:ph + h_out, pw:pw + w_out]
    if b is not None:
        y = y + b[:, None, None]
    return np.ascontiguousarray(y)
