"""Classification metrics (also usable on dense, per-pixel labels): accuracy, top-k accuracy, the confusion
matrix and per-class precision / recall / F1.

``output`` is scores (N, C, *S) — the prediction is their arg-max over axis 1, the first class among equal
maxima — or integer predicted labels (N, *S); ``target`` integer class indices (N, *S). Positions whose target
equals ``ignore_index`` (when set) are skipped.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ._inputs import check_ignore_index, check_int, check_range, class_labels, split_scores_or_labels
from .base import Metric

__all__ = ["Accuracy", "ConfusionMatrix", "PrecisionRecallF1", "TopKAccuracy"]


class Accuracy(Metric):
    """Accuracy = correct / counted: the fraction of samples (or pixels) whose predicted class is the target.

    ``num_classes`` (optional) checks predicted labels and targets lie in [0, num_classes) (with scores the number
    of classes is their axis 1). ``compute()`` returns a float; NaN before any counted sample.
    """

    name = "accuracy"

    def __init__(self, num_classes: int | None = None, ignore_index: int | None = None, name: str | None = None):
        label = type(self).__name__
        self.num_classes = None if num_classes is None else check_int(label, "num_classes", num_classes, 1)
        self.ignore_index = check_ignore_index(label, ignore_index)
        super().__init__(name)

    def _config(self):
        return {"num_classes": self.num_classes, "ignore_index": self.ignore_index}

    def _state_spec(self):
        return {"correct": ((), np.int64), "total": ((), np.int64)}

    def _batch_state(self, output, target):
        pred, target = class_labels(type(self).__name__, output, target, self.num_classes, self.ignore_index)
        return {"correct": np.count_nonzero(pred == target), "total": target.size}

    def compute(self) -> float:
        """correct / total; NaN when nothing was counted."""
        total = int(self._state["total"])
        return int(self._state["correct"]) / total if total else float("nan")


class TopKAccuracy(Metric):
    """Top-k accuracy = (samples whose target is among the k highest scores) / counted.

    Needs scores (N, C, *S). The target's rank is its place in a stable descending sort of the scores: classes
    scoring higher, then equal-scoring classes of lower index, come first — so k=1 agrees with arg-max
    :class:`Accuracy`, ties included. Name ``"top{k}"``. ``compute()``: a float; NaN before any counted sample.
    """

    def __init__(self, k: int = 5, ignore_index: int | None = None, name: str | None = None):
        self.k = check_int("TopKAccuracy", "k", k, 1)
        self.ignore_index = check_ignore_index("TopKAccuracy", ignore_index)
        super().__init__(name if name is not None else self._default_name())

    def _default_name(self) -> str:
        return f"top{self.k}"

    def _config(self):
        return {"k": self.k, "ignore_index": self.ignore_index}

    def _state_spec(self):
        return {"correct": ((), np.int64), "total": ((), np.int64)}

    def _batch_state(self, output, target):
        output, target, _ = split_scores_or_labels("TopKAccuracy", output, target, scores_only=True)
        num_classes = output.shape[1]
        if self.k > num_classes:
            raise InputError(f"TopKAccuracy: k={self.k} but the output has only {num_classes} classes "
                             f"(shape {output.shape}); expected 1 <= k <= C")
        target = target.astype(np.int64, copy=False)
        keep = None if self.ignore_index is None else target != self.ignore_index
        counted = target if keep is None else target[keep]
        check_range("TopKAccuracy", "target", counted, num_classes, self.ignore_index)
        safe = target if keep is None else np.where(keep, target, 0)
        own = np.take_along_axis(output, safe[:, None], axis=1)  # (N, 1, *S): the target's score
        classes = np.arange(num_classes).reshape((1, num_classes) + (1,) * (output.ndim - 2))
        rank = (np.count_nonzero(output > own, axis=1)
                + np.count_nonzero((output == own) & (classes < safe[:, None]), axis=1))
        hit = rank < self.k
        return {"correct": np.count_nonzero(hit if keep is None else hit[keep]), "total": counted.size}

    def compute(self) -> float:
        """correct / total; NaN when nothing was counted."""
        total = int(self._state["total"])
        return int(self._state["correct"]) / total if total else float("nan")


class _ConfusionCounts(Metric):
    """A metric whose state is the confusion matrix counts[i, j] = positions of true class i predicted as j."""

    def __init__(self, num_classes: int, ignore_index: int | None = None, name: str | None = None):
        label = type(self).__name__
        self.num_classes = check_int(label, "num_classes", num_classes, 1)
        self.ignore_index = check_ignore_index(label, ignore_index)
        super().__init__(name)

    def _config(self):
        return {"num_classes": self.num_classes, "ignore_index": self.ignore_index}

    def _state_spec(self):
        return {"counts": ((self.num_classes, self.num_classes), np.int64)}

    def _batch_state(self, output, target):
        c = self.num_classes
        pred, target = class_labels(type(self).__name__, output, target, c, self.ignore_index)
        return {"counts": np.bincount(target * c + pred, minlength=c * c).reshape(c, c)}


class ConfusionMatrix(_ConfusionCounts):
    """counts[i, j] = number of samples (or pixels) of true class i predicted as class j.

    ``ConfusionMatrix(num_classes, ignore_index=None)``; ``compute()`` returns a (C, C) int64 array (zeros before
    any update)."""

    name = "confusion_matrix"
    higher_is_better = None

    def __init__(self, num_classes: int, ignore_index: int | None = None, name: str | None = None):
        super().__init__(num_classes, ignore_index, name)

    def compute(self) -> np.ndarray:
        return self._state["counts"].copy()


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 0 where den is 0."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den != 0)


class PrecisionRecallF1(_ConfusionCounts):
    """Per-class precision = TP / (TP + FP), recall = TP / (TP + FN), F1 = 2 P R / (P + R); each 0 where its
    denominator is 0; support = TP + FN (samples of the class).

    ``average``: None — ``compute()`` returns ``{"precision", "recall", "f1"}`` as (C,) float64 arrays and
    ``"support"`` as a (C,) int64 array; ``"macro"`` — the unweighted mean of the per-class values over the
    classes present (in the targets or the predictions; 0 if none), as floats, with the total support as an int;
    ``"micro"`` — the same ratios of the summed TP, FP and FN (for single-label classification all three equal
    the accuracy)."""

    name = "precision_recall_f1"
    _AVERAGES = (None, "macro", "micro")

    def __init__(self, num_classes: int, average: str | None = None, ignore_index: int | None = None,
                 name: str | None = None):
        if average not in self._AVERAGES:
            raise InputError(f"PrecisionRecallF1: average must be one of {self._AVERAGES}, got {average!r}")
        self.average = average
        super().__init__(num_classes, ignore_index, name)

    def _config(self):
        return {"num_classes": self.num_classes, "average": self.average, "ignore_index": self.ignore_index}

    def compute(self) -> dict:
        counts = self._state["counts"]
        tp = np.diag(counts)
        predicted, actual = counts.sum(axis=0), counts.sum(axis=1)
        if self.average == "micro":
            tp_sum, fp_sum, fn_sum = tp.sum(), (predicted - tp).sum(), (actual - tp).sum()
            precision, recall = float(_ratio(tp_sum, tp_sum + fp_sum)), float(_ratio(tp_sum, tp_sum + fn_sum))
            f1 = float(_ratio(2 * precision * recall, precision + recall))
            return {"precision": precision, "recall": recall, "f1": f1, "support": int(actual.sum())}
        precision, recall = _ratio(tp, predicted), _ratio(tp, actual)
        f1 = _ratio(2 * precision * recall, precision + recall)
        if self.average is None:
            return {"precision": precision, "recall": recall, "f1": f1, "support": actual.copy()}
        present = (predicted + actual) > 0
        if not present.any():
            return {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
        return {"precision": float(precision[present].mean()), "recall": float(recall[present].mean()),
                "f1": float(f1[present].mean()), "support": int(actual.sum())}
