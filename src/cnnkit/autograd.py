"""Tensor and reverse-mode automatic differentiation.

A :class:`Tensor` wraps a NumPy array (``.data``). Every differentiable operation is a :class:`Function`
whose ``forward`` works on arrays and whose ``backward`` maps the gradient of the output to the gradients of
the inputs (vector-Jacobian products). When gradients are enabled and an input requires them, ``apply``
records the node on the output's ``grad_fn``; ``Tensor.backward`` walks the recorded graph in reverse
topological order (iteratively: a chain of any depth is fine), accumulates into leaves' ``.grad`` and frees
each node's saved arrays as soon as it has been used.
"""

from __future__ import annotations

import functools
import weakref
from typing import TYPE_CHECKING

import numpy as np

from .errors import InputError, InputTypeError
from .kernels import elementwise as _elementwise

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int64 = np.dtype(np.int64)
bool_ = np.dtype(np.bool_)

_grad_enabled = True


def is_grad_enabled() -> bool:
    """Whether operations are being recorded for backpropagation."""
    return _grad_enabled


class _GradMode:
    """Context manager and decorator that sets gradient recording on or off inside its block."""

    enabled: bool

    def __enter__(self):
        global _grad_enabled
        self._previous = _grad_enabled
        _grad_enabled = self.enabled

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self._previous
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """``with ck.no_grad():`` runs operations without recording a graph (inference, parameter updates)."""

    enabled = False


class enable_grad(_GradMode):
    """Turns gradient recording back on inside a ``no_grad`` block."""

    enabled = True


def _to_dtype(dtype) -> np.dtype | None:
    if dtype is None:
        return None
    if isinstance(dtype, str) and dtype in ("float", "double", "long"):
        dtype = {"float": "float32", "double": "float64", "long": "int64"}[dtype]
    try:
        return np.dtype(dtype)
    except TypeError as err:
        raise InputTypeError(f"tensor: unknown dtype {dtype!r}") from err


def _as_array(data, dtype=None) -> np.ndarray:
    """Array for ``ck.tensor``: NumPy arrays keep their dtype, Python floats become float32 (as PyTorch)."""
    dtype = _to_dtype(dtype)
    if isinstance(data, Tensor):
        arr = data.data
    elif isinstance(data, (np.ndarray, np.generic)):
        arr = np.asarray(data)
    else:
        arr = np.asarray(data)
        if dtype is None and arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        if dtype is None and arr.dtype.kind == "i":
            arr = arr.astype(np.int64)
    if dtype is not None and arr.dtype != dtype:
        arr = arr.astype(dtype)
    if arr.dtype.kind not in "fiub":
        raise InputTypeError(f"tensor: expected numeric data, got an array of dtype {arr.dtype}")
    return arr


