"""Convolution and transposed convolution on NCHW arrays: im2col + one GEMM per group, batch chunk by chunk.

Convolution (weight W of shape (O, C/G, kH, kW), G groups):

    y[n, o, oh, ow] = b[o] + sum_{c in group(o), i, j} W[o, c, i, j] * xpad[n, c, oh*sH + i*dH, ow*sW + j*dW]

As matrices, per group g: Y_g = W_g @ cols_g, with W_g of shape (O/G, C/G*kH*kW) and cols_g of shape
(C/G*kH*kW, N*OH*OW) (see :mod:`.im2col`). Hence

    dcols_g = W_g^T @ dY_g  ->  dx = col2im(dcols)        dW_g = dY_g @ cols_g^T        db = sum over n, oh, ow

A transposed convolution is the adjoint of a convolution with respect to its input: its forward is the
convolution's input gradient (GEMM then col2im), and its backward is a convolution (im2col then GEMM).

Memory: the batch is processed in chunks whose column buffer stays near ``COLUMN_BUDGET_BYTES``; the one
buffer is reused from chunk to chunk, padding is never materialised, GEMMs write straight into the output
when a chunk is one image, and the dtype of the inputs (float32 or float64) is kept throughout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .conv_arith import conv_transpose_output_size
from .im2col import col2im, columns_output_size, im2col, normalize_padding

__all__ = [
    "COLUMN_BUDGET_BYTES",
    "conv2d_forward",
    "conv2d_backward",
    "conv_transpose2d_forward",
    "conv_transpose2d_backward",
    "conv2d_reference",
    "conv_transpose2d_reference",
]

COLUMN_BUDGET_BYTES = 4 << 20  # target size of the column buffer of one batch chunk


def _pair(value) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    a, b = value
    return int(a), int(b)


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
    def k_group(self) -> int:  # rows of cols per group: C/G * kH * kW
        return self.c // self.groups * self.kernel[0] * self.kernel[1]

    @property
    def spatial(self) -> int:
        return self.oh * self.ow

    def chunks(self, itemsize: int):
        """Batch ranges [n0, n1) whose column buffer is about COLUMN_BUDGET_BYTES (at least one image)."""
        per_image = self.c * self.kernel[0] * self.kernel[1] * self.spatial * itemsize
        step = max(1, COLUMN_BUDGET_BYTES // max(1, per_image))
        return [(n0, min(self.n, n0 + step)) for n0 in range(0, self.n, step)]

    def column_buffer(self, dtype) -> np.ndarray:
        chunks = self.chunks(np.dtype(dtype).itemsize)
        most = max((n1 - n0 for n0, n1 in chunks), default=0)
        return np.empty(self.c * self.kernel[0] * self.kernel[1] * most * self.spatial, dtype=dtype)

    def columns(self, x_chunk: np.ndarray, buffer: np.ndarray) -> np.ndarray:
        """im2col of a chunk of the convolution's input into ``buffer``, viewed as (G, C/G*kH*kW, nc*OH*OW)."""
        nc = x_chunk.shape[0]
        out = buffer[: self.c * self.kernel[0] * self.kernel[1] * nc * self.spatial]
        out = out.reshape(self.c, self.kernel[0], self.kernel[1], nc, self.oh, self.ow)
        im2col(x_chunk, self.kernel, self.stride, self.pads, self.dilation, (self.oh, self.ow), out=out)
        return out.reshape(self.groups, self.k_group, nc * self.spatial)

    def scatter(self, dcols: np.ndarray, x_chunk_out: np.ndarray) -> None:
        """col2im of (G, C/G*kH*kW, nc*OH*OW) columns, added into ``x_chunk_out`` (nc, C, H, W)."""
        nc = x_chunk_out.shape[0]
        cols = dcols.reshape(self.c, self.kernel[0], self.kernel[1], nc, self.oh, self.ow)
        col2im(cols, (self.h, self.w), self.stride, self.pads, self.dilation, out=x_chunk_out)


