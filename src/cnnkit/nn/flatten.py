"""``Flatten`` and ``Unflatten``."""

from __future__ import annotations

from .. import functional as F
from ..errors import InputError, InputTypeError
from .module import Module

__all__ = ["Flatten", "Unflatten"]


class Flatten(Module):
    """Merge dimensions ``start_dim`` .. ``end_dim`` into one (by default all but the batch dimension)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input):
        nd = input.ndim
        for what, d in (("start_dim", self.start_dim), ("end_dim", self.end_dim)):
            if not -max(nd, 1) <= d < max(nd, 1):
                raise IndexError(f"Flatten: {what}={d} is out of range for a {nd}-D input of shape {input.shape}")
        if self.start_dim % max(nd, 1) > self.end_dim % max(nd, 1):
            raise InputError(f"Flatten: start_dim ({self.start_dim}) cannot come after end_dim ({self.end_dim})")
        return F.flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dimension ``dim`` into ``unflattened_size`` (which may hold one -1)."""

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        if not isinstance(unflattened_size, (tuple, list)) or not all(
                isinstance(s, int) and not isinstance(s, bool) for s in unflattened_size):
            raise InputTypeError(f"Unflatten: unflattened_size must be a tuple or list of ints, got "
                                 f"{unflattened_size!r}")
        self.dim = dim
        self.unflattened_size = tuple(unflattened_size)

    def forward(self, input):
        shape = input.shape
        if not -len(shape) <= self.dim < len(shape):
            raise IndexError(f"Unflatten: dim={self.dim} is out of range for an input of shape {shape}")
        d = self.dim % len(shape)
        return F.reshape(input, shape[:d] + self.unflattened_size + shape[d + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
