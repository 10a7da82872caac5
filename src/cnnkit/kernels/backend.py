"""Kernel backends: named sets of array kernels, chosen at run time.

A backend is a :class:`KernelSet`: the array kernels of the ops that have more than one implementation
(convolution, transposed convolution, max/average pooling, batch normalisation, ReLU), all with the same signatures.
The reference set (``"numpy"``: NumPy + Numba, im2col + GEMM) implements every kernel and is the fallback; another
set overrides what it accelerates and says per call, through :meth:`KernelSet.supports`, whether it runs these
arguments (oneDNN, for example, has no float64 convolution).

Choosing one::

    ck.set_backend("onednn")            # from now on
    with ck.set_backend("numpy"):       # inside this block only; the previous choice comes back after it
        ...
    CNNKIT_BACKEND=numpy cnnkit train   # the environment variable sets the starting choice

A differentiable op asks :func:`kernels_for` in its forward and keeps the answer on its graph node, so its backward
runs on the kernels its forward ran on, whatever the current choice is by then.

Conventions shared by every kernel set (arrays in, arrays out; no Tensor): activations are NCHW-*shaped* arrays
whose memory may be NCHW- or channels-last-contiguous (a kernel accepts both and may return either; the reference
set returns channels-last views for convolutions); weights have PyTorch's shapes; ``padding`` of a convolution is
((top, bottom), (left, right)); pairs are (h, w) tuples of ints; dtype is kept (float32 or float64).
"""

from __future__ import annotations

import importlib
import logging
import os
import threading

import numpy as np

from ..errors import InputError, InputTypeError

__all__ = [
    "KernelSet",
    "OPS",
    "ENV_VARIABLE",
    "register_backend",
    "available_backends",
    "get_backend",
    "set_backend",
    "kernels_for",
    "reference",
    "parameters_version",
    "parameters_changed",
    "describe",
    "describe_line",
    "set_num_threads",
    "get_num_threads",
]

ENV_VARIABLE = "CNNKIT_BACKEND"
REFERENCE = "numpy"
PREFERRED = ("onednn",)  # tried in order for the default; the reference when none can run here

logger = logging.getLogger("cnnkit")

OPS = ("conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d", "batch_norm", "relu")


