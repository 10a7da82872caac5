"""Segmentation metrics on dense labels: pixel accuracy, per-class IoU and mean IoU.

``output`` is per-pixel scores (N, C, H, W) or integer labels (N, H, W); ``target`` integer labels (N, H, W)
(any trailing spatial shape works). Pixels whose target equals ``ignore_index`` (255 by default, the mask
convention for "void") are skipped.
"""

from __future__ import annotations

import numpy as np

from .classification import Accuracy, _ConfusionCounts

__all__ = ["IoU", "MeanIoU", "PixelAccuracy"]


class PixelAccuracy(Accuracy):
    """Pixel accuracy = correctly labelled pixels / counted pixels (ignored pixels excluded).

    ``compute()`` returns a float; NaN before any counted pixel."""

    name = "pixel_accuracy"

    def __init__(self, ignore_index: int | None = 255, num_classes: int | None = None, name: str | None = None):
        super().__init__(num_classes=num_classes, ignore_index=ignore_index, name=name)


def _iou(counts: np.ndarray) -> np.ndarray:
    tp = np.diag(counts).astype(np.float64)
    union = counts.sum(axis=0) + counts.sum(axis=1) - tp
    return np.divide(tp, union, out=np.full(tp.shape, np.nan), where=union > 0)


class IoU(_ConfusionCounts):
    """Per-class intersection over union, IoU_c = TP_c / (TP_c + FP_c + FN_c), pooled over every pixel seen.

    ``compute()`` returns a (C,) float64 array, NaN for a class absent from both the predictions and the targets
    (all NaN before any update)."""

    name = "iou"

    def __init__(self, num_classes: int, ignore_index: int | None = 255, name: str | None = None):
        super().__init__(num_classes, ignore_index, name)

    def compute(self) -> np.ndarray:
        return _iou(self._state["counts"])


class MeanIoU(_ConfusionCounts):
    """Mean IoU = the mean of the per-class IoU = TP / (TP + FP + FN) over the classes present (in the
    predictions or the targets; absent classes are NaN in :class:`IoU` and left out).

    ``compute()`` returns a float; NaN when no class is present (before any counted pixel)."""

    name = "mean_iou"

    def __init__(self, num_classes: int, ignore_index: int | None = 255, name: str | None = None):
        super().__init__(num_classes, ignore_index, name)

    def compute(self) -> float:
        iou = _iou(self._state["counts"])
        present = ~np.isnan(iou)
        return float(iou[present].mean()) if present.any() else float("nan")
