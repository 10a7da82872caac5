"""The input checks every metric shares: arrays out of Tensors, class labels out of scores, the shape contract.

Classification and dense (segmentation) inputs follow one rule. ``target`` holds integer class indices of shape
(N, *S) (S empty for classification, (H, W) for segmentation). ``output`` is either scores of shape (N, C, *S),
whose arg-max over axis 1 is the prediction, or integer predicted labels of the same shape as ``target``.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..autograd import Tensor
from ..errors import InputError, InputTypeError


def as_array(metric: str, what: str, x) -> np.ndarray:
    """``x`` (a Tensor, an ndarray or anything NumPy converts) as a numeric ndarray, shared where possible."""
    if isinstance(x, Tensor):
        array = x.data
    elif isinstance(x, np.ndarray):
        array = x
    else:
        try:
            array = np.asarray(x)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise InputTypeError(f"{metric}: {what} must be a Tensor or an array, got {type(x).__name__} "
                                 f"({exc})") from None
    if array.dtype.kind not in "biuf":
        raise InputTypeError(f"{metric}: {what} must be numeric, got an array of dtype {array.dtype}")
    return array


def check_int(metric: str, what: str, value, minimum: int | None = None) -> int:
    """``value`` as a Python int (bools refused), at least ``minimum`` when given."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputTypeError(f"{metric}: {what} must be an int, got {type(value).__name__} {value!r}")
    if minimum is not None and value < minimum:
        raise InputError(f"{metric}: {what} must be >= {minimum}, got {value}")
    return int(value)


def check_ignore_index(metric: str, ignore_index) -> int | None:
    return None if ignore_index is None else check_int(metric, "ignore_index", ignore_index)


def check_positive(metric: str, what: str, value) -> float:
    """``value`` as a finite float > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputTypeError(f"{metric}: {what} must be a number, got {type(value).__name__} {value!r}")
    if not (np.isfinite(value) and value > 0):
        raise InputError(f"{metric}: {what} must be a finite number > 0, got {value}")
    return float(value)


def _require_integer(metric: str, what: str, array: np.ndarray, hint: str = "") -> None:
    if array.dtype.kind not in "iu":
        raise InputTypeError(f"{metric}: {what} must hold integer class indices, got dtype {array.dtype}{hint}")


def _check_batch(metric: str, output: np.ndarray, target: np.ndarray, spatial_from: int) -> None:
    """Same N; same trailing (spatial) sizes, ``output``'s starting at axis ``spatial_from``."""
    if output.shape[0] != target.shape[0]:
        raise InputError(f"{metric}: {output.shape[0]} predictions but {target.shape[0]} targets "
                         f"(output shape {output.shape}, target shape {target.shape})")
    if output.shape[spatial_from:] != target.shape[1:]:
        raise InputError(f"{metric}: output spatial size {output.shape[spatial_from:]} does not match target "
                         f"spatial size {target.shape[1:]} (output shape {output.shape}, target shape "
                         f"{target.shape})")


def split_scores_or_labels(metric: str, output, target, *, scores_only: bool = False):
    """Validated ``(output, target, is_scores)``: ``output`` as (N, C, *S) scores or (N, *S) labels."""
    output, target = as_array(metric, "output", output), as_array(metric, "target", target)
    _require_integer(metric, "target", target)
    if target.ndim == 0:
        raise InputError(f"{metric}: target must have a batch dimension (N, ...), got a scalar")
    if output.ndim == target.ndim + 1:
        _check_batch(metric, output, target, spatial_from=2)
        if output.shape[1] == 0:
            raise InputError(f"{metric}: output scores have no classes (shape {output.shape})")
        return output, target, True
    if output.ndim == target.ndim and not scores_only:
        _require_integer(metric, "predicted labels (output of the same shape as target)", output,
                         "; pass scores of shape (N, C, ...) or integer labels")
        _check_batch(metric, output, target, spatial_from=1)
        return output, target, False
    expected = "scores (N, C, ...)" if scores_only else "scores (N, C, ...) or labels of the target's shape"
    raise InputError(f"{metric}: expected output {expected} for a target of shape {target.shape}, "
                     f"got output shape {output.shape}")


def check_range(metric: str, what: str, values: np.ndarray, num_classes: int | None,
                ignore_index: int | None = None) -> None:
    """Every value of ``values`` (ignored positions already dropped) in [0, num_classes), or >= 0 if unknown."""
    if values.size == 0:
        return
    lo, hi = int(values.min()), int(values.max())
    if lo >= 0 and (num_classes is None or hi < num_classes):
        return
    outside = values < 0
    if num_classes is not None:
        outside |= values >= num_classes
    bad = values[outside]
    allowed = f"in [0, {num_classes})" if num_classes is not None else ">= 0"
    if ignore_index is not None:
        allowed += f" or equal to ignore_index={ignore_index}"
    raise InputError(f"{metric}: {what} values must be {allowed}; got {bad.size} value(s) outside, e.g. "
                     f"{int(bad[0])} (values range from {lo} to {hi})")


def class_labels(metric: str, output, target, num_classes: int | None = None, ignore_index: int | None = None):
    """Flat int64 ``(predicted, target)`` over the positions that count (``ignore_index`` positions dropped),
    both checked to lie in [0, num_classes). ``num_classes`` None: taken from the scores when ``output`` is
    scores; unchecked above (only >= 0) when ``output`` is labels."""
    output, target, is_scores = split_scores_or_labels(metric, output, target)
    if is_scores:
        if num_classes is not None and output.shape[1] != num_classes:
            raise InputError(f"{metric}: output has {output.shape[1]} classes (shape {output.shape}) but the "
                             f"metric was made for num_classes={num_classes}")
        num_classes = output.shape[1]
        pred = output.argmax(axis=1).reshape(-1)
    else:
        pred = output.reshape(-1)
    pred = pred.astype(np.int64, copy=False)
    target = target.reshape(-1).astype(np.int64, copy=False)
    if ignore_index is not None:
        keep = target != ignore_index
        if not keep.all():
            pred, target = pred[keep], target[keep]
    check_range(metric, "target", target, num_classes, ignore_index)
    if not is_scores:
        check_range(metric, "predicted label", pred, num_classes)
    return pred, target


def same_shape_floats(metric: str, output, target) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``(output, target)`` of one shape (reconstruction metrics)."""
    output, target = as_array(metric, "output", output), as_array(metric, "target", target)
    if output.shape != target.shape:
        raise InputError(f"{metric}: output shape {output.shape} does not match target shape {target.shape}")
    return output, target
