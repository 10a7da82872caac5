"""Which random generator data code draws from.

Random transforms and datasets without their own ``rng``/``seed`` draw from :func:`current_rng`: the generator
that a :class:`~cnnkit.data.DataLoader` installs for the batch it is building (one stream per batch, so that
background prefetching and resuming mid-epoch give the same augmentations), or else the global generator
``cnnkit.random.get_rng()``.
"""

from __future__ import annotations

import contextlib
import threading

import numpy as np

from .. import random as _random
from ..errors import InputError, InputTypeError

_local = threading.local()


def current_rng() -> np.random.Generator:
    """The generator installed by :func:`use_rng` in this thread, else the global one."""
    rng = getattr(_local, "rng", None)
    return rng if rng is not None else _random.get_rng()


@contextlib.contextmanager
def use_rng(rng: np.random.Generator | None):
    """Within the block (in this thread), :func:`current_rng` returns ``rng``."""
    previous = getattr(_local, "rng", None)
    _local.rng = rng
    try:
        yield rng
    finally:
        _local.rng = previous


def make_rng(rng=None, seed=None, owner: str = "transform") -> np.random.Generator | None:
    """Own generator from ``rng`` (a Generator) or ``seed`` (an int); None means: draw from :func:`current_rng`."""
    if rng is not None and seed is not None:
        raise InputError(f"{owner}: pass rng or seed, not both")
    if rng is not None:
        if not isinstance(rng, np.random.Generator):
            raise InputTypeError(f"{owner}: rng must be a numpy.random.Generator, got {type(rng).__name__}")
        return rng
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise InputTypeError(f"{owner}: seed must be an int, got {type(seed).__name__}")
        return np.random.default_rng(int(seed))
    return None
