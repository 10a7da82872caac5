"""Detection targets: the one check every reader, task and metric applies to per-image box annotations.

A target is ``{"boxes": (K, 4) float xyxy in pixels, "labels": (K,) int}`` with labels 0-based indices into the
dataset's classes (no background entry); K may be 0. An optional ``"difficult"`` (K,) bool marks objects that
count neither as found nor as missed (Pascal VOC).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

__all__ = ["check_target", "check_boxes", "as_numpy"]


def as_numpy(x) -> np.ndarray:
    """A Tensor's data or anything NumPy converts, as an ndarray."""
    data = getattr(x, "data", x)
    return data if isinstance(data, np.ndarray) else np.asarray(data)


def check_boxes(boxes, where: str) -> np.ndarray:
    """(K, 4) float32 xyxy boxes, finite, with x2 >= x1 and y2 >= y1; else an InputError naming ``where`` and the
    first bad box."""
    try:
        b = as_numpy(boxes).astype(np.float32, copy=False)
    except (TypeError, ValueError):
        raise InputError(f"{where}: boxes must be numbers, got {type(boxes).__name__}") from None
    if b.size == 0:
        return b.reshape(0, 4)
    if b.ndim != 2 or b.shape[1] != 4:
        raise InputError(f"{where}: boxes must have shape (K, 4) (x1, y1, x2, y2), got {b.shape}")
    bad = ~np.isfinite(b).all(axis=1)
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"{where}: box {i} is {b[i].tolist()}; coordinates must be finite numbers")
    bad = (b[:, 2] < b[:, 0]) | (b[:, 3] < b[:, 1])
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"{where}: box {i} is {b[i].tolist()}; expected x1 <= x2 and y1 <= y2 (xyxy)")
    return b


def check_target(target, num_classes: int | None, where: str) -> dict:
    """A validated copy of one image's target as NumPy arrays: boxes (K, 4) float32, labels (K,) int64 in
    [0, num_classes) (unchecked when ``num_classes`` is None), and ``difficult`` (K,) bool when given."""
    if not isinstance(target, dict) or "boxes" not in target or "labels" not in target:
        got = f"a dict with keys {sorted(map(str, target))}" if isinstance(target, dict) else type(target).__name__
        raise InputError(f"{where}: expected a target dict with 'boxes' and 'labels', got {got}")
    boxes = check_boxes(target["boxes"], where)
    labels = as_numpy(target["labels"]).reshape(-1)
    if labels.size and labels.dtype.kind not in "iu":
        if labels.dtype.kind != "f" or not np.all(np.isfinite(labels) & (labels == np.round(labels))):
            raise InputError(f"{where}: labels must be integer class indices, got {labels.tolist()[:5]}")
    labels = labels.astype(np.int64)
    if labels.shape[0] != boxes.shape[0]:
        raise InputError(f"{where}: {boxes.shape[0]} boxes but {labels.shape[0]} labels")
    if labels.size and num_classes is not None:
        bad = (labels < 0) | (labels >= num_classes)
        if bad.any():
            raise InputError(f"{where}: label {int(labels[np.argmax(bad)])} is outside the {num_classes} classes "
                             f"(expected 0 to {num_classes - 1})")
    out = {"boxes": boxes, "labels": labels}
    if target.get("difficult") is not None:
        difficult = as_numpy(target["difficult"]).reshape(-1).astype(bool)
        if difficult.shape[0] != boxes.shape[0]:
            raise InputError(f"{where}: {boxes.shape[0]} boxes but {difficult.shape[0]} difficult flags")
        out["difficult"] = difficult
    return out
