"""im2col and its adjoint col2im on NCHW arrays, with plain loop references beside them.

Column layout ("channel-major"): for an input ``x`` of shape (N, C, H, W) and a kernel of size (kH, kW),

    cols[c, i, j, n, oh, ow] = xpad[n, c, oh*sH + i*dH, ow*sW + j*dW]

where ``xpad`` is ``x`` zero-padded by ((top, bottom), (left, right)). Reshaped to (C*kH*kW, N*OH*OW) this is the
right-hand operand of one GEMM per group: ``W.reshape(G, O/G, C/G*kH*kW) @ cols.reshape(G, C/G*kH*kW, N*OH*OW)``,
the batch folded into the GEMM's columns so that the weight gradient is a single GEMM too.

``col2im`` is the adjoint of ``im2col`` (<im2col(x), c> == <x, col2im(c)>): it scatters each column entry back
to the input position it was read from, adding where windows overlap and dropping entries that fall in padding.

Padding is never materialised: for each kernel offset (i, j) the fast versions copy the block of output
positions whose input position lies inside the image and zero (im2col) or skip (col2im) the rest.

Row layout ("channels-last", used by the convolution drivers): for an NHWC image x (N, H, W, C) in G groups of
Cg = C/G channels, one row per output position and one column per (group, kernel offset, channel):

    rows[(n*OH + oh)*OW + ow, ((g*kH + i)*kW + j)*Cg + c] = xpad[n, oh*sH + i*dH, ow*sW + j*dW, g*Cg + c]

so each row is kH*kW runs of Cg contiguous values, and the convolution of group g is rows[:, g] @ W_g with
W_g of shape (kH*kW*Cg, O/G), writing straight into the NHWC output. :func:`im2col_nhwc` and
:func:`col2im_nhwc` are compiled loops (Numba); their references are the NCHW references, re-indexed.

With very few channels (an image's 1 or 3) those runs are too short to copy fast, so :func:`im2col_nhwc_columns`
builds the transposed, channel-major matrix of the same NHWC image instead,

    cols[(c*kH + i)*kW + j, (n*OH + oh)*OW + ow] = xpad[n, oh*sH + i*dH, ow*sW + j*dW, c]

whose rows are runs of OW values (the layout of :func:`im2col`, for one group).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ._numba import njit
from .conv_arith import conv_output_size, pair

__all__ = ["im2col", "col2im", "im2col_reference", "col2im_reference", "normalize_padding", "columns_output_size",
           "im2col_nhwc", "col2im_nhwc", "im2col_nhwc_columns", "im2col_nhwc_reference", "col2im_nhwc_reference"]


def normalize_padding(padding) -> tuple[tuple[int, int], tuple[int, int]]:
    """Padding as ((top, bottom), (left, right)) from an int, a pair (ph, pw) or the nested form itself."""
    if isinstance(padding, (int, np.integer)):
        p = int(padding)
        return (p, p), (p, p)
    ph, pw = padding
    if isinstance(ph, (int, np.integer)):
        ph = (ph, ph)
    if isinstance(pw, (int, np.integer)):
        pw = (pw, pw)
    return (int(ph[0]), int(ph[1])), (int(pw[0]), int(pw[1]))


def columns_output_size(image_size, kernel_size, stride=1, padding=0, dilation=1) -> tuple[int, int]:
    """(OH, OW) of a convolution over ``image_size`` (H, W) with possibly asymmetric padding."""
    (h, w), (kh, kw), (sh, sw), (dh, dw) = pair(image_size), pair(kernel_size), pair(stride), pair(dilation)
    (pt, pb), (pl, pr) = normalize_padding(padding)
    return (conv_output_size(h + pt + pb, kh, sh, 0, dh), conv_output_size(w + pl + pr, kw, sw, 0, dw))


def _valid_range(n_out: int, n_in: int, stride: int, before: int, offset: int) -> tuple[int, int]:
    """Output positions [lo, hi) whose input position o*stride - before + offset lies inside [0, n_in)."""
    lo = max(0, -((offset - before) // stride))  # ceil((before - offset) / stride)
    hi = min(n_out, -((offset - before - n_in) // stride))  # ceil((n_in + before - offset) / stride)
    return lo, max(lo, hi)


def _geometry(kernel_size, stride, padding, dilation):
    (kh, kw), (sh, sw), (dh, dw) = pair(kernel_size), pair(stride), pair(dilation)
    return kh, kw, sh, sw, normalize_padding(padding), dh, dw


def _blocks(kh, kw, sh, sw, pads, dh, dw, h, w, oh, ow):
    """For each kernel offset (i, j): the valid output block (rows r0:r1, cols c0:c1) and the matching input
    slices (rows, cols), or None for the slices when no output position of that offset reads the image."""
    (pt, _), (pl, _) = pads
    for i in range(kh):
        r0, r1 = _valid_range(oh, h, sh, pt, i * dh)
        for j in range(kw):
            c0, c1 = _valid_range(ow, w, sw, pl, j * dw)
            if r1 > r0 and c1 > c0:
                h0, w0 = r0 * sh - pt + i * dh, c0 * sw - pl + j * dw
                src = (slice(h0, h0 + (r1 - r0 - 1) * sh + 1, sh), slice(w0, w0 + (c1 - c0 - 1) * sw + 1, sw))
            else:
                src = None
            yield i, j, r0, r1, c0, c1, src


def im2col(x: np.ndarray, kernel_size, stride=1, padding=0, dilation=1, out_size=None,
           out: np.ndarray | None = None) -> np.ndarray:
    """Columns of ``x`` (N, C, H, W): an array (C, kH, kW, N, OH, OW) with
    cols[c, i, j, n, oh, ow] = xpad[n, c, oh*sH + i*dH, ow*sW + j*dW] (0 where that lies in the padding).

    ``padding`` is an int, (ph, pw) or ((top, bottom), (left, right)). ``out_size`` (OH, OW) defaults to the
    convolution's output size; a smaller one takes the leading positions. ``out`` (contiguous, of the result's
    shape and dtype) receives the result instead of a new array.
    """
    n, c, h, w = x.shape
    kh, kw, sh, sw, pads, dh, dw = _geometry(kernel_size, stride, padding, dilation)
    oh, ow = out_size if out_size is not None else columns_output_size((h, w), (kh, kw), (sh, sw), pads, (dh, dw))
    shape = (c, kh, kw, n, oh, ow)
    if out is None:
        out = np.empty(shape, dtype=x.dtype)
    elif out.shape != shape or out.dtype != x.dtype:
        raise InputError(f"im2col: out must have shape {shape} and dtype {x.dtype}, got {out.shape} {out.dtype}")
    xt = x.transpose(1, 0, 2, 3)  # (C, N, H, W) view, matching the column block of one kernel offset
    for i, j, r0, r1, c0, c1, src in _blocks(kh, kw, sh, sw, pads, dh, dw, h, w, oh, ow):
        dst = out[:, i, j]
        if src is None:
            dst[...] = 0
            continue
        dst[:, :, r0:r1, c0:c1] = xt[:, :, src[0], src[1]]
        if r0 > 0:
            dst[:, :, :r0] = 0
        if r1 < oh:
            dst[:, :, r1:] = 0
        if c0 > 0:
            dst[:, :, r0:r1, :c0] = 0
        if c1 < ow:
            dst[:, :, r0:r1, c1:] = 0
    return out


def col2im(cols: np.ndarray, image_size, stride=1, padding=0, dilation=1, out: np.ndarray | None = None) -> np.ndarray:
    """Adjoint of :func:`im2col`: scatter-add cols (C, kH, kW, N, OH, OW) into an image (N, C, H, W).

    x[n, c, oh*sH + i*dH - top, ow*sW + j*dW - left] += cols[c, i, j, n, oh, ow] for every entry whose position
    lies inside the image. The sums are added to ``out`` when it is given (so pass zeros for a plain col2im).
    """
    c, kh, kw, n, oh, ow = cols.shape
    h, w = pair(image_size)
    _, _, sh, sw, pads, dh, dw = _geometry((kh, kw), stride, padding, dilation)
    if out is None:
        out = np.zeros((n, c, h, w), dtype=cols.dtype)
    elif out.shape != (n, c, h, w):
        raise InputError(f"col2im: out must have shape {(n, c, h, w)}, got {out.shape}")
    ot = out.transpose(1, 0, 2, 3)
    for i, j, r0, r1, c0, c1, src in _blocks(kh, kw, sh, sw, pads, dh, dw, h, w, oh, ow):
        if src is not None:  # one offset never maps two output positions to one pixel, so += is safe here
            ot[:, :, src[0], src[1]] += cols[:, i, j, :, r0:r1, c0:c1]
    return out


# ------------------------------------------------------------------------------ channels-last rows (compiled)


# The compiled loops index flat views with unsigned integers: Numba then skips its negative-index wraparound,
# which is what lets LLVM turn the inner copy loops into vector moves (3-5x faster).


@njit
def _im2col_rows(x, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, groups, out):
    """out[(n*OH + r)*OW + q, ((g*kH + i)*kW + j)*Cg + c] = x[n, r*sH - top + i*dH, q*sW - left + j*dW, g*Cg + c]
    (0 outside the image), for x (N, H, W, C) and out (N*OH*OW, kH*kW*C), both C-contiguous."""
    n, h, w, c = x.shape
    cg = c // groups
    xf, of = x.reshape(-1), out.reshape(-1)
    u = np.uint64
    row_len = kh * kw * c
    runs = groups == 1 and dw == 1  # then the kernel row's channels are one contiguous run in x and in out
    for b in range(n):
        for r in range(oh):
            for q in range(ow):
                o0 = u(((b * oh + r) * ow + q) * row_len)
                z0, jlo, jhi = q * sw - pl, 0, kw  # kernel columns [jlo, jhi) read inside the image
                while jlo < kw and z0 + jlo * dw < 0:
                    jlo += 1
                while jhi > jlo and z0 + (jhi - 1) * dw >= w:
                    jhi -= 1
                for g in range(groups):
                    for i in range(kh):
                        y = r * sh - pt + i * dh
                        d0 = o0 + u((g * kh + i) * kw * cg)
                        if y < 0 or y >= h or jlo == jhi:
                            for t in range(u(kw * cg)):
                                of[d0 + t] = 0
                            continue
                        for t in range(u(jlo * cg)):
                            of[d0 + t] = 0
                        for t in range(u(jhi * cg), u(kw * cg)):
                            of[d0 + t] = 0
                        if runs:
                            s0 = u(((b * h + y) * w + z0 + jlo) * c)
                            d1 = d0 + u(jlo * c)
                            for t in range(u((jhi - jlo) * c)):
                                of[d1 + t] = xf[s0 + t]
                        else:
                            for j in range(jlo, jhi):
                                s0 = u(((b * h + y) * w + z0 + j * dw) * c + g * cg)
                                d1 = d0 + u(j * cg)
                                for t in range(u(cg)):
                                    of[d1 + t] = xf[s0 + t]


@njit
def _col2im_rows(rows, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, groups, accumulate, out):
    """The adjoint of :func:`_im2col_rows`: out[n, y, z, g*Cg + c] += rows[...] for every entry read from
    (y, z); ``out`` is zeroed first unless ``accumulate``."""
    n, h, w, c = out.shape
    cg = c // groups
    rf, of = rows.reshape(-1), out.reshape(-1)
    u = np.uint64
    row_len = kh * kw * c
    runs = groups == 1 and dw == 1
    for b in range(n):
        if not accumulate:
            for t in range(u(b * h * w * c), u((b + 1) * h * w * c)):
                of[t] = 0
        for r in range(oh):
            for q in range(ow):
                r0 = u(((b * oh + r) * ow + q) * row_len)
                z0, jlo, jhi = q * sw - pl, 0, kw  # kernel columns [jlo, jhi) read inside the image
                while jlo < kw and z0 + jlo * dw < 0:
                    jlo += 1
                while jhi > jlo and z0 + (jhi - 1) * dw >= w:
                    jhi -= 1
                for g in range(groups):
                    for i in range(kh):
                        y = r * sh - pt + i * dh
                        if y < 0 or y >= h:
                            continue
                        s0 = r0 + u((g * kh + i) * kw * cg)
                        if runs:
                            d1 = u(((b * h + y) * w + z0 + jlo) * c)
                            s1 = s0 + u(jlo * c)
                            for t in range(u((jhi - jlo) * c)):
                                of[d1 + t] += rf[s1 + t]
                        else:
                            for j in range(jlo, jhi):
                                d1 = u(((b * h + y) * w + z0 + j * dw) * c + g * cg)
                                s1 = s0 + u(j * cg)
                                for t in range(u(cg)):
                                    of[d1 + t] += rf[s1 + t]


@njit
def _im2col_columns(x, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, out):
    """out[(c*kH + i)*kW + j, (n*OH + r)*OW + q] = x[n, r*sH - top + i*dH, q*sW - left + j*dW, c] (0 outside
    the image), for x (N, H, W, C) and out (C*kH*kW, N*OH*OW), both C-contiguous."""
    n, h, w, c = x.shape
    m = n * oh * ow
    xf, of = x.reshape(-1), out.reshape(-1)
    u = np.uint64
    for ch in range(c):
        for i in range(kh):
            for j in range(kw):
                k = (ch * kh + i) * kw + j
                z0 = j * dw - pl  # input column of output column q is q*sW + z0: valid for q in [qlo, qhi)
                qlo = 0
                while qlo < ow and qlo * sw + z0 < 0:
                    qlo += 1
                qhi = ow
                while qhi > qlo and (qhi - 1) * sw + z0 >= w:
                    qhi -= 1
                for b in range(n):
                    for r in range(oh):
                        d0 = u(k * m + (b * oh + r) * ow)
                        y = r * sh - pt + i * dh
                        if y < 0 or y >= h:
                            for t in range(u(ow)):
                                of[d0 + t] = 0
                            continue
                        for t in range(u(qlo)):
                            of[d0 + t] = 0
                        for t in range(u(qhi), u(ow)):
                            of[d0 + t] = 0
                        s0 = u(((b * h + y) * w + qlo * sw + z0) * c + ch)
                        d1 = d0 + u(qlo)
                        if sw * c == 1:  # a contiguous run (one channel, stride 1)
                            for t in range(u(qhi - qlo)):
                                of[d1 + t] = xf[s0 + t]
                        else:
                            step = u(sw * c)
                            for t in range(u(qhi - qlo)):
                                of[d1 + t] = xf[s0 + t * step]


def im2col_nhwc_columns(x: np.ndarray, kernel_size, stride=1, padding=0, dilation=1, out_size=None,
                        out: np.ndarray | None = None) -> np.ndarray:
    """Channel-major columns (C*kH*kW, N*OH*OW) of a channels-last image ``x`` (N, H, W, C), one group (see the
    module docstring): the transpose of :func:`im2col_nhwc` with its columns ordered (c, i, j)."""
    n, h, w, c = x.shape
    kh, kw, sh, sw, ((pt, pb), (pl, pr)), dh, dw = _geometry(kernel_size, stride, padding, dilation)
    oh, ow = out_size if out_size is not None else columns_output_size(
        (h, w), (kh, kw), (sh, sw), ((pt, pb), (pl, pr)), (dh, dw))
    shape = (c * kh * kw, n * oh * ow)
    if out is None:
        out = np.empty(shape, dtype=x.dtype)
    elif out.shape != shape or out.dtype != x.dtype or not out.flags.c_contiguous:
        raise InputError(f"im2col_nhwc_columns: out must be C-contiguous with shape {shape} and dtype {x.dtype}, "
                         f"got {out.shape} {out.dtype}")
    _im2col_columns(np.ascontiguousarray(x), kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, out)
    return out


def im2col_nhwc(x: np.ndarray, kernel_size, stride=1, padding=0, dilation=1, groups: int = 1, out_size=None,
                out: np.ndarray | None = None) -> np.ndarray:
    """Rows of a channels-last image ``x`` (N, H, W, C): an array (N*OH*OW, kH*kW*C) laid out as in the module
    docstring (0 where a window reads the padding). ``out`` (C-contiguous) receives the result when given."""
    n, h, w, c = x.shape
    kh, kw, sh, sw, ((pt, pb), (pl, pr)), dh, dw = _geometry(kernel_size, stride, padding, dilation)
    oh, ow = out_size if out_size is not None else columns_output_size(
        (h, w), (kh, kw), (sh, sw), ((pt, pb), (pl, pr)), (dh, dw))
    shape = (n * oh * ow, kh * kw * c)
    if out is None:
        out = np.empty(shape, dtype=x.dtype)
    elif out.shape != shape or out.dtype != x.dtype or not out.flags.c_contiguous:
        raise InputError(f"im2col_nhwc: out must be C-contiguous with shape {shape} and dtype {x.dtype}, "
                         f"got {out.shape} {out.dtype}")
    _im2col_rows(np.ascontiguousarray(x), kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, int(groups), out)
    return out


def col2im_nhwc(rows: np.ndarray, image_shape, kernel_size, stride=1, padding=0, dilation=1, groups: int = 1,
                out_size=None, out: np.ndarray | None = None, accumulate: bool = False) -> np.ndarray:
    """Adjoint of :func:`im2col_nhwc`: scatter-add rows (N*OH*OW, kH*kW*C) into an image ``image_shape``
    (N, H, W, C); ``out_size`` (OH, OW) as for im2col. ``out`` (C-contiguous) receives the image; its contents
    are added to with ``accumulate``."""
    n, h, w, c = image_shape
    kh, kw, sh, sw, pads, dh, dw = _geometry(kernel_size, stride, padding, dilation)
    oh, ow = out_size if out_size is not None else columns_output_size((h, w), (kh, kw), (sh, sw), pads, (dh, dw))
    if rows.shape != (n * oh * ow, kh * kw * c):
        raise InputError(f"col2im_nhwc: expected rows of shape {(n * oh * ow, kh * kw * c)}, got {rows.shape}")
    if out is None:
        out, accumulate = np.empty((n, h, w, c), dtype=rows.dtype), False
    elif out.shape != (n, h, w, c) or not out.flags.c_contiguous:
        raise InputError(f"col2im_nhwc: out must be C-contiguous with shape {(n, h, w, c)}, got {out.shape}")
    _col2im_rows(np.ascontiguousarray(rows), kh, kw, sh, sw, pads[0][0], pads[1][0], dh, dw, oh, ow, int(groups),
                 bool(accumulate), out)
    return out


# ------------------------------------------------------------------------------ plain references


def im2col_reference(x: np.ndarray, kernel_size, stride=1, padding=0, dilation=1, out_size=None) -> np.ndarray:
    """Loop version of :func:`im2col`: pad explicitly, then read every (i, j, oh, ow) position."""
    n, c, h, w = x.shape
    kh, kw, sh, sw, ((pt, pb), (pl, pr)), dh, dw = _geometry(kernel_size, stride, padding, dilation)
    if out_size is None:
        out_size = columns_output_size((h, w), (kh, kw), (sh, sw), ((pt, pb), (pl, pr)), (dh, dw))
    oh, ow = out_size
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    cols = np.zeros((c, kh, kw, n, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            for r in range(oh):
                for q in range(ow):
                    y, z = r * sh + i * dh, q * sw + j * dw
                    if y < xp.shape[2] and z < xp.shape[3]:
                        cols[:, i, j, :, r, q] = xp[:, :, y, z].T
    return cols


def col2im_reference(cols: np.ndarray, image_size, stride=1, padding=0, dilation=1) -> np.ndarray:
    """Loop version of :func:`col2im`: accumulate into a padded image, then crop the padding away."""
    c, kh, kw, n, oh, ow = cols.shape
    h, w = pair(image_size)
    _, _, sh, sw, ((pt, pb), (pl, pr)), dh, dw = _geometry((kh, kw), stride, padding, dilation)
    xp = np.zeros((n, c, h + pt + pb, w + pl + pr), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            for r in range(oh):
                for q in range(ow):
                    y, z = r * sh + i * dh, q * sw + j * dw
                    if y < xp.shape[2] and z < xp.shape[3]:
                        xp[:, :, y, z] += cols[:, i, j, :, r, q].T
    return xp[:, :, pt:pt + h, pl:pl + w]


def _rows_from_columns(cols: np.ndarray, groups: int) -> np.ndarray:
    """(C, kH, kW, N, OH, OW) columns -> (N*OH*OW, G*kH*kW*Cg) channels-last rows."""
    c, kh, kw, n, oh, ow = cols.shape
    g = groups
    cols = cols.reshape(g, c // g, kh, kw, n, oh, ow).transpose(4, 5, 6, 0, 2, 3, 1)
    return cols.reshape(n * oh * ow, c * kh * kw)


def im2col_nhwc_reference(x: np.ndarray, kernel_size, stride=1, padding=0, dilation=1, groups: int = 1) -> np.ndarray:
    """:func:`im2col_nhwc` by the NCHW loop reference on x (N, H, W, C), re-indexed to rows."""
    cols = im2col_reference(x.transpose(0, 3, 1, 2), kernel_size, stride, padding, dilation)
    return np.ascontiguousarray(_rows_from_columns(cols, groups))


def col2im_nhwc_reference(rows: np.ndarray, image_shape, kernel_size, stride=1, padding=0, dilation=1,
                          groups: int = 1, out_size=None) -> np.ndarray:
    """:func:`col2im_nhwc` by the NCHW loop reference: rows re-indexed to columns, scattered, back to NHWC."""
    n, h, w, c = image_shape
    kh, kw, sh, sw, pads, dh, dw = _geometry(kernel_size, stride, padding, dilation)
    oh, ow = out_size if out_size is not None else columns_output_size((h, w), (kh, kw), (sh, sw), pads, (dh, dw))
    g = groups
    cols = rows.reshape(n, oh, ow, g, kh, kw, c // g).transpose(3, 6, 4, 5, 0, 1, 2).reshape(c, kh, kw, n, oh, ow)
    return np.ascontiguousarray(col2im_reference(cols, (h, w), stride, padding, dilation).transpose(0, 2, 3, 1))