class Tensor:
    """An n-dimensional array that can record the operations applied to it and backpropagate through them.

    Attributes: ``data`` (the ndarray), ``grad`` (a Tensor or None), ``requires_grad``, ``grad_fn`` (the
    :class:`Function` that produced it, None for leaves).
    """

    __slots__ = ("data", "grad", "requires_grad", "grad_fn", "_hooks", "_retains_grad", "__weakref__")
    __array_priority__ = 1000  # ndarray <op> Tensor defers to Tensor's reflected operators

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        self.data = _as_array(data, dtype)
        self.grad = None
        self.grad_fn = None
        self._hooks = None
        self._retains_grad = False
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, array: np.ndarray, requires_grad: bool = False) -> Tensor:
        """Fast constructor for op results (no validation)."""
        t = object.__new__(cls)
        t.data = array
        t.grad = None
        t.grad_fn = None
        t._hooks = None
        t._retains_grad = False
        t.requires_grad = requires_grad
        return t

    # ----------------------------------------------------------------- properties
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size_(self) -> int:
        return self.data.size

    def size(self, dim: int | None = None):
        """Shape (PyTorch's ``size()``), or its length along ``dim``."""
        return self.data.shape if dim is None else self.data.shape[dim]

    def dim(self) -> int:
        return self.data.ndim

    def numel(self) -> int:
        return self.data.size

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(", threshold=200, precision=4)
        extra = []
        if self.data.dtype not in (float32, int64):
            extra.append(f"dtype={self.data.dtype}")
        if self.grad_fn is not None:
            extra.append(f"grad_fn=<{type(self.grad_fn).__name__}>")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extra) + ")"

    # ----------------------------------------------------------------- conversion
    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied). For a tensor that requires grad it is a read-only view (writing
        into it would silently change what backward uses, as PyTorch refuses too); ``t.detach().numpy()`` is
        writable."""
        if self.requires_grad:
            view = self.data.view()
            view.flags.writeable = False
            return view
        return self.data

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)

    def item(self):
        if self.data.size != 1:
            raise InputError(f"item: only a one-element tensor converts to a Python scalar, got shape {self.shape}")
        return self.data.reshape(()).item()

    def tolist(self):
        return self.data.tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.data.size != 1:
            raise InputError(f"the truth value of a tensor of shape {self.shape} is ambiguous")
        return bool(self.data.reshape(()))

    def detach(self) -> Tensor:
        """A new leaf sharing the same data, cut from the graph."""
        return Tensor._wrap(self.data)

    def clone(self) -> Tensor:
        return Clone.apply(self)

    def requires_grad_(self, flag: bool = True) -> Tensor:
        if flag and self.data.dtype.kind != "f":
            raise InputTypeError(
                f"requires_grad: only floating-point tensors can require gradients, got dtype {self.data.dtype}")
        self.requires_grad = bool(flag)
        return self

    def astype(self, dtype) -> Tensor:
        """Cast (differentiable between float dtypes)."""
        return Cast.apply(self, dtype=_to_dtype(dtype))

    to = astype

    def float(self) -> Tensor:
        return self.astype(float32)

    def double(self) -> Tensor:
        return self.astype(float64)

    def long(self) -> Tensor:
        return self.astype(int64)

    # ----------------------------------------------------------------- autograd
    def register_hook(self, hook):
        """Call ``hook(grad) -> Tensor | None`` with this tensor's gradient during backward; a returned
        tensor replaces the gradient. Returns a handle with ``remove()``."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that does not require grad")
        if self._hooks is None:
            self._hooks = {}
        handle = _HookHandle(self._hooks)
        self._hooks[handle.id] = hook
        return handle

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: the tensor does not require grad")
        self._retains_grad = True

    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Backpropagate from this tensor; ``grad`` is d(objective)/d(self), implicit 1 for a scalar."""
        backward(self, grad, retain_graph)

    def zero_grad_(self) -> None:
        self.grad = None

    # ----------------------------------------------------------------- operators and math/shape methods
    # They live with their Functions in cnnkit.functional (math.py, shape.py), which attaches them when cnnkit is
    # imported; these declarations let editors and type checkers see them here (a test keeps the two in step).
    if TYPE_CHECKING:
        def __add__(self, other) -> Tensor: ...
        def __radd__(self, other) -> Tensor: ...
        def __sub__(self, other) -> Tensor: ...
        def __rsub__(self, other) -> Tensor: ...
        def __mul__(self, other) -> Tensor: ...
        def __rmul__(self, other) -> Tensor: ...
        def __truediv__(self, other) -> Tensor: ...
        def __rtruediv__(self, other) -> Tensor: ...
        def __pow__(self, other) -> Tensor: ...
        def __rpow__(self, other) -> Tensor: ...
        def __matmul__(self, other) -> Tensor: ...
        def __rmatmul__(self, other) -> Tensor: ...
        def __neg__(self) -> Tensor: ...
        def __pos__(self) -> Tensor: ...
        def __abs__(self) -> Tensor: ...
        def __lt__(self, other) -> Tensor: ...
        def __le__(self, other) -> Tensor: ...
        def __gt__(self, other) -> Tensor: ...
        def __ge__(self, other) -> Tensor: ...
        def __eq__(self, other) -> Tensor: ...  # type: ignore[override]
        def __ne__(self, other) -> Tensor: ...  # type: ignore[override]
        def __getitem__(self, index) -> Tensor: ...
        def __setitem__(self, index, value) -> None: ...
        def exp(self) -> Tensor: ...
        def log(self) -> Tensor: ...
        def sqrt(self) -> Tensor: ...
        def abs(self) -> Tensor: ...
        def neg(self) -> Tensor: ...
        def pow(self, exponent) -> Tensor: ...
        def clip(self, min=None, max=None) -> Tensor: ...  # noqa: A002
        def clamp(self, min=None, max=None) -> Tensor: ...  # noqa: A002
        def matmul(self, other) -> Tensor: ...
        def sum(self, axis=None, keepdims=False, *, dim=None, keepdim=None) -> Tensor: ...
        def mean(self, axis=None, keepdims=False, *, dim=None, keepdim=None) -> Tensor: ...
        def max(self, axis=None, keepdims=False, *, dim=None, keepdim=None) -> Tensor: ...
        def min(self, axis=None, keepdims=False, *, dim=None, keepdim=None) -> Tensor: ...
        def var(self, axis=None, keepdims=False, correction=1, *, dim=None, keepdim=None, unbiased=None) -> Tensor: ...
        def std(self, axis=None, keepdims=False, correction=1, *, dim=None, keepdim=None, unbiased=None) -> Tensor: ...
        def argmax(self, axis=None, keepdims=False, *, dim=None, keepdim=None) -> Tensor: ...
        def argmin(self, axis=None, keepdims=False, *, dim=None, keepdim=None) -> Tensor: ...
        def reshape(self, *shape) -> Tensor: ...
        def view(self, *shape) -> Tensor: ...
        def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor: ...
        def permute(self, *axes) -> Tensor: ...
        def transpose(self, dim0: int | None = None, dim1: int | None = None) -> Tensor: ...
        @property
        def T(self) -> Tensor: ...  # noqa: N802
        def squeeze(self, dim=None) -> Tensor: ...
        def unsqueeze(self, dim: int) -> Tensor: ...
        def expand(self, *shape) -> Tensor: ...
        def split(self, split_size_or_sections, axis: int = 0, *, dim: int | None = None) -> tuple: ...
        def chunk(self, chunks: int, axis: int = 0, *, dim: int | None = None) -> tuple: ...


class _HookHandle:
    """Returned by ``register_hook``; ``remove()`` unregisters the hook."""

    _next_id = 0

    def __init__(self, hooks: dict):
        self.hooks = hooks
        self.id = _HookHandle._next_id
        _HookHandle._next_id += 1

    def remove(self) -> None:
        self.hooks.pop(self.id, None)


class Function:
    """One differentiable operation: ``forward(*arrays, **attrs) -> array`` and ``backward(grad) -> grads``.

    Subclasses implement ``forward`` (save what backward needs on ``self``) and ``backward`` (return one
    gradient per positional input, or None where it has none). ``self.needs_input_grad[i]`` tells backward
    which input gradients are wanted, so it can skip the others. ``Function.apply`` is the only entry point;
    it records the op name (the class) and its attributes (``self.attrs``), which is what a graph exporter reads.
    Gradients may be returned in the broadcast shape: the engine sums them back to each input's shape.
    """

    needs_input_grad: tuple[bool, ...] = ()
    differentiable = True
    extras: tuple = ()

    def forward(self, *args, **attrs):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, grad):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs, **attrs) -> Tensor:
        return cls._run(inputs, attrs)[0]

    @classmethod
    def apply_with_extras(cls, *inputs, **attrs) -> tuple:
        """Like ``apply``, plus the non-differentiable arrays forward left in ``self.extras`` (e.g. max-pool
        indices), as Tensors: ``(output, *extras)``."""
        result, node = cls._run(inputs, attrs)
        return (result, *(Tensor._wrap(a) for a in node.extras))

    @classmethod
    def _run(cls, inputs, attrs) -> tuple[Tensor, Function]:
        node = cls()
        arrays = [t.data if isinstance(t, Tensor) else t for t in inputs]
        record = _grad_enabled and cls.differentiable and any(
            isinstance(t, Tensor) and t.requires_grad for t in inputs)
        if record:
            node.needs_input_grad = tuple(isinstance(t, Tensor) and t.requires_grad for t in inputs)
        out = node.forward(*arrays, **attrs)
        result = Tensor._wrap(out, record)
        if record:
            node.inputs = inputs
            node.attrs = attrs
            node.output = weakref.ref(result)
            result.grad_fn = node
        return result, node

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class Cast(Function):
    """Tensor.astype: y = x in another dtype; the gradient is cast back (none for a non-float source)."""

    def forward(self, a, dtype):
        self.src = a.dtype
        return a.astype(dtype, copy=False) if a.dtype != dtype else a.copy()

    def backward(self, g):
        return g.astype(self.src, copy=False) if self.src.kind == "f" else None


class Clone(Function):
    """Tensor.clone: a copy that stays in the graph (dy/dx = 1)."""

    def forward(self, a):
        return a.copy()

    def backward(self, g):
        return g


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a broadcast gradient back to ``shape`` (the reverse of NumPy broadcasting)."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    if grad.shape != shape:
        grad = np.broadcast_to(grad, shape)
    return grad


def _topological_order(root: Function) -> list[Function]:
    """Nodes reachable from ``root``, each after all the nodes that consume its output (iterative DFS)."""
    order: list[Function] = []
    visited: set[int] = set()  # marked when expanded: a node is finished only after every node it feeds from
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        inputs = getattr(node, "inputs", None)
        if inputs is None:
            raise RuntimeError(
                "backward: trying to backward through the graph a second time (its saved arrays were freed); "
                "pass retain_graph=True to the first backward")
        for t in inputs:
            if isinstance(t, Tensor) and t.grad_fn is not None and id(t.grad_fn) not in visited:
                stack.append((t.grad_fn, False))
    order.reverse()
    return order


def _run_hooks(tensor: Tensor, grad: np.ndarray) -> np.ndarray:
    for hook in list(tensor._hooks.values()):
        result = hook(Tensor._wrap(grad))
        if result is not None:
            new = result.data if isinstance(result, Tensor) else np.asarray(result)
            if new.shape != grad.shape:
                raise RuntimeError(f"hook: returned a gradient of shape {new.shape}, expected {grad.shape}")
            grad = new
    return grad


def _accumulate_leaf(tensor: Tensor, grad: np.ndarray) -> None:
    if tensor._hooks:
        grad = _run_hooks(tensor, grad)
    if tensor.grad is None:
        tensor.grad = Tensor._wrap(np.array(grad, dtype=tensor.data.dtype, copy=True))
    else:
        tensor.grad = Tensor._wrap(tensor.grad.data + grad.astype(tensor.data.dtype, copy=False))


def _add_arrays(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a + b for two gradients of one tensor (a compiled, threaded pass for large same-dtype arrays)."""
    if a.shape == b.shape and a.dtype == b.dtype and a.size >= _elementwise.PARALLEL_MIN_SIZE:
        return _elementwise.add(a, b)
    return a + b


