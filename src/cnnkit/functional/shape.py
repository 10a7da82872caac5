"""Shape and indexing ops: reshape, transpose/permute, indexing, concatenation, stacking, splitting, padding
and where — each moves data without arithmetic, so each backward moves the gradient back."""

from __future__ import annotations

import numpy as np

from ..autograd import Function, Tensor
from ..errors import InputError, InputTypeError
from ..kernels import pad as _pad
from ..kernels.elementwise import full_in_memory_order, memory_order
from . import _checks


class Reshape(Function):
    def forward(self, a, shape):
        self.in_shape = a.shape
        return a.reshape(shape)

    def backward(self, g):
        return g.reshape(self.in_shape)


class Permute(Function):
    def forward(self, a, axes):
        self.axes = axes
        return np.transpose(a, axes)

    def backward(self, g):
        return np.transpose(g, np.argsort(self.axes))


class BroadcastTo(Function):
    def forward(self, a, shape):
        return np.broadcast_to(a, shape)

    def backward(self, g):
        return g  # the engine sums back to the input shape


def _is_advanced(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return any(isinstance(i, (np.ndarray, list)) for i in items)


def _index_arrays(index):
    """Replace Tensor indices by their arrays."""
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index.data if isinstance(index, Tensor) else index


class GetItem(Function):
    """Basic and advanced (integer-array / boolean) indexing; repeated indices accumulate in backward."""

    def forward(self, a, index):
        self.shape, self.index, self.order = a.shape, index, memory_order(a)
        return a[index]

    def backward(self, g):
        grad = full_in_memory_order(self.shape, 0, g.dtype, self.order)  # the input's layout (e.g. channels-last)
        if _is_advanced(self.index):
            np.add.at(grad, self.index, g)
        else:
            grad[self.index] = g
        return grad


class Concat(Function):
    def forward(self, *arrays, axis=0):
        self.axis = axis
        self.bounds = np.cumsum([a.shape[axis] for a in arrays])[:-1]
        return np.concatenate(arrays, axis=axis)

    def backward(self, g):
        return tuple(np.split(g, self.bounds, axis=self.axis))


class Stack(Function):
    def forward(self, *arrays, axis=0):
        self.axis = axis
        return np.stack(arrays, axis=axis)

    def backward(self, g):
        return tuple(np.moveaxis(g, self.axis, 0))


class Pad(Function):
    """Padding of any axes in one of :data:`cnnkit.kernels.pad.MODES`; ``widths`` is NumPy's ((before, after), ...)
    per axis, negative widths crop. The result keeps the input's memory order (a channels-last input gives a
    channels-last result), and so does the gradient."""

    def forward(self, a, widths, mode="constant", value=0.0):
        self.shape, self.widths, self.mode, self.order = a.shape, widths, mode, memory_order(a)
        return _pad.pad(a, widths, mode, value)

    def backward(self, g):
        return _pad.pad_backward(g, self.shape, self.widths, self.mode, self.order)


class Where(Function):
    def forward(self, cond, a, b):
        self.cond = cond
        return np.where(cond, a, b)

    def backward(self, g):
        n = self.needs_input_grad
        return None, (np.where(self.cond, g, 0) if n[1] else None), (np.where(self.cond, 0, g) if n[2] else None)


# ------------------------------------------------------------------------------ public functions


def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def reshape(a, *shape):
    shape = _shape_arg(shape)
    known, n = int(np.prod([s for s in shape if s != -1])), a.data.size
    ok = known == n if -1 not in shape else (shape.count(-1) == 1 and known > 0 and n % known == 0)
    if not ok:
        raise InputError(f"reshape: cannot reshape a tensor of shape {a.shape} ({n} elements) into {shape}")
    return Reshape.apply(a, shape=shape)


view = reshape


def flatten(a, start_dim: int = 0, end_dim: int = -1):
    """Merge dimensions start_dim..end_dim into one."""
    nd = a.ndim
    s, e = start_dim % max(nd, 1), end_dim % max(nd, 1)
    shape = a.shape[:s] + (-1 if a.data.size else int(np.prod(a.shape[s:e + 1])),) + a.shape[e + 1:]
    return Reshape.apply(a, shape=shape)


def permute(a, *axes):
    axes = _shape_arg(axes)
    if sorted(x % a.ndim for x in axes) != list(range(a.ndim)):
        raise InputError(f"permute: {axes} is not a permutation of the {a.ndim} axes of shape {a.shape}")
    return Permute.apply(a, axes=tuple(x % a.ndim for x in axes))


def transpose(a, dim0: int | None = None, dim1: int | None = None):
    """Swap two axes (PyTorch); with no arguments reverse all axes (NumPy's ``.T``)."""
    if dim0 is None:
        return Permute.apply(a, axes=tuple(reversed(range(a.ndim))))
    axes = list(range(a.ndim))
    axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
    return Permute.apply(a, axes=tuple(axes))


def squeeze(a, dim=None):
    if dim is None:
        shape = tuple(s for s in a.shape if s != 1)
    else:
        dims = {d % a.ndim for d in ((dim,) if isinstance(dim, int) else dim)}
        shape = tuple(s for i, s in enumerate(a.shape) if not (i in dims and s == 1))
    return Reshape.apply(a, shape=shape)


def unsqueeze(a, dim: int):
    dim = dim % (a.ndim + 1)
    return Reshape.apply(a, shape=a.shape[:dim] + (1,) + a.shape[dim:])


def expand(a, *shape):
    shape = _shape_arg(shape)
    shape = tuple(a.shape[i - len(shape) + a.ndim] if s == -1 else s for i, s in enumerate(shape))
    return BroadcastTo.apply(a, shape=shape)


def getitem(a, index):
    return GetItem.apply(a, index=_index_arrays(index))


def _check_same_rank(op, tensors, axis, skip_axis=True):
    first = tensors[0].shape
    for i, t in enumerate(tensors[1:], 1):
        bad = len(t.shape) != len(first) or any(
            s != f for d, (s, f) in enumerate(zip(t.shape, first, strict=False)) if not (skip_axis and d == axis))
        if bad:
            raise InputError(f"{op}: tensor {i} has shape {t.shape}, incompatible with tensor 0's {first} "
                             f"along the other axes (axis={axis})")


def cat(tensors, axis: int = 0, *, dim: int | None = None):
    """Concatenate along an existing axis."""
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    if not tensors:
        raise InputError("cat: expected a non-empty sequence of tensors")
    axis = (dim if dim is not None else axis) % tensors[0].ndim
    _check_same_rank("cat", tensors, axis)
    return Concat.apply(*tensors, axis=axis)


concat = concatenate = cat


def stack(tensors, axis: int = 0, *, dim: int | None = None):
    """Stack along a new axis."""
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    if not tensors:
        raise InputError("stack: expected a non-empty sequence of tensors")
    _check_same_rank("stack", tensors, None, skip_axis=False)
    axis = dim if dim is not None else axis
    return Stack.apply(*tensors, axis=axis % (tensors[0].ndim + 1))


def split(a, split_size_or_sections, axis: int = 0, *, dim: int | None = None):
    """Split into pieces of ``split_size`` (last may be smaller) or of the listed sizes (PyTorch)."""
    axis = (dim if dim is not None else axis) % a.ndim
    n = a.shape[axis]
    if isinstance(split_size_or_sections, int):
        if split_size_or_sections <= 0:
            raise InputError(f"split: split_size must be positive, got {split_size_or_sections}")
        sizes = [min(split_size_or_sections, n - s) for s in range(0, n, split_size_or_sections)]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise InputError(f"split: sections {sizes} sum to {sum(sizes)} but axis {axis} has length {n}")
    pieces, start = [], 0
    for size in sizes:
        index = (slice(None),) * axis + (slice(start, start + size),)
        pieces.append(GetItem.apply(a, index=index))
        start += size
    return tuple(pieces)


def chunk(a, chunks: int, axis: int = 0, *, dim: int | None = None):
    """Split into ``chunks`` pieces of size ceil(n / chunks) (PyTorch)."""
    axis = (dim if dim is not None else axis) % a.ndim
    size = -(-a.shape[axis] // chunks)
    return split(a, size, axis)


def _pad_widths(op: str, x: Tensor, pad, mode: str) -> tuple[tuple[int, int], ...]:
    """PyTorch's ``pad`` argument ((left, right) of the last axis, then of the one before, ...) as NumPy widths,
    checked against the rules of ``mode``."""
    if not isinstance(pad, (tuple, list)) or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pad):
        raise InputTypeError(f"{op}: pad must be a tuple of ints, got {pad!r}")
    nd, k = x.ndim, len(pad) // 2
    if len(pad) % 2 or k > nd:
        raise InputError(f"{op}: expected an even number of at most {2 * nd} values, got {len(pad)}")
    widths = [(0, 0)] * nd
    for i in range(k):
        widths[nd - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    if mode != "constant":
        if not 1 <= k <= 3 or nd not in (k + 1, k + 2):
            dims = ", ".join(f"{n}" for n in (2, 4, 6))
            raise InputError(f"{op}: mode {mode!r} pads the last 1, 2 or 3 dimensions ({dims} values) of an "
                             f"unbatched input with one more dimension or a batch with two more; got {len(pad)} "
                             f"values for an input of shape {x.shape}")
        first = 1 if nd == k + 2 else 0  # only a batch axis may be empty
        if mode in ("reflect", "replicate") and 0 in x.shape[first:]:
            raise InputError(f"{op}: mode {mode!r} needs non-empty dimensions (only the batch may be empty), got "
                             f"shape {x.shape}")
    for axis in range(nd - k, nd):
        (b, e), n = widths[axis], x.shape[axis]
        if mode == "reflect" and (b >= n or e >= n):
            raise InputError(f"{op}: reflect padding must be smaller than the padded dimension, got padding "
                             f"{(b, e)} for dimension {axis} of size {n} (input shape {x.shape})")
        if mode == "circular":
            kept = n + min(b, 0) + min(e, 0)
            if max(b, e) > kept:
                raise InputError(f"{op}: circular padding may wrap around at most once, got padding {(b, e)} for "
                                 f"dimension {axis} of size {kept}" + (" after cropping" if kept != n else "")
                                 + f" (input shape {x.shape})")
        if n + b + e < 0:
            raise InputError(f"{op}: padding {(b, e)} would give dimension {axis} (size {n}) the negative size "
                             f"{n + b + e} (input shape {x.shape})")
    return tuple(widths)


def pad(input, pad, mode: str = "constant", value=None):  # noqa: A002 - PyTorch's names
    """PyTorch's ``F.pad``: ``pad`` lists (left, right) for the last axis, then (top, bottom) for the one
    before, ...; negative values crop.

    Modes: ``'constant'`` (fill with ``value``, default 0; any number of axes), ``'reflect'`` (mirror without
    repeating the edge; each pad smaller than its axis), ``'replicate'`` (repeat the edge), ``'circular'`` (wrap
    around; each pad at most its axis). The last three pad 1, 2 or 3 trailing axes of an input with one more axis
    (unbatched) or two more (a batch); ``value`` is for constant mode only. Forward and backward keep the input's
    memory order."""
    op = "pad"
    x = _checks.tensor_arg(op, input)
    if mode not in _pad.MODES:
        raise InputError(f"{op}: unknown mode {mode!r}; expected one of {', '.join(_pad.MODES)}")
    if mode != "constant" and value is not None and value != 0:
        raise InputError(f"{op}: mode {mode!r} takes no value (only 'constant' fills), got value={value!r}")
    value = 0.0 if value is None else _checks.real(op, "value", value)
    widths = _pad_widths(op, x, pad, mode)
    return Pad.apply(x, widths=widths, mode=mode, value=value)


def where(cond, a, b):
    """Elementwise choice: a where cond else b (cond carries no gradient)."""
    cond = cond.data if isinstance(cond, Tensor) else np.asarray(cond)
    if cond.dtype != np.bool_:
        cond = cond.astype(bool)
    return Where.apply(cond, a, b)


def attach_tensor_methods(cls) -> None:
    """Give Tensor its shape methods."""
    cls.reshape = reshape
    cls.view = view
    cls.flatten = flatten
    cls.permute = permute
    cls.transpose = transpose
    cls.T = property(lambda self: transpose(self))
    cls.squeeze = squeeze
    cls.unsqueeze = unsqueeze
    cls.expand = expand
    cls.split = split
    cls.chunk = chunk
    cls.__getitem__ = getitem

    def __setitem__(self, index, value):
        from ..autograd import is_grad_enabled

        if self.requires_grad and is_grad_enabled():
            raise RuntimeError("setitem: in-place assignment to a tensor that requires grad would break autograd; "
                               "do it under ck.no_grad() or on .detach()")
        self.data[_index_arrays(index)] = value.data if isinstance(value, Tensor) else value

    cls.__setitem__ = __setitem__


__all__ = ["reshape", "view", "flatten", "permute", "transpose", "squeeze", "unsqueeze", "expand", "getitem", "cat",
           "concat", "concatenate", "stack", "split", "chunk", "pad", "where"]
