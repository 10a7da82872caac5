"""The one place for convolution and pooling size arithmetic.

Every operator, layer, model and the summary computes output sizes, 'same' padding, adaptive windows and
receptive-field steps through these functions, so the formula lives here and nowhere else (as arithmetic: the
text that writes a formula out for a reader lives in :mod:`cnnkit.analysis`):

    out = (size + 2*padding - dilation*(kernel - 1) - 1) // stride + 1              (floor mode)
    out = ceil((size + 2*padding - dilation*(kernel - 1) - 1) / stride) + 1         (ceil mode, pooling)
    out = (size - 1)*stride - 2*padding + dilation*(kernel - 1) + output_padding + 1  (transposed)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InputTypeError


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def pair(value, name: str = "value", op: str = "op") -> tuple[int, int]:
    """Normalise an int or a 2-sequence of ints (Python or NumPy) to an (h, w) tuple, with a clear error otherwise.

    The one ``_pair`` of the library (PyTorch's ``_pair = _ntuple(2)``): ops, layers, kernels and the summary use
    it."""
    if type(value) is tuple and len(value) == 2 and type(value[0]) is int and type(value[1]) is int:
        return value  # the common case, kept cheap: kernels call this on every op
    if _is_int(value):
        return (int(value), int(value))
    if isinstance(value, (Sequence, np.ndarray)) and np.ndim(value) == 1 and len(value) == 2 and all(
            _is_int(v) for v in value):
        return (int(value[0]), int(value[1]))
    raise InputTypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1,
                     ceil_mode: bool = False) -> int:
    """Output length along one axis: (size + 2p - d(k-1) - 1) // s + 1.

    With ``ceil_mode`` (pooling) the division rounds up, but the last window must start inside the input or
    the left padding (PyTorch's rule), so a window lying wholly in the right padding is dropped.
    """
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    if not ceil_mode:
        return span // stride + 1  # may be <= 0: callers turn that into a clear error
    out = -(-span // stride) + 1
    if (out - 1) * stride >= size + padding:
        out -= 1
    return out


def conv_transpose_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0,
                               output_padding: int = 0, dilation: int = 1) -> int:
    """Output length of a transposed convolution: (size-1)s - 2p + d(k-1) + output_padding + 1."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def same_padding(kernel: int, dilation: int = 1) -> tuple[int, int]:
    """(before, after) padding that keeps the size at stride 1: total d(k-1), the extra one after (as PyTorch)."""
    total = dilation * (kernel - 1)
    return total // 2, total - total // 2


def receptive_field_step(rf: int, jump: int, kernel: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """Receptive field and jump after a layer: rf' = rf + d(k-1)*jump, jump' = jump*s."""
    return rf + dilation * (kernel - 1) * jump, jump * stride


def adaptive_window(size: int, out: int) -> tuple[int, int]:
    """(widest window, stride) of an adaptive pool from ``size`` to ``out`` bins: bin i covers
    [floor(i*size/out), ceil((i+1)*size/out)), and neighbouring bins start floor(size/out) or more apart."""
    if out == size:
        return 1, 1
    widest = max(-(-(i + 1) * size // out) - (i * size // out) for i in range(out))
    return widest, max(1, size // out)