def backward(tensor: Tensor, grad=None, retain_graph: bool = False) -> None:
    """Reverse-mode sweep from ``tensor``: see :meth:`Tensor.backward`."""
    if not tensor.requires_grad:
        raise RuntimeError("backward: the tensor does not require grad and has no grad_fn "
                           "(did you create it under no_grad or forget requires_grad=True?)")
    if grad is None:
        if tensor.data.size != 1:
            raise RuntimeError(
                f"backward: grad can be implicitly created only for a scalar output, got shape {tensor.shape}; "
                f"pass grad= an array of that shape")
        grad = np.ones_like(tensor.data)
    else:
        grad = grad.data if isinstance(grad, Tensor) else np.asarray(grad, dtype=tensor.data.dtype)
        if grad.shape != tensor.shape:
            raise InputError(f"backward: grad has shape {grad.shape} but the tensor has shape {tensor.shape}")
    if tensor.grad_fn is None:
        _accumulate_leaf(tensor, grad)
        return
    grads: dict[int, np.ndarray] = {id(tensor.grad_fn): grad}
    for node in _topological_order(tensor.grad_fn):
        g = grads.pop(id(node), None)
        if g is None:
            continue
        out = node.output()
        if out is not None:
            if out._hooks:
                g = _run_hooks(out, g)
            if out._retains_grad:
                out.grad = Tensor._wrap(g.copy() if out.grad is None else out.grad.data + g)
        input_grads = node.backward(g)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        inputs = node.inputs
        if not retain_graph:
            node.__dict__.clear()  # free saved arrays now; a second backward raises a clear error
        for t, gi in zip(inputs, input_grads, strict=False):
            if gi is None or not isinstance(t, Tensor) or not t.requires_grad:
                continue
            if gi.shape != t.data.shape:
                gi = unbroadcast(gi, t.data.shape)
            if t.grad_fn is None:
                _accumulate_leaf(t, gi)
            else:
                key = id(t.grad_fn)
                prev = grads.get(key)
                grads[key] = gi if prev is None else _add_arrays(prev, gi)