def _channel_major(a: np.ndarray, n0: int, n1: int, groups: int, buffer: np.ndarray | None) -> np.ndarray:
    """a[n0:n1] (nc, Ch, ...) as (G, Ch/G, nc*L): a view for one image, else a copy into ``buffer``."""
    nc, ch = n1 - n0, a.shape[1]
    spatial = a.shape[2] * a.shape[3]
    if nc == 1:
        return np.ascontiguousarray(a[n0]).reshape(groups, ch // groups, spatial)
    dst = buffer[: ch * nc * spatial].reshape(ch, nc, spatial)
    np.copyto(dst, a[n0:n1].reshape(nc, ch, spatial).transpose(1, 0, 2))
    return dst.reshape(groups, ch // groups, nc * spatial)


def _channel_buffer(geo: _Geometry, channels: int, dtype) -> np.ndarray | None:
    most = max((n1 - n0 for n0, n1 in geo.chunks(np.dtype(dtype).itemsize)), default=0)
    return np.empty(channels * most * geo.spatial, dtype=dtype) if most > 1 else None


def _im2col_pass(a: np.ndarray, weight: np.ndarray, geo: _Geometry, out: np.ndarray | None = None,
                 bias: np.ndarray | None = None, partner: np.ndarray | None = None) -> np.ndarray | None:
    """Chunk loop over cols = im2col(a), ``a`` shaped like the convolution's input.

    If ``out`` (N, O, OH, OW) is given: out = W @ cols (+ bias), the convolution. If ``partner`` (N, O, OH, OW)
    is given: return dW = partner @ cols^T, the weight gradient (shape of ``weight``). Both share the columns.
    """
    g, dtype = geo.groups, a.dtype
    wg = weight.reshape(g, geo.o // g, geo.k_group)
    colbuf = geo.column_buffer(dtype)
    outbuf = _channel_buffer(geo, geo.o, dtype)
    grad_w = np.zeros_like(wg) if partner is not None else None
    tmp_w = np.empty_like(wg) if partner is not None else None
    for n0, n1 in geo.chunks(dtype.itemsize):
        nc = n1 - n0
        cols = geo.columns(a[n0:n1], colbuf)
        if out is not None:
            if nc == 1:
                np.matmul(wg, cols, out=out[n0].reshape(wg.shape[0], wg.shape[1], geo.spatial))
                if bias is not None:
                    out[n0] += bias[:, None, None]
            else:
                res = np.matmul(wg, cols, out=outbuf[: geo.o * nc * geo.spatial].reshape(wg.shape[:2] + (-1,)))
                res = res.reshape(geo.o, nc, geo.spatial)
                dst = out[n0:n1].reshape(nc, geo.o, geo.spatial).transpose(1, 0, 2)
                if bias is None:
                    np.copyto(dst, res)
                else:
                    np.add(res, bias[:, None, None], out=dst)
        if partner is not None:
            pt = _channel_major(partner, n0, n1, g, outbuf)
            grad_w += np.matmul(pt, cols.transpose(0, 2, 1), out=tmp_w)
    return None if grad_w is None else grad_w.reshape(weight.shape)


def _col2im_pass(b: np.ndarray, weight: np.ndarray, geo: _Geometry, out: np.ndarray | None = None,
                 partner: np.ndarray | None = None) -> np.ndarray | None:
    """Chunk loop over ``b`` shaped like the convolution's output (N, O, OH, OW).

    If ``out`` (N, C, H, W) is given: out += col2im(W^T @ b), the convolution's input gradient. If ``partner``
    (N, C, H, W) is given: return dW = b @ im2col(partner)^T, the weight gradient. Both share b's transpose.
    """
    g, dtype = geo.groups, b.dtype
    wg = weight.reshape(g, geo.o // g, geo.k_group)
    wt = np.ascontiguousarray(wg.transpose(0, 2, 1)) if out is not None else None
    colbuf = geo.column_buffer(dtype)
    bbuf = _channel_buffer(geo, geo.o, dtype)
    grad_w = np.zeros_like(wg) if partner is not None else None
    tmp_w = np.empty_like(wg) if partner is not None else None
    for n0, n1 in geo.chunks(dtype.itemsize):
        nc = n1 - n0
        bt = _channel_major(b, n0, n1, g, bbuf)
        if partner is not None:
            cols = geo.columns(partner[n0:n1], colbuf)
            grad_w += np.matmul(bt, cols.transpose(0, 2, 1), out=tmp_w)
        if out is not None:
            dcols = colbuf[: geo.c * geo.kernel[0] * geo.kernel[1] * nc * geo.spatial]
            dcols = np.matmul(wt, bt, out=dcols.reshape(g, geo.k_group, nc * geo.spatial))
            geo.scatter(dcols, out[n0:n1])
    return None if grad_w is None else grad_w.reshape(weight.shape)


# ------------------------------------------------------------------------------ convolution


def _conv_geometry(x_shape, w_shape, stride, padding, dilation, groups) -> _Geometry:
    n, c, h, w = x_shape
    o, _, kh, kw = w_shape
    pads, stride, dilation = normalize_padding(padding), _pair(stride), _pair(dilation)
    oh, ow = columns_output_size((h, w), (kh, kw), stride, pads, dilation)
    return _Geometry(n, c, h, w, o, oh, ow, (kh, kw), stride, pads, dilation, int(groups))


def conv2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride=1, padding=0, dilation=1,
                   groups: int = 1) -> np.ndarray:
    """y = conv2d(x, w) + b for x (N, C, H, W), w (O, C/groups, kH, kW), b (O,) or None -> (N, O, OH, OW).

    ``padding`` is an int, (ph, pw) or ((top, bottom), (left, right)).
    """
    geo = _conv_geometry(x.shape, w.shape, stride, padding, dilation, groups)
    y = np.empty((geo.n, geo.o, geo.oh, geo.ow), dtype=x.dtype)
    _im2col_pass(x, w, geo, out=y, bias=b)
    return y


def conv2d_backward(grad: np.ndarray, x: np.ndarray | None, w: np.ndarray | None, stride=1, padding=0,
                    dilation=1, groups: int = 1, need_input: bool = True, need_weight: bool = True,
                    need_bias: bool = True, x_shape=None, w_shape=None):
    """Gradients (dx, dw, db) of conv2d given dL/dy ``grad``; each is None unless asked for.

    ``x`` is needed only for dw and ``w`` only for dx; pass ``x_shape`` / ``w_shape`` when an array is omitted.
    """
    x_shape = x.shape if x is not None else x_shape
    w_shape = w.shape if w is not None else w_shape
    geo = _conv_geometry(x_shape, w_shape, stride, padding, dilation, groups)
    gx = np.zeros(x_shape, dtype=grad.dtype) if need_input else None
    gw = None
    if need_input or need_weight:
        weight = w if w is not None else np.empty(w_shape, dtype=grad.dtype)
        gw = _col2im_pass(grad, weight, geo, out=gx, partner=x if need_weight else None)
    gb = grad.sum(axis=(0, 2, 3)) if need_bias else None
    return gx, gw, gb


# ------------------------------------------------------------------------------ transposed convolution


def _transpose_geometry(x_shape, w_shape, stride, padding, output_padding, dilation, groups) -> _Geometry:
    """The convolution whose input gradient is this transposed convolution: its input is our output."""
    n, c_in, h_in, w_in = x_shape
    _, c_out_g, kh, kw = w_shape
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = _pair(stride), _pair(padding), _pair(output_padding), _pair(dilation)
    h_out = conv_transpose_output_size(h_in, kh, sh, ph, oph, dh)
    w_out = conv_transpose_output_size(w_in, kw, sw, pw, opw, dw)
    return _Geometry(n, c_out_g * int(groups), h_out, w_out, c_in, h_in, w_in, (kh, kw), (sh, sw),
                     ((ph, ph), (pw, pw)), (dh, dw), int(groups))


def conv_transpose2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride=1, padding=0,
                             output_padding=0, dilation=1, groups: int = 1) -> np.ndarray:
    """y = conv_transpose2d(x, w) + b for x (N, C, H, W), w (C, O/groups, kH, kW) -> (N, O, H', W') with
    H' = (H-1)*sH - 2*pH + dH*(kH-1) + output_padding + 1: the adjoint of conv2d with weight w."""
    geo = _transpose_geometry(x.shape, w.shape, stride, padding, output_padding, dilation, groups)
    y = np.zeros((geo.n, geo.c, geo.h, geo.w), dtype=x.dtype)
    _col2im_pass(x, w, geo, out=y)
    if b is not None:
        y += b[:, None, None]
    return y


def conv_transpose2d_backward(grad: np.ndarray, x: np.ndarray | None, w: np.ndarray | None, stride=1, padding=0,
                              output_padding=0, dilation=1, groups: int = 1, need_input: bool = True,
                              need_weight: bool = True, need_bias: bool = True, x_shape=None, w_shape=None):
    """Gradients (dx, dw, db) of conv_transpose2d given dL/dy ``grad``; each is None unless asked for.

    dx = conv2d(grad, w) and dw pairs x with im2col(grad); both share the columns of ``grad``.
    """
    x_shape = x.shape if x is not None else x_shape
    w_shape = w.shape if w is not None else w_shape
    geo = _transpose_geometry(x_shape, w_shape, stride, padding, output_padding, dilation, groups)
    gx = np.empty(x_shape, dtype=grad.dtype) if need_input else None
    gw = None
    if need_input or need_weight:
        weight = w if w is not None else np.empty(w_shape, dtype=grad.dtype)
        gw = _im2col_pass(grad, weight, geo, out=gx, partner=x if need_weight else None)
    gb = grad.sum(axis=(0, 2, 3)) if need_bias else None
    return gx, gw, gb


# ------------------------------------------------------------------------------ plain references


def conv2d_reference(x, w, b=None, stride=1, padding=0, dilation=1, groups: int = 1) -> np.ndarray:
    """Direct convolution by loops over groups and kernel offsets, on an explicitly padded input."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    (sh, sw), (dh, dw) = _pair(stride), _pair(dilation)
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
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = _pair(stride), _pair(padding), _pair(output_padding), _pair(dilation)
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
