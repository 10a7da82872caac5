"""Memory descriptors, memory objects, primitives and executable steps over the ctypes binding.

A :class:`Step` is one primitive with its memory objects bound once; a call only points the memory objects at the
arrays of this call (``dnnl_memory_set_data_handle``, about a microsecond each) and executes. Implementations whose
name starts with ``ref`` (oneDNN's reference loops, up to thousands of times slower) are refused: creating such a
primitive raises :class:`Unsupported` and the caller falls back to cnnkit's reference kernels.
"""

from __future__ import annotations

import ctypes as C
import threading

import numpy as np

from . import _lib
from ._lib import Dims, ExecArg, OneDNNError, vp


class Unsupported(Exception):
    """oneDNN has no fast implementation for these arguments (or none at all)."""


_from_buffer, _addressof = C.c_char.from_buffer, C.addressof


def pointer(a: np.ndarray) -> int:
    """The address of an array's first element (through the buffer protocol, three times cheaper than
    ``__array_interface__``; read-only or empty arrays take the slower way)."""
    try:
        return _addressof(_from_buffer(a))
    except (TypeError, ValueError, BufferError):
        return a.__array_interface__["data"][0]


class MemoryDesc:
    """An owned dnnl_memory_desc_t."""

    __slots__ = ("lib", "handle", "size")

    def __init__(self, lib, handle: vp, owned: bool = True):
        self.lib = lib
        if not owned:  # a descriptor owned by a primitive descriptor: keep a clone of our own
            clone = vp()
            lib.memory_desc_clone(C.byref(clone), handle)
            handle = clone
        self.handle = handle
        self.size = int(lib.memory_desc_get_size(handle))

    @classmethod
    def with_tag(cls, lib, dims, tag: int, dtype: int = _lib.F32) -> MemoryDesc:
        handle = vp()
        lib.memory_desc_create_with_tag(C.byref(handle), len(dims), Dims(*dims), dtype, tag)
        return cls(lib, handle)

    def __eq__(self, other) -> bool:
        return isinstance(other, MemoryDesc) and bool(self.lib.memory_desc_equal(self.handle, other.handle))

    __hash__ = None

    def __del__(self):
        try:
            self.lib.memory_desc_destroy(self.handle)
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


class Memory:
    """A dnnl_memory_t whose data handle is set per call."""

    __slots__ = ("lib", "md", "handle")

    def __init__(self, lib, md: MemoryDesc):
        self.lib, self.md = lib, md
        self.handle = vp()
        lib.memory_create(C.byref(self.handle), md.handle, lib.engine, None)

    def set(self, address: int) -> None:
        r = self.lib.memory_set_data_handle(self.handle, address)
        if r:
            raise OneDNNError(f"dnnl_memory_set_data_handle failed: status {r}")

    def __del__(self):
        try:
            self.lib.memory_destroy(self.handle)
        except Exception:  # noqa: BLE001
            pass


class Primitive:
    """A primitive descriptor and its primitive; refuses oneDNN's reference implementations."""

    __slots__ = ("lib", "pd", "handle", "impl")

    def __init__(self, lib, pd: vp, what: str):
        self.lib, self.pd, self.handle = lib, pd, vp()
        info = C.c_char_p()
        lib.primitive_desc_query(pd, _lib.Q_IMPL, 0, C.byref(info))
        self.impl = (info.value or b"?").decode()
        if self.impl.startswith("ref"):
            lib.primitive_desc_destroy(pd)
            self.pd = None
            raise Unsupported(f"{what}: only oneDNN's reference implementation ({self.impl})")
        lib.primitive_create(C.byref(self.handle), pd)

    def md(self, query: int, index: int = 0) -> MemoryDesc:
        return MemoryDesc(self.lib, vp(self.lib.primitive_desc_query_md(self.pd, query, index)), owned=False)

    def __del__(self):
        try:
            if self.handle:
                self.lib.primitive_destroy(self.handle)
            if self.pd:
                self.lib.primitive_desc_destroy(self.pd)
        except Exception:  # noqa: BLE001
            pass


def create(lib, what: str, creator, *args) -> Primitive:
    """Run a ``dnnl_*_primitive_desc_create`` function (its first two arguments are supplied) and make the
    primitive; any failure is :class:`Unsupported`."""
    pd = vp()
    status = creator(C.byref(pd), lib.engine, *args)
    if status != 0:
        raise Unsupported(f"{what}: {_lib.STATUS.get(status, f'status {status}')}")
    return Primitive(lib, pd, what)  # destroys pd itself when it refuses the implementation


class Step:
    """A primitive with its arguments bound: ``step(addresses)`` points each memory at an address and runs.
    A memory already pointing at its address is not set again (cached weights, and the allocator's habit of
    handing back the same blocks step after step, make that the common case)."""

    __slots__ = ("lib", "prim", "mems", "args", "n", "_handles", "_current", "_set", "_execute", "_wait", "_lock")

    def __init__(self, lib, prim: Primitive, args: list[tuple[int, MemoryDesc]]):
        self.lib, self.prim = lib, prim
        self.mems = [Memory(lib, md) for _, md in args]
        self.n = len(args)
        self.args = (ExecArg * self.n)()
        for i, ((arg, _), mem) in enumerate(zip(args, self.mems, strict=True)):
            self.args[i].arg = arg
            self.args[i].memory = mem.handle
        self._handles = [mem.handle for mem in self.mems]
        self._current = [None] * self.n
        self._set, self._execute, self._wait = lib.memory_set_data_handle, lib.primitive_execute, lib.stream_wait
        self._lock = threading.Lock()  # the memory objects are shared: one call at a time per step

    def __call__(self, *addresses: int) -> None:
        current = self._current
        if len(addresses) != self.n:
            raise TypeError(f"{self.prim.impl}: expected {self.n} addresses, got {len(addresses)}")
        with self._lock:
            for i, address in enumerate(addresses):
                if current[i] != address:
                    if self._set(self._handles[i], address):
                        current[i] = None
                        raise OneDNNError("dnnl_memory_set_data_handle failed")
                    current[i] = address
            r = self._execute(self.prim.handle, self.lib.stream, self.n, self.args)
            if r:
                raise OneDNNError(f"executing {self.prim.impl} failed: {_lib.STATUS.get(r, f'status {r}')}")
            self._wait(self.lib.stream)


def reorder(lib, src: MemoryDesc, dst: MemoryDesc) -> Step:
    """A step copying memory of layout ``src`` into layout ``dst``: ``step(src_address, dst_address)``."""
    pd = vp()
    lib.reorder_primitive_desc_create(C.byref(pd), src.handle, lib.engine, dst.handle, lib.engine, None)
    return Step(lib, Primitive(lib, pd, "reorder"), [(_lib.ARG_FROM, src), (_lib.ARG_TO, dst)])


def empty_for(md: MemoryDesc, dtype=np.float32) -> np.ndarray:
    """A flat buffer large enough for memory of descriptor ``md``."""
    itemsize = np.dtype(dtype).itemsize
    return np.empty(max(1, -(-md.size // itemsize)), dtype)
