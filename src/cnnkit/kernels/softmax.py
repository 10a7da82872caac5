"""Numerically stable softmax and log-softmax on arrays (shared by the activation and loss ops).

    log_softmax(x)_i = x_i - m - log(sum_j exp(x_j - m)),   m = max_j x_j
Subtracting the maximum keeps exp() in range, so logits of +-1e4 give finite results.
"""

from __future__ import annotations

import numpy as np


def log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    e /= np.sum(e, axis=axis, keepdims=True)
    return e
