"""Reconstruction metrics: output and target of one shape, compared element by element."""

from __future__ import annotations

import math

import numpy as np

from ._inputs import check_positive, same_shape_floats
from .base import Metric

__all__ = ["MeanSquaredError", "PSNR"]


class MeanSquaredError(Metric):
    """MSE = sum((output - target)^2) / number of elements, pooled over every element seen.

    ``compute()`` returns a float; NaN before any element."""

    name = "mse"
    higher_is_better = False

    def _state_spec(self):
        return {"sum_squared_error": ((), np.float64), "count": ((), np.int64)}

    def _batch_state(self, output, target):
        output, target = same_shape_floats(type(self).__name__, output, target)
        diff = np.subtract(output, target, dtype=np.float64).reshape(-1)
        return {"sum_squared_error": np.dot(diff, diff), "count": diff.size}

    def _mse(self) -> float:
        count = int(self._state["count"])
        return float(self._state["sum_squared_error"]) / count if count else float("nan")

    def compute(self) -> float:
        return self._mse()


class PSNR(MeanSquaredError):
    """Peak signal-to-noise ratio in dB: PSNR = 10 log10(R^2 / MSE), R = ``data_range`` (1.0 for images in [0, 1],
    255 for 8-bit), MSE pooled over every element seen (not a mean of per-image PSNRs).

    ``compute()`` returns a float; inf when the MSE is 0, NaN before any element."""

    name = "psnr"
    higher_is_better = True

    def __init__(self, data_range: float = 1.0, name: str | None = None):
        self.data_range = check_positive("PSNR", "data_range", data_range)
        super().__init__(name)

    def _config(self):
        return {"data_range": self.data_range}

    def compute(self) -> float:
        mse = self._mse()
        if math.isnan(mse):
            return mse
        return 10.0 * math.log10(self.data_range**2 / mse) if mse > 0 else math.inf
