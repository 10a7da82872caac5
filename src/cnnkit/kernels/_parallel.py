"""Batch-parallel work on a few threads, each running single-threaded BLAS.

The compute-heavy kernels split their batch into parts and call :func:`run` with a function of the part index.
The calling thread runs part 0 and persistent helper threads run the others; Numba kernels (compiled with
``nogil``) and BLAS release the GIL, so the parts really run side by side. Inside a part BLAS is told to use
one thread: two thread pools (ours and BLAS's, whose idle threads spin) fighting over the same cores is what
made the naive combination slow (see docs/performance.md).

``set_num_threads(n)`` changes the number of threads (default: the CPUs this process may use, at most 8, or
``CNNKIT_NUM_THREADS``). When BLAS's thread count cannot be controlled, everything runs on the calling thread.

Freed memory: a training step allocates and frees the same large activations every step. glibc hands blocks
above its mmap threshold back to the OS on free, so each step would fault in (and the kernel zero) every page
again, 10-20% of a ResNet step. When this module is imported (with ``import cnnkit``; it only works before the
large arrays come and go) glibc's mmap and trim thresholds are raised (mallopt) so freed blocks are reused; set
``CNNKIT_KEEP_FREED_MEMORY=0`` to leave the allocator alone.
"""

from __future__ import annotations

import ctypes
import glob
import os
import queue
import sys
import threading

import numpy as np

from ..errors import InputError

__all__ = ["get_num_threads", "set_num_threads", "run", "split"]


# ----------------------------------------------------------------------------------------------- BLAS threads
class _Blas:
    """Per-thread control of the OpenBLAS bundled with NumPy (found among the loaded libraries)."""

    def __init__(self):
        self.set_local = None  # int openblas_set_num_threads_local(int): returns the previous value
        self.set_global = self.get_global = None
        for path in self._libraries():
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            found_local = hasattr(lib, "openblas_set_num_threads_local")
            if found_local:
                fn = lib.openblas_set_num_threads_local
                fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
                self.set_local = fn
            for prefix in ("scipy_openblas", "openblas"):
                for suffix in ("64_", ""):
                    setter = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                    getter = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                    if setter is not None and getter is not None:
                        setter.argtypes, getter.restype = [ctypes.c_int], ctypes.c_int
                        self.set_global, self.get_global = setter, getter
                        return
            if found_local:
                return

    @staticmethod
    def _libraries() -> list[str]:
        found = []
        try:  # the libraries this process has loaded (Linux)
            with open("/proc/self/maps") as f:
                for line in f:
                    path = line.split()[-1]
                    if "openblas" in os.path.basename(path).lower() and path not in found:
                        found.append(path)
        except OSError:
            pass
        root = os.path.dirname(os.path.abspath(np.__file__))
        for pattern in (root + ".libs/*openblas*", os.path.join(root, ".dylibs", "*openblas*")):
            found += [p for p in sorted(glob.glob(pattern)) if p not in found]
        return found

    @property
    def controllable(self) -> bool:
        return self.set_local is not None or self.set_global is not None


_blas: _Blas | None = None


def _get_blas() -> _Blas:
    global _blas
    if _blas is None:
        _blas = _Blas()
    return _blas


# ----------------------------------------------------------------------------------------------- freed memory
MMAP_THRESHOLD = 128 << 20  # blocks up to this size come from (and return to) the heap
TRIM_THRESHOLD = 256 << 20  # free memory kept at the top of the heap before any is given back
_allocator_tuned = False


def keep_freed_memory() -> bool:
    """Raise glibc's mmap/trim thresholds once (see the module docstring); returns whether it was done."""
    global _allocator_tuned
    if _allocator_tuned:
        return True
    _allocator_tuned = True  # one attempt
    if os.environ.get("CNNKIT_KEEP_FREED_MEMORY", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_mmap_threshold, MMAP_THRESHOLD)) and bool(mallopt(m_trim_threshold, TRIM_THRESHOLD))


keep_freed_memory()

