"""Padding of an array's axes, PyTorch semantics: constant, reflect, replicate and circular.

``widths`` holds one (before, after) pair per axis of the array (0, 0 for an axis left alone). Along one axis of
size n, output position j (0 <= j < n + before + after) reads the input at p = j - before, mapped by the mode:

    constant:   p if 0 <= p < n, else the fill value
    reflect:    -p if p < 0, 2(n - 1) - p if p >= n  (the edge is not repeated; PyTorch needs before, after < n)
    replicate:  clip(p, 0, n - 1)
    circular:   the axis is cropped first (negative widths), then wrapped: with the kept run [s, s + m),
                s = max(-before, 0), m = n + min(before, 0) + min(after, 0), position j reads
                s + (j - max(before, 0)) mod m  (PyTorch copies the wrap from its cropped output; needs widths <= m)

A negative width crops (for constant, reflect and replicate the result equals padding the positive widths and
then cropping the negative ones). Each mode is separable: the kept input is copied once into the centre of the
result and each padded axis then fills its edges from the centre; the backward pass is the adjoint (each input
element receives the sum of the output gradients that read it): edges are added onto the centre, axes in reverse
order. Where an edge reads an element that cropping removed (reflect with a negative width on the other side), that
axis is a gather and its adjoint a sorted segment sum instead.

Layout: results (and gradients) keep the memory order of the array they come from — a channels-last input gives
a channels-last result — because the gathers run on the array seen in its memory order.
The ``*_reference`` functions are plain loops over every output element.
"""

from __future__ import annotations

import itertools

import numpy as np

from .elementwise import full_in_memory_order, memory_order

__all__ = ["MODES", "source_index", "padded_shape", "pad", "pad_backward", "pad_reference",
           "pad_backward_reference"]

MODES = ("constant", "reflect", "replicate", "circular")


def padded_shape(shape, widths) -> tuple[int, ...]:
    """The shape after padding (may hold negative sizes: callers turn those into errors)."""
    return tuple(n + b + e for n, (b, e) in zip(shape, widths, strict=True))


def source_index(n: int, before: int, after: int, mode: str) -> np.ndarray:
    """Input index read by each output position along one axis (int64; -1 where constant mode fills)."""
    j = np.arange(n + before + after, dtype=np.int64)
    if mode == "circular":
        start, kept = max(-before, 0), n + min(before, 0) + min(after, 0)
        return start + (j - max(before, 0)) % max(kept, 1)
    p = j - before
    if mode == "constant":
        return np.where((p >= 0) & (p < n), p, -1)
    if mode == "reflect":
        return np.where(p < 0, -p, np.where(p >= n, 2 * (n - 1) - p, p))
    if mode == "replicate":
        return np.clip(p, 0, n - 1)
    raise ValueError(f"unknown padding mode {mode!r}")


def _in_memory_order(a: np.ndarray):
    """(a seen with its axes in memory order, the permutation that undoes it, the memory order)."""
    order = memory_order(a)
    return a.transpose(order), np.argsort(order), order


def _kept(n: int, before: int, after: int) -> tuple[slice, slice]:
    """(input slice, output slice) of the elements a constant pad keeps in place."""
    lo, hi = max(-before, 0), n - max(-after, 0)
    start = max(before, 0)
    return slice(lo, hi), slice(start, start + max(hi - lo, 0))


class _Axis:
    """How one padded axis is filled: the kept input run [lo, lo + length) lands at output [start, start + length)
    (the centre); every other output position (an edge) copies the centre position holding its source."""

    def __init__(self, n: int, before: int, after: int, mode: str):
        self.index = source_index(n, before, after, mode)
        self.lo, self.start = max(-before, 0), max(before, 0)
        self.length = max(n - max(-after, 0) - self.lo, 0)
        j = np.arange(self.index.size)
        edge = (j < self.start) | (j >= self.start + self.length)
        self.edges = j[edge]
        src = self.index[edge]
        # an edge may read an input element that a negative width cropped away (reflect/replicate): no centre copy
        self.in_centre = bool(np.all((src >= self.lo) & (src < self.lo + self.length)))
        self.sources = src - self.lo + self.start

    @property
    def centre(self) -> slice:
        return slice(self.start, self.start + self.length)


def _along(ndim: int, axis: int, index) -> tuple:
    where = [slice(None)] * ndim
    where[axis] = index
    return tuple(where)


def pad(x: np.ndarray, widths, mode: str = "constant", value: float = 0.0) -> np.ndarray:
    """``x`` padded by ``widths`` ((before, after) per axis) in ``mode``; the result keeps x's memory order.

    The kept input is copied once into the centre of the result, then each padded axis fills its edges from the
    centre (whole slabs, so corners come out right); where an edge would read a cropped-away element the axis is
    a gather instead."""
    shape = padded_shape(x.shape, widths)
    if mode == "constant":
        kept = [_kept(n, b, e) for n, (b, e) in zip(x.shape, widths, strict=True)]
        out = full_in_memory_order(shape, value, x.dtype, memory_order(x))
        out[tuple(k[1] for k in kept)] = x[tuple(k[0] for k in kept)]
        return out
    xt, undo, order = _in_memory_order(x)
    axes = [(t, _Axis(x.shape[a], *widths[a], mode)) for t, a in enumerate(order) if widths[a] != (0, 0)]
    if not all(ax.in_centre for _, ax in axes):
        return _gather_pad(xt, axes).transpose(undo)
    plan = dict(axes)
    out = np.empty([shape[a] for a in order], dtype=x.dtype)
    out[tuple(plan[t].centre if t in plan else slice(None) for t in range(xt.ndim))] = xt[tuple(
        slice(plan[t].lo, plan[t].lo + plan[t].length) if t in plan else slice(None) for t in range(xt.ndim))]
    for t, ax in axes:
        if ax.edges.size:
            out[_along(out.ndim, t, ax.edges)] = out[_along(out.ndim, t, ax.sources)]
    return out.transpose(undo)


