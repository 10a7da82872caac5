"""Elementwise arithmetic, reductions and matrix products, with their gradients.

Elementwise ops broadcast like NumPy; their backward returns the gradient in the broadcast shape and the
engine sums it back to each input's shape. Comparison ops return bool tensors and carry no gradient.
"""

from __future__ import annotations

import builtins

import numpy as np

from ..autograd import Function, Tensor
from ..errors import InputError

# ------------------------------------------------------------------------------ elementwise


class Add(Function):
    def forward(self, a, b):
        return a + b

    def backward(self, g):
        return g, g


class Sub(Function):
    def forward(self, a, b):
        return a - b

    def backward(self, g):
        return g, (-g if self.needs_input_grad[1] else None)


class Mul(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, g):
        n = self.needs_input_grad
        return (g * self.b if n[0] else None), (g * self.a if n[1] else None)


class Div(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, g):
        n = self.needs_input_grad
        ga = g / self.b if n[0] else None
        gb = -g * self.a / (self.b * self.b) if n[1] else None
        return ga, gb


class Pow(Function):
    """a ** b for a tensor or scalar exponent; d/da = b a^(b-1), d/db = a^b log a."""

    def forward(self, a, b):
        self.a, self.b = a, b
        self.out = np.power(a, b)
        return self.out

    def backward(self, g):
        n = self.needs_input_grad
        ga = g * self.b * np.power(self.a, self.b - 1) if n[0] else None
        gb = None
        if len(n) > 1 and n[1]:
            with np.errstate(divide="ignore", invalid="ignore"):
                gb = g * self.out * np.where(self.a > 0, np.log(np.where(self.a > 0, self.a, 1)), 0)
        return ga, gb


class Neg(Function):
    def forward(self, a):
        return -a

    def backward(self, g):
        return -g


class Exp(Function):
    def forward(self, a):
        self.out = np.exp(a)
        return self.out

    def backward(self, g):
        return g * self.out


class Log(Function):
    def forward(self, a):
        self.a = a
        return np.log(a)

    def backward(self, g):
        return g / self.a


class Sqrt(Function):
    def forward(self, a):
        self.out = np.sqrt(a)
        return self.out

    def backward(self, g):
        return g / (2 * self.out)


class Abs(Function):
    def forward(self, a):
        self.sign = np.sign(a)
        return np.abs(a)

    def backward(self, g):
        return g * self.sign


class Clip(Function):
    """clip(a, lo, hi); the gradient passes where lo <= a <= hi."""

    def forward(self, a, lo=None, hi=None):
        self.mask = np.ones(a.shape, dtype=bool)
        if lo is not None:
            self.mask &= a >= lo
        if hi is not None:
            self.mask &= a <= hi
        return np.clip(a, lo, hi)

    def backward(self, g):
        return g * self.mask


