"""Shape and indexing ops: reshape, transpose/permute, indexing, concatenation, stacking, splitting, padding
and where — each moves data without arithmetic, so each backward moves the gradient back."""

from __future__ import annotations

import numpy as np

from ..autograd import Function, Tensor
from ..errors import InputError
from ..kernels.elementwise import full_in_memory_order, memory_order


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
    """Constant padding; ``widths`` is NumPy's ((before, after), ...) per axis. The result keeps the input's
    memory order (a channels-last input gives a channels-last result)."""

    def forward(self, a, widths, value=0.0):
        self.slices = tuple(slice(b, b + n) for (b, _), n in zip(widths, a.shape, strict=True))
        shape = tuple(n + b + e for n, (b, e) in zip(a.shape, widths, strict=True))
        out = full_in_memory_order(shape, value, a.dtype, memory_order(a))
        out[self.slices] = a
        return out

    def backward(self, g):
        return g[self.slices]


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


def pad(a, pad, mode: str = "constant", value: float = 0.0):
    """PyTorch-style pad: ``pad`` lists (left, right) for the last axis, then the one before, ..."""
    if mode != "constant":
        raise InputError(f"pad: only mode='constant' is supported, got {mode!r}")
    if len(pad) % 2 or len(pad) // 2 > a.ndim:
        raise InputError(f"pad: expected an even number of at most {2 * a.ndim} values, got {len(pad)}")
    widths = [(0, 0)] * a.ndim
    for i in range(len(pad) // 2):
        widths[a.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    if any(b < 0 or e < 0 for b, e in widths):
        raise InputError(f"pad: negative padding is not supported, got {tuple(pad)}")
    return Pad.apply(a, widths=tuple(widths), value=value)


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
