"""Activations: sigmoid, tanh, relu, relu6, leaky_relu, elu, gelu, softmax, log_softmax.

Each keeps the input's floating dtype. ``inplace`` arguments are accepted for PyTorch compatibility, but the
result is always a new tensor (the input is left unchanged), so ``x = F.relu(x, inplace=True)`` works as usual.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ..autograd import Function, _to_dtype
from ..errors import InputError, InputTypeError
from ..kernels import softmax as _softmax_kernels
from ..kernels.backend import kernels_for
from . import _checks

# ------------------------------------------------------------------------------ erf (for the exact GELU)

_erf_ufunc = None


def _build_erf():
    """A vectorised erf: a Numba ufunc over the C library's erf (cached where a writable cache folder exists)."""
    from ..kernels._numba import setup

    numba = setup()  # Numba with a writable cache folder

    def erf(v):
        return math.erf(v)

    signatures = ["float32(float32)", "float64(float64)"]
    try:
        return numba.vectorize(signatures, cache=True)(erf)
    except Exception:  # no writable cache location: compile without caching
        return numba.vectorize(signatures)(erf)


def erf(x: np.ndarray) -> np.ndarray:
    """Elementwise error function of a float array (same dtype, as accurate as the C library's erf)."""
    global _erf_ufunc
    if _erf_ufunc is None:
        _erf_ufunc = _build_erf()
    if x.dtype not in (np.float32, np.float64):
        return _erf_ufunc(x.astype(np.float64)).astype(x.dtype)
    return _erf_ufunc(x)


# ------------------------------------------------------------------------------ Functions


class Sigmoid(Function):
    """sigmoid(x) = 1 / (1 + exp(-x)), computed from exp(-|x|) so it never overflows; d/dx = y (1 - y)."""

    def forward(self, x):
        e = np.abs(x)
        np.negative(e, out=e)
        np.exp(e, out=e)
        y = e + 1
        np.divide(e, y, out=y)  # sigmoid(-|x|)
        np.subtract(1, y, out=y, where=x >= 0)
        self.y = y
        return y

    def backward(self, g):
        y = self.y
        d = 1 - y
        d *= y
        d *= g
        return d


class Tanh(Function):
    """tanh(x); d/dx = 1 - y^2."""

    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, g):
        d = self.y * self.y
        np.subtract(1, d, out=d)
        d *= g
        return d


class ReLU(Function):
    """max(x, 0); the gradient is 1 where x > 0 and 0 elsewhere (0 at x == 0, as PyTorch)."""

    def forward(self, x):
        if x.size == 0:  # an empty array never reaches a backend's kernels
            self.kernels = None
            return x.copy()
        self.kernels = kernels_for("relu", x.dtype)
        self.y = self.kernels.relu_forward(x)
        return self.y

    def backward(self, g):
        if self.kernels is None:
            return np.zeros_like(g)
        return self.kernels.relu_backward(g, self.y)


class Hardtanh(Function):
    """clip(x, min_val, max_val); the gradient is 1 strictly inside (min_val, max_val). relu6 = hardtanh(0, 6)."""

    def forward(self, x, min_val=-1.0, max_val=1.0):
        self.x, self.lo, self.hi = x, min_val, max_val
        return np.clip(x, min_val, max_val)

    def backward(self, g):
        inside = self.x > self.lo
        inside &= self.x < self.hi
        return np.multiply(g, inside)


class LeakyReLU(Function):
    """x where x > 0, negative_slope * x elsewhere."""

    def forward(self, x, negative_slope=0.01):
        self.positive, self.slope = x > 0, negative_slope
        return np.where(self.positive, x, x * negative_slope)

    def backward(self, g):
        return np.where(self.positive, g, g * self.slope)


class ELU(Function):
    """x where x > 0, alpha (exp(x) - 1) elsewhere; d/dx = 1 or alpha exp(x) = y + alpha."""

    def forward(self, x, alpha=1.0):
        self.positive, self.alpha = x > 0, alpha
        neg = np.minimum(x, 0)
        np.expm1(neg, out=neg)
        neg *= alpha
        self.y = np.where(self.positive, x, neg)
        return self.y

    def backward(self, g):
        d = self.y + self.alpha
        np.multiply(d, g, out=d)
        return np.where(self.positive, g, d)


_SQRT1_2 = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_PI = math.sqrt(2.0 / math.pi)
_GELU_C = 0.044715


class GELU(Function):
    """x * Phi(x), Phi the standard normal CDF: 0.5 x (1 + erf(x / sqrt(2))); d/dx = Phi(x) + x phi(x).

    approximate='tanh': 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3).
    """

    def forward(self, x, approximate="none"):
        self.x, self.approximate = x, approximate
        if approximate == "tanh":
            u = x * x
            u *= _GELU_C
            u += 1
            u *= x
            u *= _SQRT_2_PI
            np.tanh(u, out=u)
            self.t = u
            y = u + 1
        else:
            cdf = erf(x * _SQRT1_2)
            cdf += 1
            cdf *= 0.5
            self.cdf = cdf
            return x * cdf
        y *= x
        y *= 0.5
        return y

    def backward(self, g):
        x = self.x
        if self.approximate == "tanh":
            t = self.t
            # 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3c x^2)
            d = x * x
            d *= 3 * _GELU_C
            d += 1
            d *= x
            d *= _SQRT_2_PI
            s = t * t
            np.subtract(1, s, out=s)
            d *= s
            d += t
            d += 1
            d *= 0.5
        else:
            d = x * x
            d *= -0.5
            np.exp(d, out=d)
            d *= x
            d *= _INV_SQRT_2PI
            d += self.cdf
        d *= g
        return d


