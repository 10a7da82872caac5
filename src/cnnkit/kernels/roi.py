"""RoI pooling and RoI align on (N, C, H, W) ndarrays, forward and backward: torchvision's CPU rules.

Regions are a (K, 5) float array of (batch_index, x1, y1, x2, y2) in input-image coordinates; ``spatial_scale``
maps them onto the feature map. Output (K, C, PH, PW).

RoI pooling (Fast R-CNN). Per region, in double precision:

    x1' = round(x1 * spatial_scale) (half away from zero), likewise y1', x2', y2'
    roi_w = max(x2' - x1' + 1, 1),  roi_h = max(y2' - y1' + 1, 1)
    bin_h = roi_h / PH,  bin_w = roi_w / PW                        (in the input's dtype)
    hstart = clip(floor(ph * bin_h) + y1', 0, H),  hend = clip(ceil((ph + 1) * bin_h) + y1', 0, H)  (w alike)

and the output is the maximum over rows hstart..hend-1, columns wstart..wend-1, found as torchvision does: starting
from -FLT_MAX with argmax -1 and taking an element only when it is greater (the first one in row-major order on
ties; NaN never wins), or 0 for an empty window. Backward routes each output gradient to its argmax (none for -1).

RoI align (Mask R-CNN). offset = 0.5 with ``aligned`` else 0:

    start = coord * spatial_scale - offset;   roi_w = x2s - x1s, roi_h = y2s - y1s  (floored at 1 unless aligned)
    bin_h = roi_h / PH;  grid_h = sampling_ratio if > 0 else ceil(roi_h / PH)   (w alike)
    sample (iy, ix): y = y1s + ph * bin_h + (iy + 0.5) * bin_h / grid_h,  x likewise
    output = sum of the bilinear samples / max(grid_h * grid_w, 1)

A bilinear sample at (y, x): 0 if y < -1 or y > H or x < -1 or x > W; else y, x are clamped up to 0,
y_low = floor(y) (and y = y_low = y_high = H - 1 when y_low >= H - 1, else y_high = y_low + 1), likewise x; then
ly = y - y_low, lx = x - x_low and the four neighbours are weighted (1-ly)(1-lx), (1-ly)lx, ly(1-lx), ly lx.
Backward scatters each output gradient / count to the same four neighbours with the same weights.

Geometry is worked in double precision; sums accumulate in double and are stored in the input's dtype. The
compiled kernels loop over regions, output cells and samples with the channels innermost; the ``*_reference``
functions are plain Python loops written from the rules above.
"""

from __future__ import annotations

import math

import numpy as np

from ._numba import njit

__all__ = [
    "roi_pool_bins", "roi_pool_forward", "roi_pool_backward", "roi_align_forward", "roi_align_backward",
    "roi_pool_reference", "roi_pool_backward_reference", "roi_align_reference", "roi_align_backward_reference",
]


_MINUS_FLT_MAX = -3.4028234663852886e38  # torchvision starts every window's maximum here, whatever the dtype


def _round_half_away(v: np.ndarray) -> np.ndarray:
    """C's round(): halves go away from zero (NumPy's round goes to even)."""
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


# ------------------------------------------------------------------------------ RoI pooling


def roi_pool_bins(rois: np.ndarray, pooled: tuple[int, int], size: tuple[int, int], spatial_scale: float,
                  dtype) -> tuple[np.ndarray, ...]:
    """Window bounds of each region's bins: (hstart, hend) of shape (K, PH) and (wstart, wend) of shape (K, PW),
    int64, clipped to the feature map (an empty window has end <= start)."""
    dtype = np.dtype(dtype)
    coords = _round_half_away(rois[:, 1:5].astype(np.float64) * float(spatial_scale)).astype(np.int64)
    out = []
    for axis, (start_col, end_col) in enumerate(((1, 3), (0, 2))):  # rows from y, columns from x
        n_bins, limit = pooled[axis], size[axis]
        start = coords[:, start_col]
        length = np.maximum(coords[:, end_col] - start + 1, 1)
        bin_size = length.astype(dtype) / dtype.type(n_bins)
        i = np.arange(n_bins, dtype=dtype)
        lo = np.floor(i[None, :] * bin_size[:, None]).astype(np.int64) + start[:, None]
        hi = np.ceil((i[None, :] + dtype.type(1)) * bin_size[:, None]).astype(np.int64) + start[:, None]
        out += [np.clip(lo, 0, limit), np.clip(hi, 0, limit)]
    return out[0], out[1], out[2], out[3]


