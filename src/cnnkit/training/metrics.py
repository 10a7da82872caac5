"""Classification metrics on NumPy arrays: accuracy, top-k, confusion matrix, per-class precision/recall/F1.

All functions take logits or scores of shape (N, C) (or class predictions of shape (N,)) and integer targets (N,).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError


def _as_array(x) -> np.ndarray:
    return x.data if hasattr(x, "data") and not isinstance(x, np.ndarray) else np.asarray(x)


def _predictions(output) -> np.ndarray:
    output = _as_array(output)
    return output.argmax(axis=1) if output.ndim == 2 else output.astype(np.int64)


def _check(fn, output, target):
    output, target = _as_array(output), _as_array(target)
    if output.shape[0] != target.shape[0]:
        raise InputError(f"{fn}: {output.shape[0]} predictions but {target.shape[0]} targets")
    return output, target


def accuracy(output, target) -> float:
    """Fraction of samples whose arg-max class equals the target."""
    output, target = _check("accuracy", output, target)
    return float(np.mean(_predictions(output) == target)) if target.size else 0.0


def top_k_accuracy(output, target, k: int = 5) -> float:
    """Fraction of samples whose target is among the k highest scores."""
    output, target = _check("top_k_accuracy", output, target)
    if output.ndim != 2 or not 1 <= k <= output.shape[1]:
        raise InputError(f"top_k_accuracy: needs (N, C) scores with 1 <= k <= C, got shape {output.shape}, k={k}")
    top = np.argpartition(-output, k - 1, axis=1)[:, :k]
    return float(np.mean(np.any(top == target[:, None], axis=1))) if target.size else 0.0


def confusion_matrix(output, target, num_classes: int | None = None) -> np.ndarray:
    """Counts[i, j] = samples of true class i predicted as class j."""
    output, target = _check("confusion_matrix", output, target)
    pred = _predictions(output)
    if num_classes is None:
        num_classes = int(max(pred.max(initial=-1), target.max(initial=-1))) + 1
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (target.astype(np.int64), pred), 1)
    return cm


def precision_recall_f1(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class precision = TP / predicted, recall = TP / actual, F1 = 2PR / (P + R) (0 where undefined)."""
    tp = np.diag(cm).astype(np.float64)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(actual > 0, tp / actual, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": actual}


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