def tensor(data, requires_grad: bool = False, dtype=None) -> Tensor:
    """Create a tensor (copies the data). Python floats become float32, NumPy arrays keep their dtype."""
    if isinstance(data, Tensor):
        data = data.data
    arr = np.array(_as_array(data, dtype), copy=True)
    return Tensor(arr, requires_grad=requires_grad)


def as_tensor(data, dtype=None) -> Tensor:
    """Wrap without copying when possible."""
    if isinstance(data, Tensor) and (dtype is None or data.dtype == _to_dtype(dtype)):
        return data
    return Tensor(data, dtype=dtype)


from_numpy = as_tensor


def _creation(fn):
    @functools.wraps(fn)
    def make(*shape, dtype=None, requires_grad=False):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return Tensor(fn(shape, _to_dtype(dtype) or float32), requires_grad=requires_grad)

    return make


@_creation
def zeros(shape, dtype):
    """Tensor of zeros: ``ck.zeros(2, 3)`` or ``ck.zeros((2, 3))``."""
    return np.zeros(shape, dtype)


@_creation
def ones(shape, dtype):
    """Tensor of ones."""
    return np.ones(shape, dtype)


@_creation
def randn(shape, dtype):
    """Standard normal samples from the global generator (``ck.manual_seed``)."""
    from . import random

    return random.get_rng().standard_normal(shape, dtype=np.float64).astype(dtype)