@njit
def _roi_pool_kernel(x, batch, hstart, hend, wstart, wend, out, argmax):
    k_total, channels = out.shape[0], out.shape[1]
    ph_total, pw_total = out.shape[2], out.shape[3]
    width = x.shape[3]
    for k in range(k_total):
        b = batch[k]
        for ph in range(ph_total):
            h0, h1 = hstart[k, ph], hend[k, ph]
            for pw in range(pw_total):
                w0, w1 = wstart[k, pw], wend[k, pw]
                empty = h1 <= h0 or w1 <= w0
                for c in range(channels):
                    best_index = -1
                    best = 0.0 if empty else _MINUS_FLT_MAX
                    for h in range(h0, h1):
                        for w in range(w0, w1):
                            v = x[b, c, h, w]
                            if v > best:
                                best = v
                                best_index = h * width + w
                    out[k, c, ph, pw] = best
                    argmax[k, c, ph, pw] = best_index


def roi_pool_forward(x: np.ndarray, rois: np.ndarray, pooled: tuple[int, int], spatial_scale: float):
    """(output (K, C, PH, PW), argmax (K, C, PH, PW) int64: flat h*W + w, -1 for an empty window)."""
    n_rois, channels = rois.shape[0], x.shape[1]
    out = np.zeros((n_rois, channels) + tuple(pooled), dtype=x.dtype)
    argmax = np.full(out.shape, -1, dtype=np.int64)
    if n_rois == 0:
        return out, argmax
    hs, he, ws, we = roi_pool_bins(rois, pooled, x.shape[2:], spatial_scale, x.dtype)
    _roi_pool_kernel(np.ascontiguousarray(x), rois[:, 0].astype(np.int64), hs, he, ws, we, out, argmax)
    return out, argmax


