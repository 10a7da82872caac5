"""Numba, set up in one place and compiled lazily.

``import cnnkit`` does not import Numba or compile anything: a kernel decorated with :func:`njit` compiles on
its first call (for the dtypes it is called with) and is cached on disk, so later processes load it instead.

The on-disk cache normally lives in ``__pycache__`` beside the source. When the package folder is read-only
(a system-wide install) and the user has not chosen ``NUMBA_CACHE_DIR``, a writable folder is used instead:
``$XDG_CACHE_HOME/cnnkit/numba`` (``~/.cache/cnnkit/numba``), or one under the temporary directory.
"""

from __future__ import annotations

import os
import tempfile
import threading

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_numba = None  # the numba module once set up
_compile_lock = threading.Lock()  # the worker threads may reach a kernel's first call together


def _writable(path: str) -> bool:
    """Whether files can be created in ``path`` (or in its nearest existing parent, which would create it)."""
    while path and not os.path.isdir(path):
        parent = os.path.dirname(path)
        if parent == path:
            return False
        path = parent
    return os.access(path, os.W_OK | os.X_OK)


def _candidate_dirs() -> list[str]:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    user = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    return [os.path.join(base, "cnnkit", "numba"), os.path.join(tempfile.gettempdir(), f"cnnkit-numba-{user}")]


def cache_dir_fallback(package_dir: str | None = None, environ=None) -> str | None:
    """The folder to use as ``NUMBA_CACHE_DIR``, or None when Numba's default (beside the sources) is fine:
    None if the user has set ``NUMBA_CACHE_DIR`` or if ``package_dir`` (default: the cnnkit package) is writable,
    else the first writable candidate folder."""
    environ = os.environ if environ is None else environ
    if environ.get("NUMBA_CACHE_DIR"):
        return None
    package_dir = _PACKAGE_DIR if package_dir is None else package_dir
    if _writable(os.path.join(package_dir, "kernels", "__pycache__")):
        return None
    for candidate in _candidate_dirs():
        if _writable(candidate):
            return candidate
    return None


def setup():
    """Import Numba after pointing its cache at a writable folder when needed; returns the numba module."""
    global _numba
    if _numba is None:
        fallback = cache_dir_fallback()
        if fallback is not None:
            os.makedirs(fallback, exist_ok=True)
            os.environ["NUMBA_CACHE_DIR"] = fallback
        import numba

        if fallback is not None:  # numba may have been imported (and read its config) before us
            numba.config.CACHE_DIR = fallback
        _numba = numba
    return _numba


class LazyKernel:
    """A Python function that Numba compiles on the first call; ``py_func`` is the plain-Python original."""

    def __init__(self, fn, options: dict):
        self.py_func = fn
        self.options = options
        self.compiled = None
        self.__name__ = fn.__name__
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    def compile(self):
        with _compile_lock:
            if self.compiled is None:
                self.compiled = setup().njit(**self.options)(self.py_func)
        return self.compiled

    def __call__(self, *args):
        kernel = self.compiled
        if kernel is None:
            kernel = self.compile()
        return kernel(*args)


def njit(fn=None, **options):
    """``@njit`` (or ``@njit(parallel=True)``): a :class:`LazyKernel` compiled with ``cache=True``,
    ``nogil=True`` (the worker threads run kernels side by side) and ``fastmath=False`` unless overridden."""
    options = {"cache": True, "nogil": True, "fastmath": False, **options}
    if fn is None:
        return lambda f: LazyKernel(f, options)
    return LazyKernel(fn, options)
