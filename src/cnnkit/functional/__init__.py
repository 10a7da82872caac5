"""Differentiable operations, one module per family (also available as ``cnnkit.nn.functional``).

Each op is a :class:`~cnnkit.autograd.Function` with ``forward`` and ``backward`` side by side, plus the
public function that validates its arguments and calls it.
"""

from ..autograd import Tensor as _Tensor  # noqa: I001 - the Tensor type loads first, then gets its operators
from . import math as _math, shape as _shape
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
from .spp import *  # noqa: F403

# Tensor's operators and methods live with their Functions here; the Tensor type itself knows nothing of them.
_math.attach_tensor_methods(_Tensor)
_shape.attach_tensor_methods(_Tensor)

__all__ = [name for name in dir() if not name.startswith("_")]
