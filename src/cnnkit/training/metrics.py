"""Classification metrics as plain functions on whole arrays: accuracy, top-k, confusion matrix, per-class
precision/recall/F1.

Thin wrappers over the streaming metrics of :mod:`cnnkit.metrics` (where the logic lives): each makes the metric,
updates it once and computes. They take logits or scores of shape (N, C) (or integer class predictions of shape
(N,)) and integer targets (N,). Unlike the metric objects, ``accuracy`` and ``top_k_accuracy`` of no samples are
0.0 here (not NaN), as they always were.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..metrics import Accuracy, ConfusionMatrix, PrecisionRecallF1, TopKAccuracy


def _as_array(x) -> np.ndarray:
    return x.data if hasattr(x, "data") and not isinstance(x, np.ndarray) else np.asarray(x)


def _once(metric, output, target):
    metric.update(output, target)
    return metric


def accuracy(output, target) -> float:
    """Fraction of samples whose arg-max class equals the target (0.0 for no samples)."""
    metric = _once(Accuracy(), output, target)
    return metric.compute() if metric.state["total"] else 0.0


def top_k_accuracy(output, target, k: int = 5) -> float:
    """Fraction of samples whose target is among the k highest scores (0.0 for no samples)."""
    metric = _once(TopKAccuracy(k), output, target)
    return metric.compute() if metric.state["total"] else 0.0


def confusion_matrix(output, target, num_classes: int | None = None) -> np.ndarray:
    """Counts[i, j] = samples of true class i predicted as class j.

    ``num_classes`` None: the scores' class count, or for predicted labels the largest label seen plus one."""
    if num_classes is None:
        out, tgt = _as_array(output), _as_array(target)
        if out.ndim == tgt.ndim + 1 and out.ndim >= 2:
            num_classes = out.shape[1]
        else:
            num_classes = int(max(out.max(initial=-1), tgt.max(initial=-1))) + 1
            if num_classes <= 0 and tgt.size == 0:
                return np.zeros((0, 0), dtype=np.int64)
            num_classes = max(num_classes, 1)  # negative labels: the metric reports them
    return _once(ConfusionMatrix(num_classes), output, target).compute()


def precision_recall_f1(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class precision = TP / predicted, recall = TP / actual, F1 = 2PR / (P + R) (0 where undefined) and
    support (= actual), from a (C, C) integer confusion matrix as :func:`confusion_matrix` returns it."""
    cm = _as_array(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise InputError(f"precision_recall_f1: expected a square (C, C) confusion matrix, got shape {cm.shape}")
    metric = PrecisionRecallF1(cm.shape[0])
    metric.load_state_dict({"counts": cm})
    return metric.compute()


METRICS = {"accuracy": accuracy, "top5": lambda o, t: top_k_accuracy(o, t, min(5, _as_array(o).shape[1]))}


def get_metric(name):
    """A metric function by name (``accuracy``, ``top5``, ``topK``) or the callable itself."""
    if callable(name):
        return name
    if name in METRICS:
        return METRICS[name]
    if isinstance(name, str) and name.startswith("top") and name[3:].isdigit():
        k = int(name[3:])
        return lambda o, t: top_k_accuracy(o, t, k)
    raise InputError(f"metrics: unknown metric {name!r}; expected one of {sorted(METRICS)} or 'topK'")
