"""Dropout (inverted): elementwise ``dropout`` and channel-wise ``dropout2d``.

In training each element (or each whole channel) is zeroed with probability p and the survivors are scaled
by 1 / (1 - p), so the expected output equals the input; outside training (or with p = 0) the input is
returned unchanged. Masks come from the library's generator (``ck.manual_seed`` makes them repeatable).
"""

from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..errors import InputError
from ..random import get_rng
from . import _checks


def _scaled_mask(shape, p: float, dtype) -> np.ndarray:
    """Array of ``shape`` holding 1/(1-p) with probability 1-p and 0 otherwise (all zeros when p == 1)."""
    draw_dtype = dtype if dtype in (np.float32, np.float64) else np.float64
    mask = get_rng().random(shape, dtype=draw_dtype)
    np.greater_equal(mask, p, out=mask, casting="unsafe")  # keep where u >= p: probability 1 - p
    mask *= 0.0 if p >= 1.0 else 1.0 / (1.0 - p)
    return mask.astype(dtype, copy=False)


class Dropout(Function):
    """y = x * m / (1 - p), m ~ Bernoulli(1 - p) per element; dx = g * m / (1 - p)."""

    def forward(self, x, p=0.5, training=True):
        self.mask = _scaled_mask(x.shape, p, x.dtype)
        return x * self.mask

    def backward(self, g):
        return g * self.mask


class Dropout2d(Function):
    """Dropout of whole channels: one Bernoulli draw per (sample, channel) of (N, C, H, W), or per channel of
    an unbatched (C, H, W) input; the mask broadcasts over H and W."""

    def forward(self, x, p=0.5, training=True):
        self.mask = _scaled_mask(x.shape[:-2] + (1, 1), p, x.dtype)
        return x * self.mask

    def backward(self, g):
        return g * self.mask


def _check(op: str, input, p, training) -> float:  # noqa: A002
    _checks.float_array(op, input)
    p = _checks.real(op, "p", p)
    if not 0.0 <= p <= 1.0:
        raise InputError(f"{op}: dropout probability p must be between 0 and 1, got {p}")
    _checks.boolean(op, "training", training)
    return p


def dropout(input, p: float = 0.5, training: bool = True, inplace: bool = False):  # noqa: A002
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p) when ``training``; the input
    itself otherwise (and when p == 0). ``inplace`` is accepted for compatibility; the result is a new tensor."""
    p = _check("dropout", input, p, training)
    if not training or p == 0:
        return _checks.tensor_arg("dropout", input)
    return Dropout.apply(input, p=p, training=True)


def dropout2d(input, p: float = 0.5, training: bool = True, inplace: bool = False):  # noqa: A002
    """Zero whole channels of (N, C, H, W), or of an unbatched (C, H, W), with probability ``p`` and scale the
    rest by 1/(1-p) when ``training``; the input itself otherwise."""
    p = _check("dropout2d", input, p, training)
    ndim = input.ndim
    if ndim not in (3, 4):
        raise InputError(f"dropout2d: expected a 4-D input (N, C, H, W) or a 3-D unbatched input (C, H, W), "
                         f"got shape {input.shape}")
    if not training or p == 0:
        return _checks.tensor_arg("dropout2d", input)
    return Dropout2d.apply(input, p=p, training=True)


__all__ = ["dropout", "dropout2d"]
