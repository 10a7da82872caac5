"""The differentiable ops, re-exported so that ``import cnnkit.nn.functional as F`` works (as in PyTorch).

This module is a view of :mod:`cnnkit.functional`; names are looked up there at call time so ops added to
it later are visible here too.
"""

from .. import functional as _functional
from ..functional import *  # noqa: F403


def __getattr__(name: str):
    try:
        return getattr(_functional, name)
    except AttributeError:
        raise AttributeError(f"module 'cnnkit.nn.functional' has no attribute {name!r}") from None


def __dir__():
    return sorted(set(globals()) | set(dir(_functional)))