@njit
def _roi_pool_backward_kernel(g, batch, argmax, grad):
    width = grad.shape[3]
    for k in range(g.shape[0]):
        b = batch[k]
        for c in range(g.shape[1]):
            for ph in range(g.shape[2]):
                for pw in range(g.shape[3]):
                    index = argmax[k, c, ph, pw]
                    if index >= 0:
                        grad[b, c, index // width, index % width] += g[k, c, ph, pw]


def roi_pool_backward(g: np.ndarray, rois: np.ndarray, argmax: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Gradient of the input: each output gradient added at its argmax."""
    grad = np.zeros(shape, dtype=g.dtype)
    if rois.shape[0]:
        _roi_pool_backward_kernel(np.ascontiguousarray(g), rois[:, 0].astype(np.int64), argmax, grad)
    return grad


def roi_pool_reference(x: np.ndarray, rois: np.ndarray, pooled, spatial_scale: float):
    """Plain loops from the definition: (output, argmax)."""
    n_rois, channels, height, width = rois.shape[0], x.shape[1], x.shape[2], x.shape[3]
    ph_total, pw_total = pooled
    out = np.zeros((n_rois, channels, ph_total, pw_total), dtype=x.dtype)
    argmax = np.full(out.shape, -1, dtype=np.int64)
    t = x.dtype.type
    for k in range(n_rois):
        b = int(rois[k, 0])
        x1, y1, x2, y2 = (int(_round_half_away(np.float64(rois[k, j]) * spatial_scale)) for j in range(1, 5))
        roi_w, roi_h = max(x2 - x1 + 1, 1), max(y2 - y1 + 1, 1)
        bin_h, bin_w = t(roi_h) / t(ph_total), t(roi_w) / t(pw_total)
        for ph in range(ph_total):
            for pw in range(pw_total):
                hstart = min(max(int(math.floor(t(ph) * bin_h)) + y1, 0), height)
                hend = min(max(int(math.ceil(t(ph + 1) * bin_h)) + y1, 0), height)
                wstart = min(max(int(math.floor(t(pw) * bin_w)) + x1, 0), width)
                wend = min(max(int(math.ceil(t(pw + 1) * bin_w)) + x1, 0), width)
                for c in range(channels):
                    best = 0.0 if hend <= hstart or wend <= wstart else _MINUS_FLT_MAX
                    best_index = -1
                    for h in range(hstart, hend):
                        for w in range(wstart, wend):
                            if x[b, c, h, w] > best:
                                best, best_index = x[b, c, h, w], h * width + w
                    out[k, c, ph, pw], argmax[k, c, ph, pw] = best, best_index
    return out, argmax


def roi_pool_backward_reference(g, rois, argmax, shape):
    grad = np.zeros(shape, dtype=g.dtype)
    width = shape[3]
    for k, c, ph, pw in np.ndindex(*g.shape):
        index = argmax[k, c, ph, pw]
        if index >= 0:
            grad[int(rois[k, 0]), c, index // width, index % width] += g[k, c, ph, pw]
    return grad


# ------------------------------------------------------------------------------ RoI align


@njit
def _roi_align_kernel(x, rois, spatial_scale, sampling_ratio, aligned, out, backward):
    """Forward (``backward`` False): out[k, c, ph, pw] = the mean of the bin's bilinear samples of x.
    Backward: x is the input gradient to fill (zeros on entry) and out the output gradient to scatter."""
    channels, height, width = x.shape[1], x.shape[2], x.shape[3]
    pooled_h, pooled_w = out.shape[2], out.shape[3]
    acc = np.zeros(channels, dtype=np.float64)
    offset = 0.5 if aligned else 0.0
    for k in range(rois.shape[0]):
        b = int(rois[k, 0])
        x1 = rois[k, 1] * spatial_scale - offset
        y1 = rois[k, 2] * spatial_scale - offset
        roi_w = rois[k, 3] * spatial_scale - offset - x1
        roi_h = rois[k, 4] * spatial_scale - offset - y1
        if not aligned:
            roi_w = max(roi_w, 1.0)
            roi_h = max(roi_h, 1.0)
        bin_h, bin_w = roi_h / pooled_h, roi_w / pooled_w
        grid_h = sampling_ratio if sampling_ratio > 0 else int(math.ceil(roi_h / pooled_h))
        grid_w = sampling_ratio if sampling_ratio > 0 else int(math.ceil(roi_w / pooled_w))
        count = max(grid_h * grid_w, 1)
        for ph in range(pooled_h):
            for pw in range(pooled_w):
                acc[:] = 0.0
                if backward:
                    for c in range(channels):
                        acc[c] = out[k, c, ph, pw] / count
                for iy in range(grid_h):
                    for ix in range(grid_w):
                        y = y1 + ph * bin_h + (iy + 0.5) * bin_h / grid_h
                        xx = x1 + pw * bin_w + (ix + 0.5) * bin_w / grid_w
                        if y < -1.0 or y > height or xx < -1.0 or xx > width:
                            continue
                        if y <= 0:
                            y = 0.0
                        if xx <= 0:
                            xx = 0.0
                        yl, xl = int(y), int(xx)
                        if yl >= height - 1:
                            yl = yh = height - 1
                            y = float(yl)
                        else:
                            yh = yl + 1
                        if xl >= width - 1:
                            xl = xh = width - 1
                            xx = float(xl)
                        else:
                            xh = xl + 1
                        ly, lx = y - yl, xx - xl
                        hy, hx = 1.0 - ly, 1.0 - lx
                        w1, w2, w3, w4 = hy * hx, hy * lx, ly * hx, ly * lx
                        if backward:
                            for c in range(channels):
                                x[b, c, yl, xl] += w1 * acc[c]
                                x[b, c, yl, xh] += w2 * acc[c]
                                x[b, c, yh, xl] += w3 * acc[c]
                                x[b, c, yh, xh] += w4 * acc[c]
                        else:
                            for c in range(channels):
                                acc[c] += (w1 * x[b, c, yl, xl] + w2 * x[b, c, yl, xh]
                                           + w3 * x[b, c, yh, xl] + w4 * x[b, c, yh, xh])
                if not backward:
                    for c in range(channels):
                        out[k, c, ph, pw] = acc[c] / count


def roi_align_forward(x: np.ndarray, rois: np.ndarray, pooled: tuple[int, int], spatial_scale: float,
                      sampling_ratio: int, aligned: bool) -> np.ndarray:
    out = np.zeros((rois.shape[0], x.shape[1]) + tuple(pooled), dtype=x.dtype)
    if rois.shape[0]:
        _roi_align_kernel(np.ascontiguousarray(x), np.ascontiguousarray(rois, dtype=np.float64),
                          float(spatial_scale), int(sampling_ratio), bool(aligned), out, False)
    return out


def roi_align_backward(g: np.ndarray, rois: np.ndarray, shape: tuple[int, ...], spatial_scale: float,
                       sampling_ratio: int, aligned: bool) -> np.ndarray:
    grad = np.zeros(shape, dtype=np.float64)
    if rois.shape[0]:
        _roi_align_kernel(grad, np.ascontiguousarray(rois, dtype=np.float64), float(spatial_scale),
                          int(sampling_ratio), bool(aligned), np.ascontiguousarray(g, dtype=np.float64), True)
    return grad.astype(g.dtype, copy=False)


def _bilinear_reference(plane, y, x):
    """torchvision's bilinear_interpolate on one (H, W) plane, plain Python."""
    height, width = plane.shape
    if y < -1.0 or y > height or x < -1.0 or x > width:
        return 0.0, []
    y, x = max(y, 0.0), max(x, 0.0)
    y_low, x_low = int(y), int(x)
    if y_low >= height - 1:
        y_high = y_low = height - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= width - 1:
        x_high = x_low = width - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1 - ly, 1 - lx
    taps = [(y_low, x_low, hy * hx), (y_low, x_high, hy * lx), (y_high, x_low, ly * hx), (y_high, x_high, ly * lx)]
    return sum(w * float(plane[i, j]) for i, j, w in taps), taps


def _align_samples_reference(roi, spatial_scale, pooled, sampling_ratio, aligned, ph, pw):
    offset = 0.5 if aligned else 0.0
    x1, y1, x2, y2 = (float(roi[j]) * spatial_scale - offset for j in range(1, 5))
    roi_w, roi_h = x2 - x1, y2 - y1
    if not aligned:
        roi_w, roi_h = max(roi_w, 1.0), max(roi_h, 1.0)
    bin_h, bin_w = roi_h / pooled[0], roi_w / pooled[1]
    grid_h = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_h / pooled[0])
    grid_w = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_w / pooled[1])
    points = [(y1 + ph * bin_h + (iy + 0.5) * bin_h / grid_h, x1 + pw * bin_w + (ix + 0.5) * bin_w / grid_w)
              for iy in range(grid_h) for ix in range(grid_w)]
    return points, max(grid_h * grid_w, 1)


