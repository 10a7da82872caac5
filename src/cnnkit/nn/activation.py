"""Activation layers. ``inplace=True`` is accepted for PyTorch compatibility and ignored: every op here
returns a new tensor (autograd needs the input intact)."""

from __future__ import annotations

import warnings

from .. import functional as F
from ..errors import InputError
from .module import Module
from .utils import fusion as _fusion

__all__ = ["ReLU", "ReLU6", "LeakyReLU", "Sigmoid", "Tanh", "ELU", "GELU", "Softmax", "LogSoftmax"]


def _inplace(inplace: bool, first: bool) -> str:
    if not inplace:
        return ""
    return "inplace=True" if first else ", inplace=True"


class ReLU(Module):
    """max(0, x). ``inplace`` is accepted and ignored (the result is always a new tensor)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        if isinstance(input, _fusion.PendingConv):  # a post-op of the pending convolution
            fused = input.with_relu()
            if fused is not None:
                return fused
        return F.relu(input)

    def extra_repr(self) -> str:
        return _inplace(self.inplace, True)


class ReLU6(Module):
    """min(max(0, x), 6). ``inplace`` is accepted and ignored."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return F.relu6(input)

    def extra_repr(self) -> str:
        return _inplace(self.inplace, True)


class LeakyReLU(Module):
    """x if x >= 0 else negative_slope * x. ``inplace`` is accepted and ignored."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input):
        return F.leaky_relu(input, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + _inplace(self.inplace, False)


class Sigmoid(Module):
    """1 / (1 + exp(-x))."""

    def forward(self, input):
        return F.sigmoid(input)


class Tanh(Module):
    """Hyperbolic tangent."""

    def forward(self, input):
        return F.tanh(input)


class ELU(Module):
    """x if x > 0 else alpha * (exp(x) - 1). ``inplace`` is accepted and ignored."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input):
        return F.elu(input, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + _inplace(self.inplace, False)


class GELU(Module):
    """Gaussian error linear unit; ``approximate`` is 'none' (erf) or 'tanh'."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise InputError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, input):
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


def _implicit_dim(name: str, ndim: int) -> int:
    """PyTorch's legacy choice when ``dim`` is None: 0 for 0-, 1- and 3-D input, else 1 (with a warning)."""
    warnings.warn(f"{name}: implicit dimension choice is deprecated; pass dim= explicitly", stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


class Softmax(Module):
    """Softmax along ``dim``."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        dim = self.dim if self.dim is not None else _implicit_dim("Softmax", input.ndim)
        return F.softmax(input, dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log(softmax(x)) along ``dim``, computed stably."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        dim = self.dim if self.dim is not None else _implicit_dim("LogSoftmax", input.ndim)
        return F.log_softmax(input, dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
