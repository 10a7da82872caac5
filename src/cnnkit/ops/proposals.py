"""Region proposals by selective search (Uijlings et al. 2013): graph-based segmentation + hierarchical grouping.

    boxes = selective_search(image)                      # (K, 4) float32 xyxy, K <= max_proposals
    boxes = selective_search(image, mode="quality")      # more strategies, higher recall, slower
    labels = felzenszwalb(image, scale=100, sigma=0.8, min_size=20)

1. **Initial regions**: Felzenszwalb-Huttenlocher graph-based segmentation (:mod:`cnnkit.kernels.segment_graph`)
   of the image smoothed by a Gaussian of ``sigma``, colours on a 0-255 scale, scale ``k``.
2. **Hierarchical grouping**: repeatedly merge the two most similar *adjacent* regions (4-connected) until one
   region is left. Similarity is a sum of measures in [0, 1] of regions r_i, r_j in an image of A pixels:

   - colour  s_c = sum_k min(c_i^k, c_j^k), c a 25-bins-per-channel colour histogram normalised to sum 1;
   - size    s_s = 1 - (|r_i| + |r_j|) / A  (small regions merge first, so the hierarchy stays balanced);
   - fill    s_f = 1 - (|BB_ij| - |r_i| - |r_j|) / A, BB_ij the box around both (regions that fill each other's
     gaps merge first).

   A merged region's histogram is the size-weighted mean of its parts, its box the union of theirs. (The paper's
   SIFT-like texture measure is left out: the colour, size and fill measures suffice for flat-coloured objects.)
3. **Diversification**: one hierarchy per strategy (a colour space x a scale k x a set of measures); every region of
   every level of every hierarchy gives its box. ``mode="fast"``: RGB and HSV, k in (50, 100), measures
   colour+size+fill and size+fill (8 hierarchies). ``mode="quality"``: adds the intensity-normalised rgI space,
   k = 150 and 300, and the colour+fill and fill-only measures (4 x 4 x 4 = 64 hierarchies).
4. **Ranking**: as in the paper, a region's rank within its hierarchy is its position counted from the top (the
   whole image is 1, the last initial region largest) times a random number in [0, 1); the boxes of all
   hierarchies are sorted by that value, duplicates removed (the first kept), and the first ``max_proposals``
   returned. The random numbers come from a fixed seed, so the same image always gives the same proposals.

Boxes are in pixel-edge coordinates (a region covering columns j0..j1 spans x in [j0, j1 + 1]).
"""

from __future__ import annotations

import heapq
import numbers

import numpy as np

from ..autograd import Tensor
from ..errors import InputError
from ..kernels.segment_graph import segment_image

__all__ = ["felzenszwalb", "selective_search", "STRATEGIES"]

_BINS = 25

# colour spaces x scales x similarity measures ("c" colour, "s" size, "f" fill) per mode
STRATEGIES = {
    "fast": (("rgb", "hsv"), (50.0, 100.0), ("csf", "sf")),
    "quality": (("rgb", "hsv", "rgi", "lab_like"), (50.0, 100.0, 150.0, 300.0), ("csf", "sf", "cf", "f")),
}


# ------------------------------------------------------------------------------ input and colour spaces


def _image(op: str, image) -> np.ndarray:
    """An image (C, H, W) or (H, W) in [0, 1] as an (H, W, C) float64 array."""
    a = image.data if isinstance(image, Tensor) else image
    if not isinstance(a, np.ndarray):
        raise InputError(f"{op}: expected an image as an array or Tensor, got {type(image).__name__}")
    if a.dtype.kind not in "fiub":
        raise InputError(f"{op}: image must hold numbers, got dtype {a.dtype}")
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or 0 in a.shape:
        raise InputError(f"{op}: expected an image of shape (C, H, W) or (H, W), got shape {a.shape}")
    a = np.moveaxis(a.astype(np.float64), 0, -1)
    if not np.all(np.isfinite(a)):
        raise InputError(f"{op}: image must be finite, got NaN or infinity")
    return a


