"""Differentiable operations, one module per family (also available as ``cnnkit.nn.functional``).

Each op is a :class:`~cnnkit.autograd.Function` with ``forward`` and ``backward`` side by side, plus the
public function that validates its arguments and calls it.
"""

from .. import autograd as _autograd  # noqa: F401,I001 - the Tensor type loads first, then attaches the ops
from .math import *  # noqa: F403
from .shape import *  # noqa: F403
from .conv import *  # noqa: F403
from .pool import *  # noqa: F403
from .activation import *  # noqa: F403
from .norm import *  # noqa: F403
from .dropout import *  # noqa: F403
from .linear import *  # noqa: F403
from .loss import *  # noqa: F403
from .upsample import *  # noqa: F403

__all__ = [name for name in dir() if not name.startswith("_")]
