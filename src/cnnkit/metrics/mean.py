"""The weighted running mean (for losses and any per-batch number)."""

from __future__ import annotations

import numpy as np

from ..errors import InputError, InputTypeError
from ._inputs import as_array
from .base import Metric

__all__ = ["MeanMetric"]


class MeanMetric(Metric):
    """Weighted running mean: mean = sum(w * v) / sum(w).

    ``update(value, weight=1.0)``: ``value`` a number or an array (each element counts, with ``weight``
    broadcast to its shape), ``weight`` >= 0. To average a per-batch mean loss over samples, pass the batch size
    as the weight. ``compute()`` returns a float; NaN while the total weight is 0 (nothing seen yet).
    """

    name = "mean"
    higher_is_better = False

    def __init__(self, name: str | None = None, higher_is_better: bool | None = False):
        super().__init__(name)
        if higher_is_better is not None and not isinstance(higher_is_better, bool):
            raise InputTypeError(f"MeanMetric: higher_is_better must be a bool or None, got {higher_is_better!r}")
        self.higher_is_better = higher_is_better

    def _state_spec(self):
        return {"total": ((), np.float64), "weight": ((), np.float64)}

    def update(self, value, weight=1.0) -> None:
        """Add ``value`` with ``weight`` (see the class docstring)."""
        self._add(self._batch_state(value, weight))

    def _batch_state(self, value, weight=1.0):
        value = as_array("MeanMetric", "value", value).astype(np.float64, copy=False)
        weight = as_array("MeanMetric", "weight", weight).astype(np.float64, copy=False)
        try:
            weight = np.broadcast_to(weight, value.shape)
        except ValueError:
            raise InputError(f"MeanMetric: weight of shape {weight.shape} does not broadcast to the value's shape "
                             f"{value.shape}") from None
        if weight.size and not (np.all(np.isfinite(weight)) and weight.min() >= 0):
            raise InputError(f"MeanMetric: weights must be finite and >= 0, got values from {weight.min()} to "
                             f"{weight.max()}")
        return {"total": np.sum(value * weight), "weight": np.sum(weight)}

    def compute(self) -> float:
        """sum(w * v) / sum(w); NaN when the total weight is 0."""
        weight = float(self._state["weight"])
        return float(self._state["total"]) / weight if weight > 0 else float("nan")
