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
"""

from __future__ import annotations

import numpy as np

from .conv_arith import conv_output_size

__all__ = ["im2col", "col2im", "im2col_reference", "col2im_reference", "normalize_padding", "columns_output_size"]


def _pair(value) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    a, b = value
    return int(a), int(b)


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
    (h, w), (kh, kw), (sh, sw), (dh, dw) = _pair(image_size), _pair(kernel_size), _pair(stride), _pair(dilation)
    (pt, pb), (pl, pr) = normalize_padding(padding)
    return (conv_output_size(h + pt + pb, kh, sh, 0, dh), conv_output_size(w + pl + pr, kw, sw, 0, dw))


def _valid_range(n_out: int, n_in: int, stride: int, before: int, offset: int) -> tuple[int, int]:
    """Output positions [lo, hi) whose input position o*stride - before + offset lies inside [0, n_in)."""
    lo = max(0, -((offset - before) // stride))  # ceil((before - offset) / stride)
    hi = min(n_out, -((offset - before - n_in) // stride))  # ceil((n_in + before - offset) / stride)
    return lo, max(lo, hi)


def _geometry(kernel_size, stride, padding, dilation):
    (kh, kw), (sh, sw), (dh, dw) = _pair(kernel_size), _pair(stride), _pair(dilation)
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
        raise ValueError(f"im2col: out must have shape {shape} and dtype {x.dtype}, got {out.shape} {out.dtype}")
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
    h, w = _pair(image_size)
    _, _, sh, sw, pads, dh, dw = _geometry((kh, kw), stride, padding, dilation)
    if out is None:
        out = np.zeros((n, c, h, w), dtype=cols.dtype)
    elif out.shape != (n, c, h, w):
        raise ValueError(f"col2im: out must have shape {(n, c, h, w)}, got {out.shape}")
    ot = out.transpose(1, 0, 2, 3)
    for i, j, r0, r1, c0, c1, src in _blocks(kh, kw, sh, sw, pads, dh, dw, h, w, oh, ow):
        if src is not None:  # one offset never maps two output positions to one pixel, so += is safe here
            ot[:, :, src[0], src[1]] += cols[:, i, j, :, r0:r1, c0:c1]
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
    h, w = _pair(image_size)
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
