"""The library's random number generator: one seeded NumPy Generator that init, dropout and shuffling share.

``manual_seed(n)`` makes a run repeatable; ``get_rng_state``/``set_rng_state`` let a checkpoint resume the
exact stream; ``spawn(k)`` splits independent streams (per data-loader worker or per process).
"""

from __future__ import annotations

import numpy as np

from .errors import InputTypeError

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the global generator (PCG64) and return it."""
    global _generator
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise InputTypeError(f"manual_seed: expected an int seed, got {type(seed).__name__}")
    _generator = np.random.default_rng(int(seed))
    return _generator


def get_rng() -> np.random.Generator:
    """The global generator (reseeded by ``manual_seed``)."""
    return _generator


def get_rng_state() -> dict:
    """A JSON-friendly copy of the generator state, for checkpoints."""
    return _generator.bit_generator.state


def set_rng_state(state: dict) -> None:
    """Restore a state returned by ``get_rng_state``."""
    _generator.bit_generator.state = state


def spawn(n: int) -> list[np.random.Generator]:
    """``n`` independent child generators drawn from the global one (per worker or per process)."""
    return _generator.spawn(n)