class Softmax(Function):
    """y_i = exp(x_i) / sum_j exp(x_j) along ``dim`` (max-shifted); dx = y (g - sum(g y))."""

    def forward(self, x, dim):
        self.dim = dim
        self.y = _softmax_kernels.softmax(x, dim)
        return self.y

    def backward(self, g):
        y = self.y
        s = np.sum(g * y, axis=self.dim, keepdims=True)
        d = g - s
        d *= y
        return d


class LogSoftmax(Function):
    """y_i = x_i - log sum_j exp(x_j) along ``dim`` (max-shifted); dx = g - exp(y) sum(g)."""

    def forward(self, x, dim):
        self.dim = dim
        self.y = _softmax_kernels.log_softmax(x, dim)
        return self.y

    def backward(self, g):
        d = np.exp(self.y)
        d *= np.sum(g, axis=self.dim, keepdims=True)
        np.subtract(g, d, out=d)
        return d


# ------------------------------------------------------------------------------ public functions


def sigmoid(input):  # noqa: A002 - PyTorch's name
    """1 / (1 + exp(-x)), stable for any x."""
    _checks.float_array("sigmoid", input)
    return Sigmoid.apply(input)


def tanh(input):  # noqa: A002
    """Hyperbolic tangent."""
    _checks.float_array("tanh", input)
    return Tanh.apply(input)


def relu(input, inplace: bool = False):  # noqa: A002
    """max(x, 0)."""
    _checks.float_array("relu", input)
    return ReLU.apply(input)


def hardtanh(input, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):  # noqa: A002
    """clip(x, min_val, max_val)."""
    _checks.float_array("hardtanh", input)
    lo, hi = _checks.real("hardtanh", "min_val", min_val), _checks.real("hardtanh", "max_val", max_val)
    if lo > hi:
        raise InputError(f"hardtanh: min_val must not exceed max_val, got min_val={min_val}, max_val={max_val}")
    return Hardtanh.apply(input, min_val=lo, max_val=hi)


def relu6(input, inplace: bool = False):  # noqa: A002
    """min(max(x, 0), 6)."""
    _checks.float_array("relu6", input)
    return Hardtanh.apply(input, min_val=0.0, max_val=6.0)


def leaky_relu(input, negative_slope: float = 0.01, inplace: bool = False):  # noqa: A002
    """x if x > 0 else negative_slope * x."""
    _checks.float_array("leaky_relu", input)
    slope = _checks.real("leaky_relu", "negative_slope", negative_slope)
    return LeakyReLU.apply(input, negative_slope=slope)


def elu(input, alpha: float = 1.0, inplace: bool = False):  # noqa: A002
    """x if x > 0 else alpha * (exp(x) - 1)."""
    _checks.float_array("elu", input)
    return ELU.apply(input, alpha=_checks.real("elu", "alpha", alpha))


def gelu(input, approximate: str = "none"):  # noqa: A002
    """x * Phi(x) (exact, with erf) or its tanh approximation (``approximate='tanh'``)."""
    _checks.float_array("gelu", input)
    if approximate not in ("none", "tanh"):
        raise InputError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELU.apply(input, approximate=approximate)


def _softmax_dim(op: str, ndim: int, dim) -> int:
    if dim is None:
        dim = 0 if ndim in (0, 1, 3) else 1
        warnings.warn(f"{op}: implicit dimension choice is deprecated (as in PyTorch); pass dim={dim} explicitly",
                      UserWarning, stacklevel=3)
    dim = _checks.integer(op, "dim", dim)
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise InputError(f"{op}: dim {dim} is out of range for a tensor with {ndim} dimensions "
                         f"(expected {-n}..{n - 1})")
    return int(dim) % n


def _softmax_like(cls, op: str, input, dim, dtype):  # noqa: A002
    _checks.float_array(op, input)
    x = _checks.tensor_arg(op, input)
    dim = _softmax_dim(op, x.ndim, dim)
    if dtype is not None:
        dtype = _to_dtype(dtype)
        if dtype.kind != "f":
            raise InputTypeError(f"{op}: dtype must be a floating-point type, got {dtype}")
        if dtype != x.dtype:
            x = x.astype(dtype)
    if x.ndim == 0:
        return cls.apply(x.reshape(1), dim=0).reshape(())
    return cls.apply(x, dim=dim)


def softmax(input, dim=None, _stacklevel: int = 3, dtype=None):  # noqa: A002
    """exp(x_i) / sum_j exp(x_j) along ``dim`` (negative dims count from the end); stable for any logits.
    ``dtype`` casts the input first."""
    return _softmax_like(Softmax, "softmax", input, dim, dtype)


def log_softmax(input, dim=None, _stacklevel: int = 3, dtype=None):  # noqa: A002
    """x_i - log sum_j exp(x_j) along ``dim``; stable for any logits. ``dtype`` casts the input first."""
    return _softmax_like(LogSoftmax, "log_softmax", input, dim, dtype)


__all__ = ["sigmoid", "tanh", "relu", "relu6", "hardtanh", "leaky_relu", "elu", "gelu", "softmax", "log_softmax"]