class KernelSet:
    """The kernels of one backend. The reference set implements all of them; another set overrides some and
    answers :meth:`supports` for the rest (and for arguments it cannot run), so the reference set runs those.

    ``saved`` values are opaque to the caller: whatever a forward kernel needs its backward kernel to receive
    (the reference max pool saves its arg-max indices, oneDNN's its workspace).
    """

    name = "abstract"

    def available(self) -> bool:
        """Whether this backend can run on this machine (its library loads, the CPU supports it)."""
        return True

    def supports(self, op: str, dtype: np.dtype, **attrs) -> bool:
        """Whether this set runs ``op`` (one of :data:`OPS`) on ``dtype`` inputs with these attributes (the same
        keyword attributes the op's forward kernel takes, e.g. ``groups=`` for conv2d)."""
        return True

    # ---------------------------------------------------------------------------------------------- convolution
    def conv2d_forward(self, x, w, b, stride, padding, dilation, groups):
        """y (N, O, OH, OW) = conv2d(x (N, C, H, W), w (O, C/groups, kH, kW)) + b (O,) or no bias (None)."""
        raise NotImplementedError

    def conv2d_backward(self, grad, x, w, stride, padding, dilation, groups, need_input, need_weight, need_bias,
                        x_shape, w_shape):
        """(dx, dw, db), each None unless asked for. ``x`` may be None when dw is not needed, ``w`` when dx is
        not (the shapes are always given)."""
        raise NotImplementedError

    def conv_transpose2d_forward(self, x, w, b, stride, padding, output_padding, dilation, groups):
        """y = conv_transpose2d(x (N, C, H, W), w (C, O/groups, kH, kW)) + b; ``padding`` is (ph, pw) here."""
        raise NotImplementedError

    def conv_transpose2d_backward(self, grad, x, w, stride, padding, output_padding, dilation, groups, need_input,
                                  need_weight, need_bias, x_shape, w_shape):
        """(dx, dw, db) of conv_transpose2d, each None unless asked for."""
        raise NotImplementedError

    # ---------------------------------------------------------------------------------------------- pooling
    def max_pool2d_forward(self, x, kernel_size, stride, padding, dilation, ceil_mode, need_backward,
                           return_indices):
        """(y, saved, indices): y the window maxima; ``saved`` for :meth:`max_pool2d_backward` (None unless
        ``need_backward``); ``indices`` the int64 flat arg-max h*W + w per output (None unless
        ``return_indices``; ties go to the first element of the window, as PyTorch)."""
        raise NotImplementedError

    def max_pool2d_backward(self, grad, saved, input_shape):
        """dx: each output gradient routed to its window's arg-max (summed where windows overlap)."""
        raise NotImplementedError

    def avg_pool2d_forward(self, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
        """y: window sums / divisor (PyTorch's rules for the divisor)."""
        raise NotImplementedError

    def avg_pool2d_backward(self, grad, input_shape, kernel_size, stride, padding, ceil_mode, count_include_pad,
                            divisor_override):
        """dx: each output gradient spread evenly (/ divisor) over its window."""
        raise NotImplementedError

    # ---------------------------------------------------------------------------------------------- batch norm
    def batch_norm_forward(self, x, running_mean, running_var, weight, bias, training, momentum, eps):
        """(y, saved) for x (N, C, ...) normalised per channel. Training: batch statistics, and the running ones
        (when given) updated in place with ``momentum`` (unbiased variance); otherwise the running statistics.
        ``weight``/``bias`` are (C,) arrays or None."""
        raise NotImplementedError

    def batch_norm_backward(self, grad, saved, need_input, need_weight, need_bias):
        """(dx, dweight, dbias), each None unless asked for."""
        raise NotImplementedError

    # ---------------------------------------------------------------------------------------------- relu
    def relu_forward(self, x):
        """max(x, 0), in x's memory order."""
        raise NotImplementedError

    def relu_backward(self, grad, y):
        """grad where y > 0, else 0."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<KernelSet {self.name!r}>"


# ---------------------------------------------------------------------------------------------- parameter updates
_parameters_version = 0


def parameters_version() -> int:
    """A counter that grows whenever parameters are updated in place by cnnkit (the optimizers' step). Backends
    that keep derived copies of weights (a blocked layout, a folded batch norm) rebuild a copy made at an older
    count; they never rely on it alone (see ``cnnkit.kernels.onednn._weights``)."""
    return _parameters_version


def parameters_changed() -> None:
    """Tell the backends that parameters were just updated in place (the optimizers call it after each step)."""
    global _parameters_version
    _parameters_version += 1


# ---------------------------------------------------------------------------------------------- the registry
# name -> a KernelSet, or "module:attribute" naming a class (or factory) imported on first use, so that an optional
# backend costs nothing until it is asked for.
_registry: dict[str, KernelSet | str] = {REFERENCE: "cnnkit.kernels.reference:ReferenceKernels",
                                         "onednn": "cnnkit.kernels.onednn:OneDNNKernels"}
_lock = threading.Lock()
_current: str | None = None  # None: not chosen yet (the environment variable or the default decides)


def register_backend(name: str, kernels: KernelSet | str) -> None:
    """Add a backend: a :class:`KernelSet`, or ``"module:attribute"`` to import lazily."""
    if not isinstance(name, str) or not name:
        raise InputTypeError(f"register_backend: name must be a non-empty str, got {name!r}")
    with _lock:
        _registry[name] = kernels


def _load(name: str) -> KernelSet:
    """The kernel set registered under ``name`` (imported and instantiated on first use)."""
    entry = _registry.get(name)
    if entry is None:
        raise InputError(f"backend: unknown backend {name!r}; registered backends: {', '.join(sorted(_registry))}")
    if isinstance(entry, str):
        with _lock:
            entry = _registry[name]
            if isinstance(entry, str):
                module, _, attribute = entry.partition(":")
                entry = getattr(importlib.import_module(module), attribute)()
                _registry[name] = entry
    return entry


def reference() -> KernelSet:
    """The reference kernel set (NumPy + Numba), which implements every kernel."""
    return _load(REFERENCE)


def available_backends() -> list[str]:
    """Names of the registered backends that can run here, the reference first."""
    names = [REFERENCE] + sorted(n for n in _registry if n != REFERENCE)
    return [n for n in names if _usable(n)[0]]


def _usable(name: str) -> tuple[bool, str]:
    """Whether backend ``name`` can run here, and if not, why."""
    try:
        kernels = _load(name)
        if kernels.available():
            return True, ""
        describe_fn = getattr(kernels, "describe", None)
        reason = describe_fn().get("error") if describe_fn else None
        return False, reason or "not available on this machine"
    except InputError:
        raise
    except Exception as err:  # noqa: BLE001 - an optional backend that fails to import is just unavailable
        return False, f"{type(err).__name__}: {err}"


_fallback_logged = False


def _fall_back(name: str, reason: str) -> str:
    global _fallback_logged
    if not _fallback_logged:
        _fallback_logged = True
        logger.warning("cnnkit: the %s backend is unavailable (%s); using the reference kernels (%s)", name, reason,
                       REFERENCE)
    return REFERENCE


def _default() -> str:
    """The starting backend: ``CNNKIT_BACKEND`` if set, else the first of :data:`PREFERRED` that runs here, else
    the reference. A backend that cannot run here is replaced by the reference with one logged warning (an
    unknown name is an error)."""
    requested = os.environ.get(ENV_VARIABLE)
    for name in ([requested] if requested else PREFERRED):
        ok, reason = _usable(name)
        if ok:
            return name
        if requested or name == PREFERRED[-1]:
            return _fall_back(name, reason)
    return REFERENCE


def get_backend() -> str:
    """The name of the backend in use now."""
    global _current
    if _current is None:
        with _choose_lock:
            if _current is None:
                _current = _default()
    return _current


_choose_lock = threading.Lock()


class set_backend:  # noqa: N801 - used like a function, and as a context manager
    """Use the kernels of backend ``name`` from now on; as a context manager, only inside the ``with`` block (the
    previous choice comes back on exit)."""

    def __init__(self, name: str):
        if not isinstance(name, str):
            raise InputTypeError(f"set_backend: expected a backend name (str), got {type(name).__name__}")
        kernels = _load(name)
        if not kernels.available():
            raise InputError(f"set_backend: backend {name!r} cannot run on this machine; available: "
                             f"{', '.join(available_backends())}")
        global _current
        self.previous = get_backend()
        self.name = name
        _current = name

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        global _current
        _current = self.previous
        return False

    def __repr__(self) -> str:
        return f"set_backend({self.name!r})"


def kernels_for(op: str, dtype, **attrs) -> KernelSet:
    """The kernel set that runs ``op`` now: the current backend if it supports these arguments, else the
    reference set."""
    kernels = _load(get_backend())
    if kernels.name != REFERENCE and not kernels.supports(op, np.dtype(dtype), **attrs):
        return reference()
    return kernels


# ---------------------------------------------------------------------------------------------- threads and runtime
def set_num_threads(n: int) -> None:
    """Use ``n`` threads everywhere: cnnkit's worker threads (the reference kernels), BLAS outside them, and the
    OpenMP pool of the oneDNN backend (applied when it loads, if it has not yet)."""
    from . import _parallel

    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise InputTypeError(f"set_num_threads: expected an int, got {n!r}")
    _parallel.set_num_threads(int(n), blas=True)
    for entry in list(_registry.values()):
        if isinstance(entry, KernelSet) and hasattr(entry, "set_threads"):
            entry.set_threads(int(n))


def get_num_threads() -> int:
    """The thread count that :func:`set_num_threads` set (or the default: the CPUs this process may use, at most
    8, or ``CNNKIT_NUM_THREADS``)."""
    from . import _parallel

    return _parallel._num_threads


def describe() -> dict:
    """The runtime in use: the current backend, the available ones, the thread count, and for the oneDNN backend
    its version, CPU ISA, OpenMP runtime and library (or why it cannot load)."""
    name = get_backend()
    info = {"backend": name, "available": available_backends(), "threads": get_num_threads()}
    for other in PREFERRED:
        try:
            kernels = _load(other)
        except Exception as err:  # noqa: BLE001
            info[other] = {"available": False, "error": f"{type(err).__name__}: {err}"}
            continue
        describe_fn = getattr(kernels, "describe", None)
        if describe_fn is not None:
            info[other] = describe_fn()
    return info


def describe_line() -> str:
    """:func:`describe` in one line, e.g. ``backend onednn (oneDNN 3.2.0, avx2, OpenMP libgomp, 2 threads)``."""
    info = describe()
    line = f"backend {info['backend']}"
    one = info.get("onednn") or {}
    if one.get("available"):
        detail = (f"oneDNN {one['version']}, {one['isa']}, {one['cpu_runtime']} {one['openmp']}, "
                  f"{one['threads']} threads")
        line += f" ({detail})" if info["backend"] == "onednn" else f"; onednn available ({detail})"
    else:
        line += f" ({info['threads']} threads); onednn unavailable: {one.get('error') or 'not loaded'}"
    return line
