"""Normalisation: batch_norm (training and inference, with running statistics) and local_response_norm."""

from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..errors import InputError
from ..kernels import norm as K
from ..kernels.backend import kernels_for
from . import _checks


class BatchNorm(Function):
    """Batch normalisation over every axis but the channel axis (1). Runs on the backend's kernels.

    Training: y = (x - mean_B) / sqrt(var_B + eps) * weight + bias with the batch's mean and biased variance;
    the running statistics (when given) are updated in place:
    running = (1 - momentum) * running + momentum * stat, with the unbiased batch variance for running_var.
    Inference: the same formula with the running statistics.
    """

    def forward(self, x, running_mean, running_var, weight, bias, training=False, momentum=0.1, eps=1e-5):
        self.w_shape = None if weight is None else np.shape(weight)
        self.b_shape = None if bias is None else np.shape(bias)
        if x.size == 0:  # an empty batch: nothing to normalise, no statistics to update (as PyTorch)
            self.kernels, self.shape, self.dtype = None, x.shape, x.dtype
            return np.zeros(x.shape, x.dtype)
        self.kernels = kernels_for("batch_norm", x.dtype, training=training)
        y, self.saved = self.kernels.batch_norm_forward(x, running_mean, running_var, weight, bias, training,
                                                        momentum, eps)
        return y

    def backward(self, g):
        need = self.needs_input_grad
        if self.kernels is None:
            zeros = [None if shape is None else np.zeros(shape, self.dtype) for shape in (self.w_shape, self.b_shape)]
            return np.zeros(self.shape, self.dtype), None, None, *zeros
        dx, dw, db = self.kernels.batch_norm_backward(g, self.saved, need[0], len(need) > 3 and need[3],
                                                      len(need) > 4 and need[4])
        if dw is not None:
            dw = dw.reshape(self.w_shape)
        if db is not None:
            db = db.reshape(self.b_shape)
        return dx, None, None, dw, db


class LocalResponseNorm(Function):
    """y_c = x_c / (k + alpha / size * sum over a window of ``size`` channels around c of x_j^2) ^ beta."""

    def forward(self, x, size, alpha=1e-4, beta=0.75, k=1.0):
        self.x, self.size, self.alpha, self.beta = x, size, alpha, beta
        y, self.d = K.lrn_forward(x, size, alpha, beta, k)
        return y

    def backward(self, g):
        return K.lrn_backward(g, self.x, self.d, self.size, self.alpha, self.beta)


# ------------------------------------------------------------------------------ public functions


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training: bool = False,  # noqa: A002
               momentum: float = 0.1, eps: float = 1e-5):
    """Batch normalisation of (N, C), (N, C, L), (N, C, H, W), ... over all axes except the channel axis 1.

        y = (x - mean) / sqrt(var + eps) * weight + bias

    With ``training`` the batch's mean and biased variance are used, and ``running_mean``/``running_var`` (when
    given, as Tensors or ndarrays) are updated in place with ``momentum`` (running_var gets the unbiased batch
    variance). Otherwise the running statistics are used. ``weight`` and ``bias`` are optional (C,) tensors.
    """
    op = "batch_norm"
    x = _checks.array_arg(op, input)
    _checks.check_float(op, x)
    if x.ndim < 2:
        raise InputError(f"{op}: expected an input (N, C, ...) with at least 2 dimensions, got shape {x.shape}")
    channels = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is None:
            continue
        a = _checks.array_arg(op, t, name)
        if a.size != channels:
            raise InputError(f"{op}: {name} has {a.size} elements but the input has {channels} channels "
                             f"(input shape {x.shape})")
        _checks.check_float(op, a, name)
        if name in ("weight", "bias"):
            _checks.check_same_dtype(op, x, a, name)
    if (running_mean is None) != (running_var is None):
        raise InputError(f"{op}: running_mean and running_var must be given together (or both None)")
    momentum = _checks.real(op, "momentum", momentum)
    eps = _checks.real(op, "eps", eps)
    if training:
        per_channel = x.shape[0] * int(np.prod(x.shape[2:]))
        if per_channel == 1:  # one value has no variance; no values (an empty batch) is an empty result
            raise InputError(f"{op}: expected more than 1 value per channel when training, got input shape {x.shape}")
        if eps <= 0:
            raise InputError(f"{op}: eps must be positive when training, got {eps}")
    else:
        if running_mean is None:
            raise InputError(f"{op}: running_mean and running_var are required when training=False")
        if eps < 0:
            raise InputError(f"{op}: eps must be non-negative, got {eps}")
    return BatchNorm.apply(input, running_mean, running_var, weight, bias, training=bool(training),
                           momentum=momentum, eps=eps)


def local_response_norm(input, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):  # noqa: A002
    """Local response normalisation across channels of (N, C, *spatial), at least 3-D:

        y_c = x_c / (k + alpha / size * sum_{j = c - size//2}^{c + (size-1)//2} x_j^2) ^ beta

    (channels outside [0, C) count as zero; the sum is always divided by ``size``, as PyTorch's average pool).
    """
    op = "local_response_norm"
    x = _checks.array_arg(op, input)
    _checks.check_float(op, x)
    if x.ndim < 3:
        raise InputError(f"{op}: expected an input with at least 3 dimensions (N, C, ...), got shape {x.shape}")
    size = _checks.integer(op, "size", size)
    if size < 1:
        raise InputError(f"{op}: size must be at least 1, got {size}")
    alpha, beta, k = (_checks.real(op, name, value) for name, value in (("alpha", alpha), ("beta", beta), ("k", k)))
    if x.size == 0:
        return _checks.tensor_arg(op, input)
    return LocalResponseNorm.apply(input, size=size, alpha=alpha, beta=beta, k=k)


__all__ = ["batch_norm", "local_response_norm"]
