"""Argument checks shared by every differentiable op: one wording, one place.

Every function takes the op's name first and raises :class:`~cnnkit.errors.InputError` (a ``ValueError``) or, for
the type of an argument, :class:`~cnnkit.errors.InputTypeError` (also a ``TypeError``); the message names the op,
what was expected and what was received::

    max_pool2d: expected a Tensor, got list
    batch_norm: running_var must be a Tensor or ndarray, got list
    relu: expected a floating-point input, got dtype int64
    conv2d: stride must be positive, got (0, 1)

The op's main argument is "the input" ("expected a ..."); any other argument is named ("weight must be ...").

Unbatched images. The 2-D image ops (convolution, transposed convolution, pooling) take an (N, C, H, W) batch or
one (C, H, W) image, as PyTorch does. :func:`image_input` checks the input and returns it as a batch plus a flag;
the op then runs on 4-D data only and :func:`unbatch` drops the batch axis again from its result(s). Only the
batch may be empty (N = 0); an image with no channels or no pixels is an error.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..autograd import Tensor, float32, float64
from ..errors import InputError, InputTypeError
from ..kernels.conv_arith import pair as _pair

__all__ = [
    "type_name", "tensor_arg", "array_arg", "check_float", "float_array", "check_same_dtype", "integer", "real",
    "boolean", "pair", "positive_pair", "non_negative_pair", "image_input", "unbatch",
]

EXACT_FLOATS = (float32, float64)


def type_name(value) -> str:
    """The type of ``value`` as a message shows it."""
    return type(value).__name__


def _data(value):
    return value.data if isinstance(value, Tensor) else value


def tensor_arg(op: str, value, name: str = "input") -> Tensor:
    """``value`` as a Tensor (an ndarray is wrapped without a copy); anything else is an InputTypeError."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, np.ndarray):
        return Tensor._wrap(value)
    if name == "input":
        raise InputTypeError(f"{op}: expected a Tensor, got {type_name(value)}")
    raise InputTypeError(f"{op}: {name} must be a Tensor or ndarray, got {type_name(value)}")


def array_arg(op: str, value, name: str = "input") -> np.ndarray:
    """The ndarray behind a Tensor or ndarray argument (same checks as :func:`tensor_arg`)."""
    if isinstance(value, np.ndarray):
        return value
    return tensor_arg(op, value, name).data


def check_float(op: str, value, name: str = "input", *, exact: bool = False, what: str | None = None) -> None:
    """A floating-point array or Tensor; with ``exact``, float32 or float64 (what the compiled kernels run).
    ``what`` describes the input in the message (e.g. "input (logits)")."""
    dtype = _data(value).dtype
    if exact:
        ok, kind = dtype in EXACT_FLOATS, "float32 or float64"
    else:
        ok, kind = dtype.kind == "f", "floating-point"
    if ok:
        return
    if name == "input":
        raise InputTypeError(f"{op}: expected a {kind} {what or 'input'}, got dtype {dtype}")
    raise InputTypeError(f"{op}: {name} must be {'floating point' if not exact else kind}, got dtype {dtype}")


def float_array(op: str, value, name: str = "input", *, exact: bool = False, what: str | None = None) -> np.ndarray:
    """:func:`array_arg` and :func:`check_float` together: the floating-point ndarray behind the argument."""
    a = array_arg(op, value, name)
    check_float(op, a, name, exact=exact, what=what)
    return a


def check_same_dtype(op: str, x, other, name: str) -> None:
    """``other`` (an argument named ``name``) has the input's dtype."""
    a, b = _data(x).dtype, _data(other).dtype
    if a != b:
        raise InputTypeError(f"{op}: input and {name} must have the same dtype, got input {a} and {name} {b}")


def integer(op: str, name: str, value, minimum: int | None = None) -> int:
    """An int (not a bool) at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputTypeError(f"{op}: {name} must be an int, got {value!r}")
    if minimum is not None and value < minimum:
        what = "a positive integer" if minimum == 1 else f"at least {minimum}"
        raise InputError(f"{op}: {name} must be {what}, got {value}")
    return int(value)


def real(op: str, name: str, value) -> float:
    """A real number (not a bool), as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputTypeError(f"{op}: {name} must be a real number, got {value!r}")
    return float(value)


def boolean(op: str, name: str, value) -> bool:
    """A bool (Python or NumPy)."""
    if not isinstance(value, (bool, np.bool_)):
        raise InputTypeError(f"{op}: {name} must be a bool, got {value!r}")
    return bool(value)


def pair(op: str, name: str, value) -> tuple[int, int]:
    """An int or a pair of ints as an (h, w) tuple (:func:`cnnkit.kernels.conv_arith.pair`)."""
    return _pair(value, name, op)


def positive_pair(op: str, name: str, value) -> tuple[int, int]:
    """:func:`pair`, both entries >= 1."""
    p = _pair(value, name, op)
    if min(p) < 1:
        raise InputError(f"{op}: {name} must be positive, got {p}")
    return p


def non_negative_pair(op: str, name: str, value) -> tuple[int, int]:
    """:func:`pair`, both entries >= 0."""
    p = _pair(value, name, op)
    if min(p) < 0:
        raise InputError(f"{op}: {name} must be non-negative, got {p}")
    return p


def image_input(op: str, value, *, exact: bool = False) -> tuple[Tensor, bool]:
    """Check an image op's input, (N, C, H, W) or one unbatched (C, H, W) image, and return it as a batch
    (a (1, C, H, W) view for an unbatched image) with a flag saying whether it was unbatched. N may be 0; C, H and
    W may not."""
    x = tensor_arg(op, value)
    check_float(op, x, exact=exact)
    if x.ndim not in (3, 4):
        raise InputError(f"{op}: expected a 4-D input (N, C, H, W) or a 3-D unbatched input (C, H, W), "
                         f"got shape {x.shape}")
    if 0 in x.shape[-3:]:
        raise InputError(f"{op}: input must have non-empty channel and spatial dimensions (only the batch may be "
                         f"empty), got shape {x.shape}")
    if x.ndim == 3:
        from .shape import reshape  # shape uses these checks too

        return reshape(x, (1,) + x.shape), True
    return x, False


def unbatch(result, unbatched: bool):
    """Drop the batch axis that :func:`image_input` added, from a Tensor or from each Tensor of a tuple."""
    if not unbatched:
        return result
    from .shape import reshape

    if isinstance(result, tuple):
        return tuple(reshape(r, r.shape[1:]) for r in result)
    return reshape(result, result.shape[1:])

