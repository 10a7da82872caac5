"""The detectors' check of the targets they are given in training (one clear line per mistake)."""

from __future__ import annotations

from ...data.targets import check_target
from ...errors import InputError

__all__ = ["check_targets"]


def check_targets(op: str, targets, num_images: int, num_classes: int) -> list[dict]:
    """One target per image, each checked by :func:`cnnkit.data.targets.check_target` (boxes finite xyxy with
    x1 <= x2 and y1 <= y2, labels in 0 .. num_classes - 1; K may be 0). Returns them as NumPy arrays."""
    if not isinstance(targets, (list, tuple)) or len(targets) != num_images:
        got = f"{len(targets)} targets" if isinstance(targets, (list, tuple)) else type(targets).__name__
        raise InputError(f"{op}: training needs one target dict per image ({num_images}), got {got}")
    return [check_target(t, num_classes, f"{op}: target of image {i}") for i, t in enumerate(targets)]
