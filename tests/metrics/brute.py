"""Brute-force references for the metric tests: loops over every position, straight from the definitions."""

from __future__ import annotations

import math

import numpy as np


def first_argmax(scores) -> int:
    best = 0
    for c in range(1, len(scores)):
        if scores[c] > scores[best]:
            best = c
    return best


def positions(output, target, ignore_index=None):
    """[(scores or None, predicted class, target class)] for every position whose target is not ignored."""
    output, target = np.asarray(output), np.asarray(target)
    is_scores = output.ndim == target.ndim + 1
    out = []
    for idx in np.ndindex(*target.shape):
        t = int(target[idx])
        if ignore_index is not None and t == ignore_index:
            continue
        if is_scores:
            scores = [float(output[(idx[0], c) + idx[1:]]) for c in range(output.shape[1])]
            out.append((scores, first_argmax(scores), t))
        else:
            out.append((None, int(output[idx]), t))
    return out


def accuracy(output, target, ignore_index=None) -> float:
    pos = positions(output, target, ignore_index)
    correct = sum(1 for _, p, t in pos if p == t)
    return correct / len(pos) if pos else math.nan


def top_k_accuracy(output, target, k, ignore_index=None) -> float:
    pos = positions(output, target, ignore_index)
    hits = 0
    for scores, _, t in pos:
        order = sorted(range(len(scores)), key=lambda c: (-scores[c], c))  # stable: lower index first on ties
        hits += t in order[:k]
    return hits / len(pos) if pos else math.nan


def confusion(output, target, num_classes, ignore_index=None) -> np.ndarray:
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    for _, p, t in positions(output, target, ignore_index):
        counts[t, p] += 1
    return counts


def per_class_counts(output, target, num_classes, ignore_index=None):
    """(tp, fp, fn) lists, counted position by position."""
    tp, fp, fn = [0] * num_classes, [0] * num_classes, [0] * num_classes
    for _, p, t in positions(output, target, ignore_index):
        for c in range(num_classes):
            tp[c] += p == c and t == c
            fp[c] += p == c and t != c
            fn[c] += p != c and t == c
    return tp, fp, fn


def _div0(a, b):
    return a / b if b else 0.0


def precision_recall_f1(output, target, num_classes, average=None, ignore_index=None) -> dict:
    tp, fp, fn = per_class_counts(output, target, num_classes, ignore_index)
    precision = [_div0(tp[c], tp[c] + fp[c]) for c in range(num_classes)]
    recall = [_div0(tp[c], tp[c] + fn[c]) for c in range(num_classes)]
    f1 = [_div0(2 * precision[c] * recall[c], precision[c] + recall[c]) for c in range(num_classes)]
    support = [tp[c] + fn[c] for c in range(num_classes)]
    if average is None:
        return {"precision": np.array(precision), "recall": np.array(recall), "f1": np.array(f1),
                "support": np.array(support, dtype=np.int64)}
    if average == "micro":
        p, r = _div0(sum(tp), sum(tp) + sum(fp)), _div0(sum(tp), sum(tp) + sum(fn))
        return {"precision": p, "recall": r, "f1": _div0(2 * p * r, p + r), "support": sum(support)}
    present = [c for c in range(num_classes) if tp[c] + fp[c] + fn[c] > 0]
    mean = (lambda v: sum(v[c] for c in present) / len(present)) if present else (lambda v: 0.0)
    return {"precision": mean(precision), "recall": mean(recall), "f1": mean(f1), "support": sum(support)}


def iou(output, target, num_classes, ignore_index=None) -> np.ndarray:
    pos = positions(output, target, ignore_index)
    result = []
    for c in range(num_classes):
        inter = sum(1 for _, p, t in pos if p == c and t == c)
        union = sum(1 for _, p, t in pos if p == c or t == c)
        result.append(inter / union if union else math.nan)
    return np.array(result)


def mean_iou(output, target, num_classes, ignore_index=None) -> float:
    present = [v for v in iou(output, target, num_classes, ignore_index) if not math.isnan(v)]
    return sum(present) / len(present) if present else math.nan


def mse(output, target) -> float:
    output, target = np.asarray(output, dtype=np.float64).ravel(), np.asarray(target, dtype=np.float64).ravel()
    total = 0.0
    for a, b in zip(output, target, strict=True):
        total += (a - b) ** 2
    return total / len(output) if len(output) else math.nan


def psnr(output, target, data_range=1.0) -> float:
    error = mse(output, target)
    if math.isnan(error):
        return math.nan
    return 10 * math.log10(data_range**2 / error) if error > 0 else math.inf


def weighted_mean(values, weights) -> float:
    total = weight = 0.0
    for v, w in zip(values, weights, strict=True):
        total += v * w
        weight += w
    return total / weight if weight > 0 else math.nan