class MatMul(Function):
    """a @ b with NumPy's rules (1-D operands promoted, batch dimensions broadcast)."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return np.matmul(a, b)

    def backward(self, g):
        a, b = self.a, self.b
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g
        if b.ndim == 1:
            g2 = g2[..., None]
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = np.matmul(g2, np.swapaxes(b2, -1, -2))
            if a.ndim == 1:
                ga = ga[..., 0, :]
        if self.needs_input_grad[1]:
            gb = np.matmul(np.swapaxes(a2, -1, -2), g2)
            if b.ndim == 1:
                gb = gb[..., 0]
        return ga, gb


# ------------------------------------------------------------------------------ reductions


def _norm_axis(axis, ndim):
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for ax in axes:
        if not -ndim <= ax < builtins.max(ndim, 1):
            raise InputError(f"reduction: axis {ax} is out of range for a tensor with {ndim} dimensions")
        out.append(ax % builtins.max(ndim, 1))
    return tuple(sorted(out))


def _expand_reduced(g, shape, axis, keepdims):
    """Reshape a reduced gradient so it broadcasts against the input shape."""
    if axis is None:
        return np.reshape(g, (1,) * len(shape))
    if not keepdims:
        g = np.expand_dims(g, axis)
    return g


class Sum(Function):
    def forward(self, a, axis=None, keepdims=False):
        self.shape, self.axis, self.keepdims = a.shape, axis, keepdims
        return np.asarray(np.sum(a, axis=axis, keepdims=keepdims))

    def backward(self, g):
        return np.broadcast_to(_expand_reduced(g, self.shape, self.axis, self.keepdims), self.shape)


class Mean(Function):
    def forward(self, a, axis=None, keepdims=False):
        self.shape, self.axis, self.keepdims = a.shape, axis, keepdims
        self.count = a.size if axis is None else int(np.prod([a.shape[i] for i in axis]))
        return np.asarray(np.mean(a, axis=axis, keepdims=keepdims))

    def backward(self, g):
        g = _expand_reduced(g, self.shape, self.axis, self.keepdims) / self.count
        return np.broadcast_to(g, self.shape)


class Extremum(Function):
    """max/min over axes; the gradient is shared equally among tied extreme elements."""

    def forward(self, a, axis=None, keepdims=False, mode="max"):
        reduce = np.max if mode == "max" else np.min
        out = np.asarray(reduce(a, axis=axis, keepdims=True))
        self.mask = a == out
        self.axis, self.keepdims, self.shape = axis, keepdims, a.shape
        return out if keepdims else (out.reshape(()) if axis is None else np.squeeze(out, axis))

    def backward(self, g):
        g = _expand_reduced(g, self.shape, self.axis, self.keepdims)
        count = self.mask.sum(axis=self.axis, keepdims=True)
        return self.mask * (g / count)


class Var(Function):
    """Variance with ``correction`` (1 = unbiased, PyTorch's default; 0 = population)."""

    def forward(self, a, axis=None, keepdims=False, correction=1):
        n = a.size if axis is None else int(np.prod([a.shape[i] for i in axis]))
        self.centered = a - a.mean(axis=axis, keepdims=True)
        self.denom = builtins.max(n - correction, 0)
        self.axis, self.keepdims, self.shape = axis, keepdims, a.shape
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(np.sum(self.centered ** 2, axis=axis, keepdims=keepdims) / self.denom)

    def backward(self, g):
        g = _expand_reduced(g, self.shape, self.axis, self.keepdims)
        return g * (2.0 / self.denom) * self.centered


# ------------------------------------------------------------------------------ comparisons (no gradient)


class Compare(Function):
    differentiable = False

    def forward(self, a, b, op):
        return op(a, b)


# ------------------------------------------------------------------------------ public functions


def _axis_kwargs(ndim, axis, keepdims, dim, keepdim):
    if dim is not None:
        axis = dim
    if keepdim is not None:
        keepdims = keepdim
    return _norm_axis(axis, ndim), bool(keepdims)


def add(a, b):
    return Add.apply(a, b)


def sub(a, b):
    return Sub.apply(a, b)


def mul(a, b):
    return Mul.apply(a, b)


def div(a, b):
    return Div.apply(a, b)


def pow(a, b):  # noqa: A001 - mirrors torch.pow
    return Pow.apply(a, b)


def neg(a):
    return Neg.apply(a)


def exp(a):
    return Exp.apply(a)


def log(a):
    return Log.apply(a)


def sqrt(a):
    return Sqrt.apply(a)


def abs(a):  # noqa: A001 - mirrors torch.abs
    return Abs.apply(a)


def clip(a, min=None, max=None):  # noqa: A002 - PyTorch's names
    if min is None and max is None:
        raise InputError("clip: at least one of min and max must be given")
    return Clip.apply(a, lo=min, hi=max)


clamp = clip


def matmul(a, b):
    for name, t in (("first", a), ("second", b)):
        if getattr(t, "ndim", 1) == 0:
            raise InputError(f"matmul: the {name} operand is a scalar; matmul needs at least 1-D operands")
    sa, sb = np.shape(a.data if isinstance(a, Tensor) else a), np.shape(b.data if isinstance(b, Tensor) else b)
    ka = sa[-1]
    kb = sb[0] if len(sb) == 1 else sb[-2]
    if ka != kb:
        raise InputError(f"matmul: inner dimensions differ: {sa} @ {sb} ({ka} != {kb})")
    return MatMul.apply(a, b)


def sum(a, axis=None, keepdims=False, *, dim=None, keepdim=None):  # noqa: A001
    axis, keepdims = _axis_kwargs(a.ndim, axis, keepdims, dim, keepdim)
    return Sum.apply(a, axis=axis, keepdims=keepdims)


def mean(a, axis=None, keepdims=False, *, dim=None, keepdim=None):
    axis, keepdims = _axis_kwargs(a.ndim, axis, keepdims, dim, keepdim)
    return Mean.apply(a, axis=axis, keepdims=keepdims)


def max(a, axis=None, keepdims=False, *, dim=None, keepdim=None):  # noqa: A001
    axis, keepdims = _axis_kwargs(a.ndim, axis, keepdims, dim, keepdim)
    return Extremum.apply(a, axis=axis, keepdims=keepdims, mode="max")


def min(a, axis=None, keepdims=False, *, dim=None, keepdim=None):  # noqa: A001
    axis, keepdims = _axis_kwargs(a.ndim, axis, keepdims, dim, keepdim)
    return Extremum.apply(a, axis=axis, keepdims=keepdims, mode="min")


def var(a, axis=None, keepdims=False, correction=1, *, dim=None, keepdim=None, unbiased=None):
    axis, keepdims = _axis_kwargs(a.ndim, axis, keepdims, dim, keepdim)
    if unbiased is not None:
        correction = 1 if unbiased else 0
    return Var.apply(a, axis=axis, keepdims=keepdims, correction=correction)


def std(a, axis=None, keepdims=False, correction=1, *, dim=None, keepdim=None, unbiased=None):
    return sqrt(var(a, axis, keepdims, correction, dim=dim, keepdim=keepdim, unbiased=unbiased))


def argmax(a, axis=None, keepdims=False, *, dim=None, keepdim=None):
    axis = dim if dim is not None else axis
    keepdims = keepdim if keepdim is not None else keepdims
    return Tensor._wrap(np.asarray(np.argmax(a.data, axis=axis, keepdims=keepdims)).astype(np.int64))


def argmin(a, axis=None, keepdims=False, *, dim=None, keepdim=None):
    axis = dim if dim is not None else axis
    keepdims = keepdim if keepdim is not None else keepdims
    return Tensor._wrap(np.asarray(np.argmin(a.data, axis=axis, keepdims=keepdims)).astype(np.int64))


def _binary(fn, reflected=False):
    if reflected:
        return lambda self, other: fn(other, self)
    return lambda self, other: fn(self, other)


def _compare(op):
    return lambda self, other: Compare.apply(self, other, op=op)


def attach_tensor_methods(cls) -> None:
    """Give Tensor its arithmetic operators and math methods."""
    cls.__add__ = _binary(add)
    cls.__radd__ = _binary(add, True)
    cls.__sub__ = _binary(sub)
    cls.__rsub__ = _binary(sub, True)
    cls.__mul__ = _binary(mul)
    cls.__rmul__ = _binary(mul, True)
    cls.__truediv__ = _binary(div)
    cls.__rtruediv__ = _binary(div, True)
    cls.__pow__ = _binary(pow)
    cls.__rpow__ = _binary(pow, True)
    cls.__matmul__ = _binary(matmul)
    cls.__rmatmul__ = _binary(matmul, True)
    cls.__neg__ = neg
    cls.__pos__ = lambda self: self
    cls.__abs__ = abs
    cls.__lt__ = _compare(np.less)
    cls.__le__ = _compare(np.less_equal)
    cls.__gt__ = _compare(np.greater)
    cls.__ge__ = _compare(np.greater_equal)
    cls.__eq__ = _compare(np.equal)
    cls.__ne__ = _compare(np.not_equal)
    cls.__hash__ = object.__hash__
    for fn in (exp, log, sqrt, abs, clip, clamp, matmul, sum, mean, max, min, var, std, argmax, argmin,
               pow, neg):
        setattr(cls, fn.__name__, fn)
    cls.clamp = clip


__all__ = ["add", "sub", "mul", "div", "pow", "neg", "exp", "log", "sqrt", "abs", "clip", "clamp", "matmul",
           "sum", "mean", "max", "min", "var", "std", "argmax", "argmin"]