@_creation
def rand(shape, dtype):
    """Uniform [0, 1) samples from the global generator."""
    from . import random

    return random.get_rng().random(shape, dtype=np.float64).astype(dtype)


def full(shape, fill_value, dtype=None, requires_grad=False) -> Tensor:
    return Tensor(np.full(shape, fill_value, _to_dtype(dtype) or float32), requires_grad=requires_grad)


def zeros_like(t: Tensor, dtype=None, requires_grad=False) -> Tensor:
    return Tensor(np.zeros_like(t.data, dtype=_to_dtype(dtype)), requires_grad=requires_grad)


def ones_like(t: Tensor, dtype=None, requires_grad=False) -> Tensor:
    return Tensor(np.ones_like(t.data, dtype=_to_dtype(dtype)), requires_grad=requires_grad)


def arange(*args, dtype=None) -> Tensor:
    arr = np.arange(*args)
    return Tensor(arr, dtype=dtype if dtype is not None else (int64 if arr.dtype.kind == "i" else float32))


def eye(n: int, m: int | None = None, dtype=None) -> Tensor:
    return Tensor(np.eye(n, m, dtype=_to_dtype(dtype) or float32))


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-4,
              grad_output=None) -> bool:
    """Compare backprop gradients of ``fn(*inputs)`` with central finite differences (float64 inputs).

    The objective is ``sum(fn(*inputs) * grad_output)`` (a fixed random ``grad_output`` by default). Raises
    AssertionError naming the input and the worst element when they disagree; returns True otherwise.
    """
    tensors = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    for t in tensors:
        if t.dtype != float64:
            raise InputTypeError(f"gradcheck: inputs must be float64 for finite differences, got {t.dtype}")
    out = fn(*inputs)
    if grad_output is None:
        grad_output = np.random.default_rng(0).standard_normal(out.shape)
    grad_output = np.asarray(grad_output, dtype=np.float64)
    for t in tensors:
        t.grad = None
    out.backward(grad_output)
    analytic = [t.grad.data.copy() if t.grad is not None else np.zeros_like(t.data) for t in tensors]
    with no_grad():
        for index, (t, ana) in enumerate(zip(tensors, analytic, strict=True)):
            numeric = np.zeros_like(t.data)
            flat, num = t.data.reshape(-1), numeric.reshape(-1)
            for i in range(flat.size):
                orig = flat[i]
                flat[i] = orig + eps
                plus = float(np.sum(fn(*inputs).data * grad_output))
                flat[i] = orig - eps
                minus = float(np.sum(fn(*inputs).data * grad_output))
                flat[i] = orig
                num[i] = (plus - minus) / (2 * eps)
            err = np.abs(numeric - ana)
            bound = atol + rtol * np.abs(numeric)
            if not np.all(err <= bound):
                worst = np.unravel_index(np.argmax(err - bound), err.shape)
                raise AssertionError(
                    f"gradcheck: input {index} (shape {t.shape}) element {tuple(map(int, worst))}: "
                    f"backprop {ana[worst]:.8g} vs finite difference {numeric[worst]:.8g}")
    return True