def _gaussian(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian smoothing of an (H, W, C) image (edges replicated), kernel radius ceil(4 sigma)."""
    if sigma <= 0:
        return image
    radius = int(np.ceil(4 * sigma))
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-0.5 * (t / sigma) ** 2)
    g /= g.sum()
    h, w = image.shape[:2]
    padded = np.pad(image, ((radius, radius), (0, 0), (0, 0)), mode="edge")
    image = sum(g[i] * padded[i:i + h] for i in range(g.size))
    padded = np.pad(image, ((0, 0), (radius, radius), (0, 0)), mode="edge")
    return sum(g[i] * padded[:, i:i + w] for i in range(g.size))


def _colour_space(rgb: np.ndarray, space: str) -> np.ndarray:
    """(H, W, C) in [0, 1] to a colour space with channels in [0, 1]; one-channel images stay as they are."""
    if rgb.shape[-1] != 3 or space == "rgb":
        return rgb
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    if space == "hsv":
        v = rgb.max(-1)
        c = v - rgb.min(-1)
        s = np.where(v > 0, c / np.maximum(v, 1e-12), 0.0)
        safe = np.maximum(c, 1e-12)
        hue = np.where(v == r, (g - b) / safe, np.where(v == g, 2.0 + (b - r) / safe, 4.0 + (r - g) / safe))
        hue = np.where(c > 0, (hue / 6.0) % 1.0, 0.0)
        return np.stack([hue, s, v], -1)
    if space == "rgi":  # normalised r, g plus intensity
        total = np.maximum(rgb.sum(-1), 1e-12)
        return np.stack([r / total, g / total, rgb.mean(-1)], -1)
    # "lab_like": an opponent-colour space (intensity, red-green, yellow-blue), each scaled to [0, 1]
    return np.stack([rgb.mean(-1), (r - g + 1) / 2, ((r + g) / 2 - b + 1) / 2], -1)


# ------------------------------------------------------------------------------ segmentation


def _check_number(op: str, name: str, value, low: float, inclusive: bool = True) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value) and (
        value >= low if inclusive else value > low)
    if not ok:
        raise InputError(f"{op}: {name} must be a number {'>=' if inclusive else '>'} {low:g}, got {value!r}")
    return float(value)


def felzenszwalb(image, scale: float = 100.0, sigma: float = 0.8, min_size: int = 20) -> np.ndarray:
    """Graph-based segmentation of an image (C, H, W) or (H, W) in [0, 1]: (H, W) int64 region labels 0..L-1.

    The image is smoothed by a Gaussian of ``sigma``, colours scaled to 0-255, and segmented with scale ``k =
    scale``; regions smaller than ``min_size`` pixels are merged into a neighbour (see
    :mod:`cnnkit.kernels.segment_graph`)."""
    op = "felzenszwalb"
    img = _image(op, image)
    k = _check_number(op, "scale", scale, 0.0, inclusive=False)
    s = _check_number(op, "sigma", sigma, 0.0)
    if isinstance(min_size, bool) or not isinstance(min_size, numbers.Integral) or min_size < 1:
        raise InputError(f"{op}: min_size must be an int >= 1, got {min_size!r}")
    return _segment(img, k, s, int(min_size))


def _segment(img: np.ndarray, k: float, sigma: float, min_size: int) -> np.ndarray:
    return segment_image(_gaussian(img, sigma) * 255.0, k, min_size)


# ------------------------------------------------------------------------------ hierarchical grouping


def _regions(labels: np.ndarray, colour: np.ndarray):
    """Per initial region: size, box (x1, y1, x2, y2) in pixel edges, normalised colour histogram; and the pairs
    of 4-adjacent regions."""
    n = int(labels.max()) + 1
    flat = labels.ravel()
    size = np.bincount(flat, minlength=n).astype(np.float64)
    h, w = labels.shape
    ys, xs = np.divmod(np.arange(h * w), w)
    box = np.empty((n, 4), np.float64)
    box[:, 0] = np.full(n, w, np.int64)
    box[:, 1] = h
    box[:, 2] = 0
    box[:, 3] = 0
    np.minimum.at(box[:, 0], flat, xs)
    np.minimum.at(box[:, 1], flat, ys)
    np.maximum.at(box[:, 2], flat, xs + 1)
    np.maximum.at(box[:, 3], flat, ys + 1)
    channels = colour.shape[-1]
    bins = np.clip((colour.reshape(-1, channels) * _BINS).astype(np.int64), 0, _BINS - 1)
    hist = np.zeros((n, channels * _BINS), np.float64)
    for c in range(channels):
        hist[:, c * _BINS:(c + 1) * _BINS] = np.bincount(flat * _BINS + bins[:, c], minlength=n * _BINS).reshape(
            n, _BINS)
    hist /= hist.sum(1, keepdims=True)
    pairs = np.concatenate([np.stack([labels[:, :-1].ravel(), labels[:, 1:].ravel()], 1),
                            np.stack([labels[:-1].ravel(), labels[1:].ravel()], 1)])
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    pairs = np.unique(np.sort(pairs, 1), axis=0)
    return size, box, hist, pairs


def _hierarchy(labels: np.ndarray, colour: np.ndarray, measures: str) -> np.ndarray:
    """Boxes of every region of the grouping hierarchy, in creation order (initial regions first, the whole
    image last), by greedily merging the most similar adjacent pair (ties: the lower region numbers first)."""
    size, box, hist, pairs = _regions(labels, colour)
    n = size.size
    total = float(labels.size)
    cap = 2 * n  # at most n - 1 merges
    size = np.concatenate([size, np.zeros(cap - n)])
    box = np.concatenate([box, np.zeros((cap - n, 4))])
    hist = np.concatenate([hist, np.zeros((cap - n, hist.shape[1]))])
    neighbours = [set() for _ in range(cap)]
    for i, j in pairs:
        neighbours[i].add(int(j))
        neighbours[j].add(int(i))
    alive = np.zeros(cap, bool)
    alive[:n] = True

    def similarity(i, j):
        s = 0.0
        if "c" in measures:
            s += np.minimum(hist[i], hist[j]).sum()
        if "s" in measures:
            s += 1.0 - (size[i] + size[j]) / total
        if "f" in measures:
            bw = max(box[i, 2], box[j, 2]) - min(box[i, 0], box[j, 0])
            bh = max(box[i, 3], box[j, 3]) - min(box[i, 1], box[j, 1])
            s += 1.0 - (bw * bh - size[i] - size[j]) / total
        return s

    heap = [(-similarity(int(i), int(j)), int(i), int(j)) for i, j in pairs]
    heapq.heapify(heap)
    t = n
    while heap:
        _, i, j = heapq.heappop(heap)
        if not (alive[i] and alive[j]):
            continue
        size[t] = size[i] + size[j]
        box[t, :2] = np.minimum(box[i, :2], box[j, :2])
        box[t, 2:] = np.maximum(box[i, 2:], box[j, 2:])
        hist[t] = (size[i] * hist[i] + size[j] * hist[j]) / size[t]
        alive[i] = alive[j] = False
        alive[t] = True
        for m in (neighbours[i] | neighbours[j]) - {i, j}:
            neighbours[m].discard(i)
            neighbours[m].discard(j)
            neighbours[m].add(t)
            neighbours[t].add(m)
            heapq.heappush(heap, (-similarity(m, t), min(m, t), max(m, t)))
        t += 1
    return box[:t]


def selective_search(image, mode: str = "fast", max_proposals: int = 2000, min_size: int = 2,
                     sigma: float = 0.8) -> np.ndarray:
    """Selective-search proposals of an image (C, H, W) or (H, W) in [0, 1]: (K, 4) float32 xyxy boxes in pixel
    edges, best-ranked first, K <= ``max_proposals``, boxes narrower or lower than ``min_size`` pixels dropped.
    ``mode`` is ``"fast"`` or ``"quality"`` (see the module docstring); deterministic."""
    op = "selective_search"
    img = _image(op, image)
    if mode not in STRATEGIES:
        raise InputError(f"{op}: mode must be one of {', '.join(map(repr, STRATEGIES))}, got {mode!r}")
    for name, value in (("max_proposals", max_proposals), ("min_size", min_size)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise InputError(f"{op}: {name} must be an int >= 1, got {value!r}")
    sigma = _check_number(op, "sigma", sigma, 0.0)
    spaces, scales, measure_sets = STRATEGIES[mode]
    rng = np.random.default_rng(0)
    smoothed = _gaussian(img, sigma)
    all_boxes, all_ranks = [], []
    for space in spaces:
        colour = _colour_space(img, space)
        for k in scales:
            labels = segment_image(_colour_space(smoothed, space) * 255.0, k, max(int(k) // 5, 1))
            for measures in measure_sets:
                boxes = _hierarchy(labels, colour, measures)
                position = np.arange(boxes.shape[0], 0, -1, dtype=np.float64)  # the whole image is 1
                all_boxes.append(boxes)
                all_ranks.append(position * rng.random(position.size))
    boxes = np.concatenate(all_boxes)
    order = np.argsort(np.concatenate(all_ranks), kind="stable")
    boxes = boxes[order]
    wide = ((boxes[:, 2] - boxes[:, 0]) >= min_size) & ((boxes[:, 3] - boxes[:, 1]) >= min_size)
    boxes = boxes[wide]
    _, first = np.unique(boxes, axis=0, return_index=True)
    return boxes[np.sort(first)][:max_proposals].astype(np.float32)
