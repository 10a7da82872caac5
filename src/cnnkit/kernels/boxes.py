"""Non-maximum suppression on ndarrays (torchvision's CPU rule), a compiled kernel and its plain reference.

Rule. Boxes are (x1, y1, x2, y2). Visit the boxes in decreasing score order (a *stable* sort, so boxes with equal
scores keep their input order); a box not yet suppressed is kept and suppresses every later box whose IoU with it
is *greater than* the threshold, where

    inter = max(0, min(x2_i, x2_j) - max(x1_i, x1_j)) * max(0, min(y2_i, y2_j) - max(y1_i, y1_j))
    iou   = inter / (area_i + area_j - inter),      area = (x2 - x1) * (y2 - y1)

in the boxes' dtype (a 0/0 IoU is NaN and suppresses nothing). The kept indices come out in the visiting order,
i.e. by decreasing score.

The compiled kernel gathers the coordinates in score order and, for each kept box, visits only the boxes whose x1
lies within one maximum box width of it (a binary search in the boxes sorted by x1): on scattered boxes that is a
small fraction of all pairs. ``nms_reference`` is torchvision's loop in plain Python.
"""

from __future__ import annotations

import numpy as np

from ._numba import njit

__all__ = ["score_order", "nms", "nms_reference"]


def score_order(scores: np.ndarray) -> np.ndarray:
    """Indices by decreasing score, ties in input order (a stable descending sort, as torchvision's)."""
    # negating keeps the sort stable for ties; NaN sorts last either way
    return np.argsort(-scores, kind="stable").astype(np.int64)


@njit
def _nms_sorted(x1, y1, x2, y2, threshold):
    """Greedy NMS on boxes already in score order (rank = position); returns the kept ranks.

    With a non-negative threshold only the boxes that can overlap box i are visited: those whose x1 lies in
    (x1_i - max width, x2_i), a contiguous run of the boxes sorted by x1 found by binary search (a box outside it
    cannot overlap, so its IoU is 0 and it is not suppressed); the coordinates are stored in that order so the run
    is read sequentially. Otherwise (a negative threshold, or non-finite widths) every later box is visited."""
    n = x1.shape[0]
    max_width = (x2.astype(np.float64) - x1.astype(np.float64)).max()
    windowed = threshold >= 0 and np.isfinite(max_width)
    order = np.argsort(x1, kind="mergesort") if windowed else np.arange(n)  # position p holds rank order[p]
    where = np.empty(n, dtype=np.int64)
    where[order] = np.arange(n)
    X1, Y1, X2, Y2 = x1[order], y1[order], x2[order], y2[order]
    areas = (X2 - X1) * (Y2 - Y1)
    x_sorted = X1.astype(np.float64)
    if windowed:
        max_width += 1e-6 * (1.0 + max(abs(x_sorted[0]), abs(x_sorted[-1])) + abs(max_width))
    suppressed = np.zeros(n, dtype=np.bool_)  # by position
    keep = np.empty(n, dtype=np.int64)
    count = 0
    for i in range(n):
        q = where[i]
        if suppressed[q]:
            continue
        keep[count] = i
        count += 1
        ix1, iy1, ix2, iy2, iarea = X1[q], Y1[q], X2[q], Y2[q], areas[q]
        lo, hi = q + 1, n
        if windowed:
            lo = np.searchsorted(x_sorted, np.float64(ix1) - max_width, side="left")
            hi = np.searchsorted(x_sorted, np.float64(ix2), side="left")
        for p in range(lo, hi):
            if suppressed[p] or order[p] <= i:
                continue
            a, b = X1[p], X2[p]
            xx1 = a if a > ix1 else ix1
            xx2 = b if b < ix2 else ix2
            c, d = Y1[p], Y2[p]
            yy1 = c if c > iy1 else iy1
            yy2 = d if d < iy2 else iy2
            if xx2 <= xx1 or yy2 <= yy1:  # no overlap: IoU 0, or NaN (0/0) when the union is empty too
                union = iarea + areas[p]
                if threshold < 0 and (union > 0 or union < 0):
                    suppressed[p] = True
                continue
            inter = (xx2 - xx1) * (yy2 - yy1)
            if inter / (iarea + areas[p] - inter) > threshold:
                suppressed[p] = True
    return keep[:count]


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices (int64) of the boxes kept by greedy NMS, by decreasing score (compiled)."""
    if boxes.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    order = score_order(scores)
    b = boxes[order]
    if b.dtype.kind != "f":
        b = b.astype(np.float64)
    kept = _nms_sorted(np.ascontiguousarray(b[:, 0]), np.ascontiguousarray(b[:, 1]),
                       np.ascontiguousarray(b[:, 2]), np.ascontiguousarray(b[:, 3]), float(iou_threshold))
    return order[kept]


def nms_reference(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """torchvision's CPU NMS loop, line for line, in plain Python (slow; for tests)."""
    n = boxes.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    x1, y1, x2, y2 = (boxes[:, k] for k in range(4))
    areas = (x2 - x1) * (y2 - y1)
    order = score_order(scores)
    suppressed = [False] * n
    keep = []
    for _i in range(n):
        i = order[_i]
        if suppressed[i]:
            continue
        keep.append(i)
        for _j in range(_i + 1, n):
            j = order[_j]
            if suppressed[j]:
                continue
            xx1, yy1 = max(x1[i], x1[j]), max(y1[i], y1[j])
            xx2, yy2 = min(x2[i], x2[j]), min(y2[i], y2[j])
            w, h = max(xx2 - xx1, 0), max(yy2 - yy1, 0)
            inter = w * h
            with np.errstate(invalid="ignore", divide="ignore"):
                ovr = inter / (areas[i] + areas[j] - inter)
            if ovr > iou_threshold:
                suppressed[j] = True
    return np.asarray(keep, dtype=np.int64)
