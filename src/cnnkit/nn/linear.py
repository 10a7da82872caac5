"""``Linear`` (fully connected) and ``Identity``."""

from __future__ import annotations

import numpy as np

from .. import functional as F
from . import init
from ._utils import factory_dtype, non_negative_int
from .geometry import LayerCall, LayerGeometry, ParamCount
from .module import Module
from .parameter import Parameter

__all__ = ["Identity", "Linear"]


class Identity(Module):
    """Returns its input unchanged (accepts and ignores any constructor arguments)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class Linear(Module):
    """y = x W^T + b over the last dimension; weight (out_features, in_features), bias (out_features,)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.in_features = non_negative_int("Linear", "in_features", in_features)
        self.out_features = non_negative_int("Linear", "out_features", out_features)
        dt = factory_dtype("Linear", dtype, device)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype=dt))
        if bias:
            self.bias = Parameter(np.empty(self.out_features, dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.default_weight_and_bias_(self.weight, self.bias)

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def geometry(self, call: LayerCall) -> LayerGeometry:
        """MACs in*out per output row (the output's leading dimensions multiply); no window."""
        rows = int(np.prod(call.output_shape[:-1], dtype=np.int64)) if call.output_shape else 0
        return LayerGeometry(macs=self.in_features * self.out_features * rows,
                             params=ParamCount((self.in_features, self.out_features),
                                               self.out_features if self.bias is not None else 0))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
