"""Small argument checks shared by the layers."""

from __future__ import annotations

import numpy as np

from ..errors import InputError, InputTypeError


def factory_dtype(name: str, dtype, device) -> np.dtype:
    """The parameter dtype for a layer's ``dtype=``/``device=`` arguments (float32 by default, CPU only)."""
    if device is not None and str(device).split(":")[0] != "cpu":
        raise InputError(f"{name}: only the 'cpu' device exists, got {device!r}")
    dt = np.dtype(np.float32 if dtype is None else dtype)
    if dt.kind != "f":
        raise InputTypeError(f"{name}: parameters must have a floating-point dtype, got {dt}")
    return dt


def positive_int(name: str, what: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise InputError(f"{name}: {what} must be a positive int, got {value!r}")
    return int(value)


def non_negative_int(name: str, what: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise InputError(f"{name}: {what} must be a non-negative int, got {value!r}")
    return int(value)
