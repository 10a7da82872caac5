"""The one exception type for problems with what a user gave cnnkit.

Every check at a public boundary (an op's arguments, a layer's configuration, a dataset or checkpoint file, a run
configuration) raises :class:`InputError` — a ``ValueError`` — or, where the problem is the *type* of an argument,
:class:`InputTypeError`, which is both an ``InputError`` and a ``TypeError`` (so ``except TypeError`` keeps working
as it does with PyTorch). The message names the operation, what was expected and what was received, e.g.::

    conv2d: input has 3 channels but weight expects 1 (weight shape (6, 1, 5, 5))

Anything else that escapes cnnkit is a bug in cnnkit: the ``cnnkit`` command prints one line and exits with
status 2 for an ``InputError`` (or a file-system error), and a traceback with status 1 for anything else.
"""

from __future__ import annotations

__all__ = ["InputError", "InputTypeError", "StateDictError"]


class InputError(ValueError):
    """A user-input problem: the message says what was expected and what was received.

    ``field`` optionally names the setting the user can change to fix it (a run-configuration field or a keyword
    argument, e.g. ``"data_dir"``), so a front end can point at its own spelling of it (a command-line flag).
    """

    def __init__(self, message: str = "", *, field: str | None = None):
        super().__init__(message)
        self.field = field


class InputTypeError(InputError, TypeError):
    """A user-input problem with an argument's type (also a ``TypeError``)."""


class StateDictError(InputError, RuntimeError):
    """A state dict (or checkpoint) that does not fit the model it is loaded into: missing or unexpected keys,
    wrong shapes (also a ``RuntimeError``, as PyTorch's ``load_state_dict`` raises)."""
