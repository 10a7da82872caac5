"""``Parameter``: a Tensor that a Module registers as learnable."""

from __future__ import annotations

import numpy as np

from ..autograd import Tensor

__all__ = ["Parameter"]


class Parameter(Tensor):
    """A leaf Tensor that requires grad by default; assigning one to a Module attribute registers it.

    ``Parameter(tensor)`` shares the tensor's array (like PyTorch); ``Parameter(ndarray)`` wraps the array
    without copying; ``Parameter()`` is an empty float32 parameter.
    """

    __slots__ = ()

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            data = np.empty((0,), dtype=np.float32)
        elif isinstance(data, Tensor):
            data = data.data
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, protocol):
        return (_rebuild_parameter, (self.data, self.requires_grad, self.grad))

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        result = Parameter(self.data.copy(), requires_grad=self.requires_grad)
        if self.grad is not None:
            result.grad = Tensor._wrap(self.grad.data.copy())
        memo[id(self)] = result
        return result


def _rebuild_parameter(data, requires_grad, grad):
    param = Parameter(data, requires_grad=requires_grad)
    param.grad = grad
    return param