def roi_align_reference(x, rois, pooled, spatial_scale, sampling_ratio, aligned):
    """Plain loops from the definition (output in x's dtype)."""
    out = np.zeros((rois.shape[0], x.shape[1]) + tuple(pooled), dtype=x.dtype)
    for k in range(rois.shape[0]):
        b = int(rois[k, 0])
        for ph in range(pooled[0]):
            for pw in range(pooled[1]):
                points, count = _align_samples_reference(rois[k], spatial_scale, pooled, sampling_ratio, aligned,
                                                         ph, pw)
                for c in range(x.shape[1]):
                    out[k, c, ph, pw] = sum(_bilinear_reference(x[b, c], y, xx)[0] for y, xx in points) / count
    return out


def roi_align_backward_reference(g, rois, shape, spatial_scale, sampling_ratio, aligned):
    grad = np.zeros(shape, dtype=np.float64)
    pooled = g.shape[2:]
    plane = np.zeros(shape[2:])
    for k in range(rois.shape[0]):
        b = int(rois[k, 0])
        for ph in range(pooled[0]):
            for pw in range(pooled[1]):
                points, count = _align_samples_reference(rois[k], spatial_scale, pooled, sampling_ratio, aligned,
                                                         ph, pw)
                for y, xx in points:
                    for i, j, w in _bilinear_reference(plane, y, xx)[1]:
                        grad[b, :, i, j] += w * g[k, :, ph, pw] / count
    return grad.astype(g.dtype, copy=False)
