"""Felzenszwalb-Huttenlocher graph-based segmentation on ndarrays: a compiled union-find and its plain reference.

Pixels are the vertices of a graph; each pixel is joined to its 8 neighbours by an edge weighted by the Euclidean
distance of their (smoothed) colours. Every pixel starts as its own component. Visiting the edges by increasing
weight w, the components A and B at its two ends are merged when

    w <= min(Int(A) + k / |A|,  Int(B) + k / |B|)

where Int(C) is the largest edge weight inside C's minimum spanning tree (the weight of the edge that last merged
into C, since edges arrive in increasing order) and k the scale: larger k, larger components. Afterwards,
components smaller than ``min_size`` pixels are merged into a neighbour (edges again by increasing weight).

``segment_edges`` is the compiled kernel; its ``py_func`` is the same loop in plain Python (the reference).
"""

from __future__ import annotations

import numpy as np

from ._numba import njit

__all__ = ["grid_edges", "segment_edges", "segment_image"]


def grid_edges(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges ``(a, b, w)`` of the 8-connected grid of an (H, W, C) float image, sorted by increasing weight
    (a stable sort): pixel indices ``a``, ``b`` (row-major) and colour distances ``w``."""
    h, w = image.shape[:2]
    index = np.arange(h * w, dtype=np.int64).reshape(h, w)
    parts_a, parts_b, parts_w = [], [], []
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        ys, ye = 0, h - dy
        xs, xe = max(0, -dx), w - max(0, dx)
        if ye <= ys or xe <= xs:
            continue
        p = image[ys:ye, xs:xe]
        q = image[ys + dy:ye + dy, xs + dx:xe + dx]
        parts_a.append(index[ys:ye, xs:xe].ravel())
        parts_b.append(index[ys + dy:ye + dy, xs + dx:xe + dx].ravel())
        parts_w.append(np.sqrt(((p - q) ** 2).sum(axis=-1)).ravel())
    a, b, weight = (np.concatenate(parts) for parts in (parts_a, parts_b, parts_w))
    order = np.argsort(weight, kind="stable")
    return a[order], b[order], weight[order].astype(np.float64)


@njit
def segment_edges(a, b, w, n, k, min_size):
    """Component label (0 .. L-1, numbered in pixel order) of each of ``n`` vertices, from edges sorted by
    increasing weight (see the module docstring for the rule)."""
    parent = np.arange(n)
    size = np.ones(n, dtype=np.int64)
    threshold = np.full(n, k, dtype=np.float64)  # Int(C) + k / |C| with Int = 0, |C| = 1
    for e in range(a.shape[0]):
        ra = a[e]
        while parent[ra] != ra:
            parent[ra] = parent[parent[ra]]  # path halving
            ra = parent[ra]
        rb = b[e]
        while parent[rb] != rb:
            parent[rb] = parent[parent[rb]]
            rb = parent[rb]
        if ra != rb and w[e] <= threshold[ra] and w[e] <= threshold[rb]:
            if size[ra] < size[rb]:
                ra, rb = rb, ra
            parent[rb] = ra
            size[ra] += size[rb]
            threshold[ra] = w[e] + k / size[ra]
    for e in range(a.shape[0]):
        ra = a[e]
        while parent[ra] != ra:
            parent[ra] = parent[parent[ra]]  # path halving
            ra = parent[ra]
        rb = b[e]
        while parent[rb] != rb:
            parent[rb] = parent[parent[rb]]
            rb = parent[rb]
        if ra != rb and (size[ra] < min_size or size[rb] < min_size):
            if size[ra] < size[rb]:
                ra, rb = rb, ra
            parent[rb] = ra
            size[ra] += size[rb]
    labels = np.empty(n, dtype=np.int64)
    number = np.full(n, -1, dtype=np.int64)
    count = 0
    for v in range(n):
        r = v
        while parent[r] != r:
            r = parent[r]
        if number[r] < 0:
            number[r] = count
            count += 1
        labels[v] = number[r]
    return labels


def segment_image(image: np.ndarray, k: float, min_size: int, compiled: bool = True) -> np.ndarray:
    """(H, W) int64 labels of an (H, W, C) float64 image (already smoothed) by the rule of the module docstring."""
    h, w = image.shape[:2]
    a, b, weight = grid_edges(image)
    kernel = segment_edges if compiled else segment_edges.py_func
    return kernel(a, b, weight, h * w, float(k), int(min_size)).reshape(h, w)
