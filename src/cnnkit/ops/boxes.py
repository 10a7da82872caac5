"""Box operations with torchvision.ops' names, signatures and semantics.

Boxes are (N, 4) arrays of (x1, y1, x2, y2) ("xyxy") unless a format is named. Each function takes cnnkit Tensors
or NumPy arrays and returns the same kind. On Tensors the arithmetic runs through cnnkit's differentiable ops, so
``box_iou`` and ``generalized_box_iou`` can sit inside a loss; ``nms``, ``batched_nms`` and ``remove_small_boxes``
return int64 indices (no gradient).

Definitions (torchvision's):

- ``box_area``: (x2 - x1) * (y2 - y1).
- ``box_iou``: inter / union with inter = prod(clamp(min(rb) - max(lt), 0)), union = area1 + area2 - inter;
  an empty union gives NaN (0/0), as in torchvision.
- ``generalized_box_iou``: iou - (C - union) / C, C the area of the smallest box enclosing both.
- ``box_convert``: between 'xyxy', 'xywh' (corner, width, height) and 'cxcywh' (centre, width, height).
- ``clip_boxes_to_image(boxes, size)``: x clamped to [0, width], y to [0, height], size = (height, width).
- ``remove_small_boxes(boxes, min_size)``: indices of the boxes whose width and height are both >= min_size.
- ``nms``: see :mod:`cnnkit.kernels.boxes`; ``batched_nms`` runs it per category (``idxs``) and returns the kept
  indices by decreasing score.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..autograd import Tensor
from ..errors import InputError, InputTypeError
from ..kernels import boxes as _k

__all__ = ["box_area", "box_iou", "generalized_box_iou", "box_convert", "clip_boxes_to_image",
           "remove_small_boxes", "nms", "batched_nms"]

_FORMATS = ("xyxy", "xywh", "cxcywh")


# ------------------------------------------------------------------------------ helpers


def _array(op: str, value, name: str) -> np.ndarray:
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, np.ndarray):
        return value
    raise InputTypeError(f"{op}: {name} must be a Tensor or ndarray, got {type(value).__name__}")


def _boxes(op: str, value, name: str = "boxes", *, batched: bool = False):
    """Check an (N, 4) boxes argument (any leading shape with ``batched``); returns it unchanged."""
    a = _array(op, value, name)
    if a.dtype.kind not in "fiu":
        raise InputTypeError(f"{op}: {name} must hold numbers, got dtype {a.dtype}")
    if (a.ndim < 1 if batched else a.ndim != 2) or a.shape[-1] != 4:
        expected = "(..., 4)" if batched else "(N, 4)"
        raise InputError(f"{op}: {name} must have shape {expected}, got {a.shape}")
    return value


def _upcast(a):
    """torchvision's _upcast: floats below float32 and ints below int32 widen, so products do not overflow."""
    data = a.data if isinstance(a, Tensor) else a
    if data.dtype.kind == "f" and data.dtype.itemsize < 4:
        return a.astype(np.float32)
    if data.dtype.kind in "iu" and data.dtype.itemsize < 4:
        return a.astype(np.int32)
    return a


def _maximum(a, b):
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        from ..functional import where

        return where(a >= b, a, b)
    return np.maximum(a, b)


def _minimum(a, b):
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        from ..functional import where

        return where(a <= b, a, b)
    return np.minimum(a, b)


def _clamp(a, lo=None, hi=None):
    if isinstance(a, Tensor):
        from ..functional import clip

        return clip(a, lo, hi)
    return np.clip(a, lo, hi)


def _stack(items, axis):
    if any(isinstance(t, Tensor) for t in items):
        from ..functional import stack

        return stack(list(items), axis=axis)
    return np.stack(items, axis=axis)


def _like(result: np.ndarray, like):
    """``result`` as a Tensor when ``like`` is one, else the ndarray."""
    return Tensor._wrap(result) if isinstance(like, Tensor) else result


# ------------------------------------------------------------------------------ geometry


def box_area(boxes):
    """Areas (N,) of (N, 4) xyxy boxes: (x2 - x1) * (y2 - y1)."""
    boxes = _upcast(_boxes("box_area", boxes))
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _box_inter_union(boxes1, boxes2):
    area1, area2 = box_area(boxes1), box_area(boxes2)
    lt = _maximum(boxes1[:, None, :2], boxes2[None, :, :2])  # (N, M, 2)
    rb = _minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])
    wh = _clamp(_upcast(rb - lt), lo=0)
    inter = wh[:, :, 0] * wh[:, :, 1]
    union = area1[:, None] + area2[None, :] - inter
    return inter, union


