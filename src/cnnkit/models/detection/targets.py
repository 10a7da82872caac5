"""Checks of detection targets at the detectors' boundary (one clear line per mistake)."""

from __future__ import annotations

import numpy as np

from ...errors import InputError

__all__ = ["check_targets", "as_numpy_boxes"]


def as_numpy_boxes(boxes) -> np.ndarray:
    return np.asarray(boxes.data if hasattr(boxes, "data") and not isinstance(boxes, np.ndarray) else boxes)


def check_targets(op: str, targets, num_images: int, num_classes: int) -> list[dict]:
    """Per image ``{"boxes": (K, 4) float32 xyxy, "labels": (K,) int64}`` (K may be 0): boxes finite with
    x1 <= x2 and y1 <= y2, labels in 0 .. num_classes - 1. Returns them as NumPy arrays."""
    if not isinstance(targets, (list, tuple)) or len(targets) != num_images:
        got = len(targets) if isinstance(targets, (list, tuple)) else type(targets).__name__
        raise InputError(f"{op}: training needs one target dict per image ({num_images}), got {got}")
    out = []
    for i, t in enumerate(targets):
        if not isinstance(t, dict) or "boxes" not in t or "labels" not in t:
            raise InputError(f"{op}: target {i} must be a dict with 'boxes' and 'labels', got {t!r:.80}")
        boxes = as_numpy_boxes(t["boxes"]).astype(np.float32, copy=False)
        labels = as_numpy_boxes(t["labels"])
        if boxes.size == 0:
            boxes = boxes.reshape(0, 4)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise InputError(f"{op}: target {i} boxes must have shape (K, 4), got {boxes.shape}")
        if labels.shape != (boxes.shape[0],) or (labels.size and labels.dtype.kind not in "iu"):
            raise InputError(f"{op}: target {i} labels must be {boxes.shape[0]} integers, got shape {labels.shape} "
                             f"dtype {labels.dtype}")
        if not np.isfinite(boxes).all():
            raise InputError(f"{op}: target {i} has a box with NaN or infinite coordinates")
        bad = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
        if bad.any():
            j = int(np.nonzero(bad)[0][0])
            raise InputError(f"{op}: target {i} box {j} {boxes[j].tolist()} has x2 < x1 or y2 < y1 (expected xyxy)")
        outside = (labels < 0) | (labels >= num_classes)
        if outside.any():
            raise InputError(f"{op}: target {i} label {int(labels[outside][0])} is outside the classes "
                             f"0 .. {num_classes - 1}")
        out.append({"boxes": boxes, "labels": labels.astype(np.int64)})
    return out