# ----------------------------------------------------------------------------------------------- the pool
def _default_threads() -> int:
    env = os.environ.get("CNNKIT_NUM_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))


_num_threads = _default_threads()
_helpers: list[_Helper] = []
_lock = threading.Lock()
_calls = 0  # numbers the calls of run(), so that results of an interrupted one are recognised
_local = threading.local()


class _Helper:
    """A daemon thread that runs ``fn(part)`` for each (fn, part) it receives, with single-threaded BLAS."""

    def __init__(self):
        self.tasks: queue.SimpleQueue = queue.SimpleQueue()
        self.results: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._loop, name="cnnkit-worker", daemon=True)
        self.thread.start()

    def _loop(self):
        _local.inside = True
        blas = _get_blas()
        if blas.set_local is not None:
            blas.set_local(1)
        while True:
            call, fn, part = self.tasks.get()
            try:
                self.results.put((call, True, fn(part)))
            except BaseException as err:  # noqa: BLE001 - handed to the caller, which re-raises it
                self.results.put((call, False, err))

    def result(self, call: int):
        """The outcome (ok, value) of this helper's part of ``call``, skipping results of abandoned calls (a
        caller interrupted by Ctrl-C while waiting leaves its helpers' results behind)."""
        while True:
            tag, ok, value = self.results.get()
            if tag == call:
                return ok, value


def get_num_threads() -> int:
    """Threads the parallel kernels use (1 when BLAS's own threading cannot be switched off inside them)."""
    return _num_threads if _get_blas().controllable else 1


def set_num_threads(n: int, blas: bool = False) -> None:
    """Use ``n`` threads (>= 1) for the parallel kernels (and, with ``blas``, for BLAS calls made outside them)."""
    global _num_threads
    if int(n) < 1:
        raise InputError(f"set_num_threads: expected a positive number of threads, got {n}")
    _num_threads = int(n)
    if blas and _get_blas().set_global is not None:
        _get_blas().set_global(int(n))


def _reset_after_fork() -> None:  # helper threads do not survive fork(); start new ones on demand
    global _helpers, _lock
    _helpers, _lock = [], threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def split(n: int, parts: int) -> list[tuple[int, int]]:
    """[lo, hi) ranges cutting range(n) into ``parts`` nearly equal pieces (empty ones dropped)."""
    parts = max(1, min(parts, n))
    step, extra = divmod(n, parts)
    bounds, lo = [], 0
    for k in range(parts):
        hi = lo + step + (k < extra)
        bounds.append((lo, hi))
        lo = hi
    return [b for b in bounds if b[1] > b[0]]


def ranges(n: int, work: float, min_work: float) -> list[tuple[int, int]]:
    """:func:`split` of range(n) over the threads when ``work`` (in the caller's unit) reaches ``min_work``,
    else one range: handing work to a helper thread costs tens of microseconds."""
    return split(n, get_num_threads() if work >= min_work else 1)


def run(fn, parts: int) -> list:
    """``[fn(0), ..., fn(parts - 1)]`` with the parts run side by side (at most one per thread).

    ``parts`` should not exceed :func:`get_num_threads`. Runs serially when called from inside a part, when
    another thread is using the pool, or when there is only one thread.
    """
    if parts <= 1 or getattr(_local, "inside", False) or not _lock.acquire(blocking=False):
        return [fn(k) for k in range(parts)]
    global _calls
    blas = _get_blas()
    global_previous = None
    try:
        _calls += 1
        call = _calls
        while len(_helpers) < parts - 1:
            _helpers.append(_Helper())
        for k in range(1, parts):
            _helpers[k - 1].tasks.put((call, fn, k))
        previous = blas.set_local(1) if blas.set_local is not None else None
        if blas.set_local is None and blas.set_global is not None:
            global_previous = blas.get_global()
            blas.set_global(1)
        _local.inside = True
        try:
            first = [(True, fn(0))]
        except BaseException as err:  # noqa: BLE001 - re-raised below, after the helpers are done
            first = [(False, err)]
        finally:
            _local.inside = False
            if previous is not None:
                blas.set_local(previous)
        outcomes = first + [_helpers[k - 1].result(call) for k in range(1, parts)]
    finally:
        if global_previous is not None:
            blas.set_global(global_previous)
        _lock.release()
    for ok, value in outcomes:
        if not ok:
            raise value
    return [value for _, value in outcomes]
