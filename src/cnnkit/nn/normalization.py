"""Normalisation layers: ``BatchNorm1d``, ``BatchNorm2d`` and ``LocalResponseNorm``."""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..errors import InputError
from . import init
from ._utils import factory_dtype, positive_int
from .geometry import LayerCall, LayerGeometry, ParamCount
from .module import Module
from .parameter import Parameter
from .utils import fusion as _fusion

__all__ = ["BatchNorm1d", "BatchNorm2d", "LocalResponseNorm"]


class _BatchNorm(Module):
    """Batch normalisation over the channel dimension (dim 1).

    Parameters ``weight`` (ones) and ``bias`` (zeros) when ``affine``; buffers ``running_mean`` (zeros),
    ``running_var`` (ones) and ``num_batches_tracked`` (int64 0) when ``track_running_stats``. In training the
    batch statistics are used and the running ones updated with ``momentum`` (None: a cumulative average,
    1/num_batches_tracked); in eval the running statistics are used.
    """

    _optional_state_keys = ("num_batches_tracked",)  # older checkpoints lack it (PyTorch fills in 0)

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None, *, bias: bool = True):
        super().__init__()
        name = type(self).__name__
        self.num_features = positive_int(name, "num_features", num_features)
        if momentum is not None and not 0 <= momentum <= 1:
            raise InputError(f"{name}: momentum must be in [0, 1] or None, got {momentum!r}")
        if not eps > 0:
            raise InputError(f"{name}: eps must be positive, got {eps!r}")
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        dt = factory_dtype(name, dtype, device)
        if affine:
            self.weight = Parameter(np.empty(self.num_features, dtype=dt))
            if bias:
                self.bias = Parameter(np.empty(self.num_features, dtype=dt))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(self.num_features, dtype=dt))
            self.register_buffer("running_var", np.ones(self.num_features, dtype=dt))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def _check_input_dim(self, input) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, input):
        self._check_input_dim(input)
        if input.shape[1] != self.num_features and (self.affine or self.track_running_stats):
            raise InputError(f"{type(self).__name__}: expected {self.num_features} channels (dim 1) but got input "
                             f"of shape {tuple(input.shape)}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.data += 1
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked.data)
        use_batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        if not use_batch_stats and isinstance(input, _fusion.PendingConv):  # fold into the pending convolution
            fused = input.with_batch_norm(self.weight, self.bias, self.running_mean, self.running_var, self.eps)
            if fused is not None:
                return fused
        track = not self.training or self.track_running_stats
        return F.batch_norm(input, self.running_mean if track else None, self.running_var if track else None,
                            self.weight, self.bias, use_batch_stats, factor, self.eps)

    def geometry(self, call: LayerCall) -> LayerGeometry:
        """No MACs (normalisation is not counted), no window; the parameters are a scale and a shift per
        channel."""
        terms = (self.weight is not None) + (self.bias is not None)
        return LayerGeometry(params=ParamCount((terms, self.num_features) if terms else ()))

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) input."""

    def _check_input_dim(self, input) -> None:
        if input.ndim not in (2, 3):
            raise InputError(f"BatchNorm1d: expected 2D or 3D input (got {input.ndim}D input of shape "
                             f"{tuple(input.shape)})")


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) input."""

    def _check_input_dim(self, input) -> None:
        if input.ndim != 4:
            raise InputError(f"BatchNorm2d: expected 4D input (got {input.ndim}D input of shape "
                             f"{tuple(input.shape)})")


class LocalResponseNorm(Module):
    """Local response normalisation across ``size`` neighbouring channels (AlexNet):
    b = a / (k + alpha/size * sum a^2) ** beta."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size = positive_int("LocalResponseNorm", "size", size)
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input):
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
