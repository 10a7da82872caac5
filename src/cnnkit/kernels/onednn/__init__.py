"""The oneDNN backend (``"onednn"``): oneDNN's JIT convolution, pooling and batch-norm primitives through ctypes.

Imported on first use of the backend (never by ``import cnnkit``); the library itself loads on the first call that
needs it. See :mod:`._lib` for where the library and its OpenMP runtime come from, :mod:`.kernels` for the kernels
and :mod:`._weights` for how weight copies are kept in step with their parameters.
"""

from ._lib import LIBRARY_VARIABLE
from .kernels import OneDNNKernels

__all__ = ["OneDNNKernels", "LIBRARY_VARIABLE"]