def _gather_pad(xt: np.ndarray, axes) -> np.ndarray:
    """Padding as one gather per padded axis (any index map)."""
    out = xt
    for t, ax in axes:
        out = np.take(out, ax.index, axis=t)
    return out.copy() if out is xt else out


def _gather_adjoint(g: np.ndarray, index: np.ndarray, size: int, axis: int) -> np.ndarray:
    """The adjoint of ``np.take(x, index, axis)`` for x of length ``size`` along ``axis``: out[k] is the sum of
    g[j] over the positions j with index[j] == k (zero where none)."""
    shape = list(g.shape)
    shape[axis] = size
    out = np.zeros(shape, dtype=g.dtype)
    if index.size == 0 or g.size == 0:
        return out
    order = np.argsort(index, kind="stable")
    targets = index[order]
    starts = np.flatnonzero(np.r_[True, targets[1:] != targets[:-1]])
    out[_along(g.ndim, axis, targets[starts])] = np.add.reduceat(np.take(g, order, axis=axis), starts, axis=axis)
    return out


def pad_backward(g: np.ndarray, input_shape, widths, mode: str = "constant", order=None) -> np.ndarray:
    """The gradient of :func:`pad` with respect to its input, whose memory runs in ``order`` (see
    :func:`~.elementwise.memory_order`; default: g's) -- pass the padded input's order to give the gradient its
    layout. A constant pad without cropping returns a view of ``g`` (no copy), in g's layout.

    The adjoint of :func:`pad`: the axes in reverse order add each edge slab onto the centre slab it was copied
    from, then the centre is the gradient (or, where the forward gathered, sums per source index)."""
    order = memory_order(g) if order is None else tuple(order)
    if mode == "constant":
        kept = [_kept(n, b, e) for n, (b, e) in zip(input_shape, widths, strict=True)]
        if all(b >= 0 and e >= 0 for b, e in widths):  # nothing cropped: the gradient is a view of g
            return g[tuple(k[1] for k in kept)]
        grad = full_in_memory_order(tuple(input_shape), 0, g.dtype, order)
        grad[tuple(k[0] for k in kept)] = g[tuple(k[1] for k in kept)]
        return grad
    gt, undo = g.transpose(order), np.argsort(order)
    axes = [(t, _Axis(input_shape[a], *widths[a], mode)) for t, a in enumerate(order) if widths[a] != (0, 0)]
    if not all(ax.in_centre for _, ax in axes):
        grad = gt
        for t, ax in reversed(axes):
            grad = _gather_adjoint(grad, ax.index, input_shape[order[t]], t)
        return (grad.copy() if grad is gt else grad).transpose(undo)
    work = np.array(gt, order="C")  # a copy in the input's memory order, summed into in place
    for t, ax in reversed(axes):
        for j, src in zip(ax.edges.tolist(), ax.sources.tolist(), strict=True):
            work[_along(work.ndim, t, src)] += work[_along(work.ndim, t, j)]
    plan = dict(axes)
    centre = work[tuple(plan[t].centre if t in plan else slice(None) for t in range(work.ndim))]
    shape_t = tuple(input_shape[a] for a in order)
    if centre.shape == shape_t:
        return np.ascontiguousarray(centre).transpose(undo)
    grad = np.zeros(shape_t, dtype=g.dtype)  # cropped-away elements get no gradient
    grad[tuple(slice(plan[t].lo, plan[t].lo + plan[t].length) if t in plan else slice(None)
               for t in range(work.ndim))] = centre
    return grad.transpose(undo)


# ------------------------------------------------------------------------------ loop references


def _reference_index(j: int, n: int, before: int, after: int, mode: str) -> int:
    """The rule of the module docstring for one position (-1: constant fill)."""
    if mode == "circular":
        start, kept = max(-before, 0), n + min(before, 0) + min(after, 0)
        q = j - max(before, 0)
        while q < 0:
            q += kept
        while q >= kept:
            q -= kept
        return start + q
    p = j - before
    if 0 <= p < n:
        return p
    if mode == "constant":
        return -1
    if mode == "replicate":
        return 0 if p < 0 else n - 1
    return -p if p < 0 else 2 * (n - 1) - p  # reflect


def _reference_sources(shape, widths, mode):
    out_shape = padded_shape(shape, widths)
    for out_index in itertools.product(*(range(m) for m in out_shape)):
        src = tuple(_reference_index(j, n, b, e, mode) for j, n, (b, e) in zip(out_index, shape, widths,
                                                                                strict=True))
        yield out_index, (None if -1 in src else src)


def pad_reference(x: np.ndarray, widths, mode: str = "constant", value: float = 0.0) -> np.ndarray:
    out = np.empty(padded_shape(x.shape, widths), dtype=x.dtype)
    for out_index, src in _reference_sources(x.shape, widths, mode):
        out[out_index] = value if src is None else x[src]
    return out


def pad_backward_reference(g: np.ndarray, input_shape, widths, mode: str = "constant") -> np.ndarray:
    grad = np.zeros(input_shape, dtype=g.dtype)
    for out_index, src in _reference_sources(tuple(input_shape), widths, mode):
        if src is not None:
            grad[src] += g[out_index]
    return grad
