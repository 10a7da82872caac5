"""Elementwise kernels over the memory of dense arrays, split over the worker threads.

An elementwise op does not care about the order of the elements, only that its operands agree: an array whose
memory is dense in any axis order (C order, channels-last, ...) is walked as the flat run of its memory, and
the result gets the same layout (``np.empty_like``). Operands of different layouts, or too small to be worth
the threads, take the plain NumPy expression, which is also the reference the compiled loop is tested against.

    relu:           y = max(x, 0)                  (NaN stays NaN)
    relu_backward:  dx = g where y > 0, else 0
    add:            a + b                          (same shape and dtype; the autograd engine sums gradients)
"""

from __future__ import annotations

import numpy as np

from . import _parallel
from ._numba import njit

__all__ = ["memory_order", "full_in_memory_order",
           "flat_memory", "relu", "relu_backward", "relu_reference", "relu_backward_reference", "add"]

PARALLEL_MIN_SIZE = 1 << 18  # elements below which NumPy on the calling thread is as fast


def memory_order(a: np.ndarray) -> tuple[int, ...]:
    """Axes from the largest stride to the smallest: the order in which ``a``'s memory runs
    ((0, 1, 2, 3) for a C-ordered NCHW array, (0, 2, 3, 1) for a channels-last one or a strided view of one)."""
    return tuple(sorted(range(a.ndim), key=lambda ax: -abs(a.strides[ax])))


def full_in_memory_order(shape, fill_value, dtype, order: tuple[int, ...]) -> np.ndarray:
    """A new array of ``shape`` filled with ``fill_value`` whose memory runs in ``order`` (see
    :func:`memory_order`): so a result can keep the layout of the array it came from."""
    if order == tuple(range(len(shape))):
        return np.full(shape, fill_value, dtype=dtype)
    dense = np.full([shape[ax] for ax in order], fill_value, dtype=dtype)
    return dense.transpose(np.argsort(order))


def flat_memory(*arrays: np.ndarray) -> list[np.ndarray] | None:
    """1-D views of the memory of same-shaped dense arrays that share one layout, or None if they do not."""
    order = memory_order(arrays[0])
    flats = []
    for a in arrays:
        t = a.transpose(order)
        if not t.flags.c_contiguous:
            return None
        flats.append(t.reshape(-1))
    return flats


def _parts(size: int) -> list[tuple[int, int]]:
    return _parallel.split(size, _parallel.get_num_threads())


@njit
def _relu_kernel(x, out):
    """out[i] = 0 if x[i] < 0 else x[i]."""
    for i in range(np.uint64(x.size)):
        v = x[i]
        out[i] = 0 if v < 0 else v


@njit
def _relu_backward_kernel(g, y, out):
    """out[i] = g[i] if y[i] > 0 else 0."""
    for i in range(np.uint64(g.size)):
        out[i] = g[i] if y[i] > 0 else 0


@njit
def _add_kernel(a, b, out):
    """out[i] = a[i] + b[i]."""
    for i in range(np.uint64(a.size)):
        out[i] = a[i] + b[i]


def relu_reference(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


def relu_backward_reference(g: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.multiply(g, y > 0)


def relu(x: np.ndarray) -> np.ndarray:
    """max(x, 0) in x's layout and dtype."""
    if x.size < PARALLEL_MIN_SIZE or x.dtype.kind != "f":
        return relu_reference(x)
    y = np.empty_like(x)
    flats = flat_memory(x, y)
    if flats is None:
        return relu_reference(x)
    xf, yf = flats
    parts = _parts(xf.size)
    _parallel.run(lambda k: _relu_kernel(xf[parts[k][0]:parts[k][1]], yf[parts[k][0]:parts[k][1]]), len(parts))
    return y


def relu_backward(g: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The gradient of relu given its output ``y``: g where y > 0, else 0."""
    if g.size < PARALLEL_MIN_SIZE or g.dtype != y.dtype or g.shape != y.shape:
        return relu_backward_reference(g, y)
    out = np.empty_like(y)
    flats = flat_memory(g, y, out)
    if flats is None:  # g in another layout: bring it to y's (one copy) and mask it there
        np.copyto(out, g)
        flats = flat_memory(out, y, out)
        if flats is None:
            return relu_backward_reference(g, y)
    gf, yf, of = flats
    parts = _parts(gf.size)
    _parallel.run(lambda k: _relu_backward_kernel(*(a[parts[k][0]:parts[k][1]] for a in (gf, yf, of))), len(parts))
    return out


def add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a + b for arrays of one shape and dtype, in a's layout (b is brought to it when they differ)."""
    if a.size < PARALLEL_MIN_SIZE or a.shape != b.shape or a.dtype != b.dtype or a.dtype.kind != "f":
        return a + b
    out = np.empty_like(a)
    flats = flat_memory(a, b, out)
    if flats is None:
        np.copyto(out, b)
        flats = flat_memory(a, out, out)
        if flats is None:
            return a + b
    af, bf, of = flats
    parts = _parts(af.size)
    _parallel.run(lambda k: _add_kernel(*(v[parts[k][0]:parts[k][1]] for v in (af, bf, of))), len(parts))
    return out
