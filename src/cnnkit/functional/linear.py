"""Fully connected layer: linear(x, weight, bias) = x W^T + b."""

from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..errors import InputError
from . import _checks


class Linear(Function):
    """y = x W^T + b for x of shape (..., in), W (out, in), b broadcastable to (..., out).

    The leading axes are folded into one, so forward and each gradient is a single matrix product:
    dx = g W,  dW = g^T x,  db = sum of g over the leading axes.
    """

    def forward(self, x, weight, bias=None):
        self.x_shape = x.shape
        rows = int(np.prod(x.shape[:-1]))  # not -1: any axis may be empty
        x2 = x.reshape(rows, x.shape[-1])
        y = np.matmul(x2, weight.T)
        self.x2, self.weight = x2, weight
        self.bias_is_vector = bias is not None and np.ndim(bias) == 1
        if bias is not None:
            if self.bias_is_vector:
                y += bias
            else:
                return np.add(y.reshape(x.shape[:-1] + (weight.shape[0],)), bias)
        return y.reshape(x.shape[:-1] + (weight.shape[0],))

    def backward(self, g):
        need = self.needs_input_grad
        out_features = self.weight.shape[0]
        g2 = g.reshape(self.x2.shape[0], out_features)
        gx = np.matmul(g2, self.weight).reshape(self.x_shape) if need[0] else None
        gw = np.matmul(g2.T, self.x2) if need[1] else None
        gb = None
        if len(need) > 2 and need[2]:
            gb = g2.sum(axis=0) if self.bias_is_vector else g  # the engine sums a full-shape gradient back
        return gx, gw, gb


def linear(input, weight, bias=None):  # noqa: A002 - PyTorch's name
    """y = x W^T + b: ``input`` (..., in_features), ``weight`` (out_features, in_features), ``bias``
    (out_features,) or None."""
    op = "linear"
    x, w = _checks.float_array(op, input), _checks.array_arg(op, weight, "weight")
    b = None if bias is None else _checks.array_arg(op, bias, "bias")
    for name, a in (("weight", w), ("bias", b)):
        if a is not None:
            _checks.check_same_dtype(op, x, a, name)
    if w.ndim != 2:
        raise InputError(f"linear: weight must be 2-D (out_features, in_features), got shape {w.shape}")
    if x.ndim < 1:
        raise InputError(f"linear: input must have at least 1 dimension (..., in_features), got shape {x.shape}")
    if x.shape[-1] != w.shape[1]:
        raise InputError(f"linear: input has {x.shape[-1]} features (shape {x.shape}) but weight expects "
                         f"{w.shape[1]} (weight shape {w.shape})")
    if b is not None:
        out_shape = x.shape[:-1] + (w.shape[0],)
        try:
            ok = np.broadcast_shapes(b.shape, out_shape) == out_shape
        except ValueError:
            ok = False
        if not ok:
            raise InputError(f"linear: bias of shape {b.shape} does not match the output shape {out_shape} "
                             f"(expected ({w.shape[0]},))")
    return Linear.apply(input, weight, bias)


__all__ = ["linear"]