def box_iou(boxes1, boxes2):
    """Pairwise intersection over union (N, M) of (N, 4) and (M, 4) xyxy boxes."""
    _boxes("box_iou", boxes1, "boxes1"), _boxes("box_iou", boxes2, "boxes2")
    inter, union = _box_inter_union(boxes1, boxes2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return inter / union


def generalized_box_iou(boxes1, boxes2):
    """Pairwise generalized IoU (N, M): iou - (C - union) / C with C the area of the enclosing box."""
    _boxes("generalized_box_iou", boxes1, "boxes1"), _boxes("generalized_box_iou", boxes2, "boxes2")
    with np.errstate(invalid="ignore", divide="ignore"):
        inter, union = _box_inter_union(boxes1, boxes2)
        iou = inter / union
        lti = _minimum(boxes1[:, None, :2], boxes2[None, :, :2])
        rbi = _maximum(boxes1[:, None, 2:], boxes2[None, :, 2:])
        whi = _clamp(_upcast(rbi - lti), lo=0)
        areai = whi[:, :, 0] * whi[:, :, 1]
        return iou - (areai - union) / areai


def box_convert(boxes, in_fmt: str, out_fmt: str):
    """Convert (N, 4) boxes between 'xyxy', 'xywh' and 'cxcywh' (a copy when the formats are equal)."""
    op = "box_convert"
    for name, fmt in (("in_fmt", in_fmt), ("out_fmt", out_fmt)):
        if fmt not in _FORMATS:
            raise InputError(f"{op}: unsupported {name} {fmt!r}; expected one of {', '.join(_FORMATS)}")
    _boxes(op, boxes)
    if in_fmt == out_fmt:
        return boxes.clone() if isinstance(boxes, Tensor) else boxes.copy()
    a, b, c, d = (boxes[:, k] for k in range(4))
    if in_fmt == "xywh":
        x1, y1, x2, y2 = a, b, a + c, b + d
    elif in_fmt == "cxcywh":
        x1, y1, x2, y2 = a - 0.5 * c, b - 0.5 * d, a + 0.5 * c, b + 0.5 * d
    else:
        x1, y1, x2, y2 = a, b, c, d
    if out_fmt == "xywh":
        out = (x1, y1, x2 - x1, y2 - y1)
    elif out_fmt == "cxcywh":
        out = ((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1)
    else:
        out = (x1, y1, x2, y2)
    result = _stack(out, axis=-1)
    data = result.data if isinstance(result, Tensor) else result
    src = boxes.data if isinstance(boxes, Tensor) else boxes
    if data.dtype != src.dtype and src.dtype.kind == "f":  # 0.5 * float32 stays float32, as in torch
        result = result.astype(src.dtype)
    return result


def _size(op: str, size) -> tuple[float, float]:
    if not isinstance(size, (tuple, list)) or len(size) != 2 or not all(
            isinstance(s, numbers.Real) and not isinstance(s, bool) for s in size):
        raise InputError(f"{op}: size must be (height, width), got {size!r}")
    return size[0], size[1]


def clip_boxes_to_image(boxes, size):
    """Clip xyxy boxes (any leading shape, last axis 4) to an image of ``size`` = (height, width)."""
    op = "clip_boxes_to_image"
    _boxes(op, boxes, batched=True)
    height, width = _size(op, size)
    boxes_x = _clamp(boxes[..., 0::2], 0, width)
    boxes_y = _clamp(boxes[..., 1::2], 0, height)
    shape = boxes.shape
    clipped = _stack((boxes_x, boxes_y), axis=boxes.ndim)
    return clipped.reshape(shape)


def remove_small_boxes(boxes, min_size: float):
    """Indices (int64) of the boxes whose width and height are both at least ``min_size``."""
    a = _array("remove_small_boxes", _boxes("remove_small_boxes", boxes), "boxes")
    ws, hs = a[:, 2] - a[:, 0], a[:, 3] - a[:, 1]
    keep = np.nonzero((ws >= min_size) & (hs >= min_size))[0].astype(np.int64)
    return _like(keep, boxes)


# ------------------------------------------------------------------------------ non-maximum suppression


def _scores(op: str, scores, n: int, name: str = "scores") -> np.ndarray:
    s = _array(op, scores, name)
    if s.ndim != 1 or s.shape[0] != n:
        raise InputError(f"{op}: {name} must have shape ({n},) (one per box), got {s.shape}")
    return s


def _threshold(op: str, iou_threshold) -> float:
    if isinstance(iou_threshold, bool) or not isinstance(iou_threshold, numbers.Real):
        raise InputTypeError(f"{op}: iou_threshold must be a real number, got {iou_threshold!r}")
    return float(iou_threshold)


def nms(boxes, scores, iou_threshold: float):
    """Greedy non-maximum suppression: the indices (int64) of the boxes kept, by decreasing score.

    A box is dropped when its IoU with a higher-scoring kept box is greater than ``iou_threshold``; equal scores
    are visited in input order (a stable sort)."""
    op = "nms"
    b = _array(op, _boxes(op, boxes), "boxes")
    s = _scores(op, scores, b.shape[0])
    keep = _k.nms(b, s, _threshold(op, iou_threshold))
    return _like(keep, boxes)


def batched_nms(boxes, scores, idxs, iou_threshold: float):
    """NMS within each category (``idxs``, one integer per box): boxes of different categories never suppress
    each other. Returns the kept indices (int64) by decreasing score (ties in input order)."""
    op = "batched_nms"
    b = _array(op, _boxes(op, boxes), "boxes")
    s = _scores(op, scores, b.shape[0])
    ids = _scores(op, idxs, b.shape[0], "idxs")
    threshold = _threshold(op, iou_threshold)
    keep_mask = np.zeros(b.shape[0], dtype=bool)
    for category in np.unique(ids):
        members = np.nonzero(ids == category)[0]
        keep_mask[members[_k.nms(b[members], s[members], threshold)]] = True
    kept = np.nonzero(keep_mask)[0]
    keep = kept[_k.score_order(s[kept])].astype(np.int64)
    return _like(keep, boxes)
