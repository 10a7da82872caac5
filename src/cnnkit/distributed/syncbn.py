"""Synchronised batch normalisation: in training, the batch statistics of the global batch (all processes).

Forward: each process sums x and x^2 per channel over its share (in float64), one Allreduce adds the sums and
counts over processes, and every process normalises with the global mean and biased variance (the running
statistics get the unbiased global variance, as one process with the whole batch would).

Backward: the gradient of a global batch's mean loss through the global statistics needs two sums over the
global batch, sum(dy) and sum(dy * xhat), per channel — one more Allreduce. Each process's loss averages over its
own share of ``m_r`` of the ``M`` values per channel, so its upstream gradient is scaled by ``w_r = m_r / M`` to
the global loss before the sums, and the input gradient scaled back by ``1 / w_r`` (the gradient averaging after
backward weights each process by its share again). With one process this is ordinary batch norm.
"""

from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..functional import batch_norm
from ..nn.normalization import BatchNorm1d, BatchNorm2d, _BatchNorm
from .world import World, world

__all__ = ["SyncBatchNorm1d", "SyncBatchNorm2d", "convert_sync_batchnorm", "SyncBatchNormFunction"]


def _axes(x: np.ndarray) -> tuple[int, ...]:
    return (0,) + tuple(range(2, x.ndim))


def _channel_shape(x: np.ndarray) -> tuple[int, ...]:
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


class SyncBatchNormFunction(Function):
    """Batch norm in training mode over the global batch of ``group`` (see the module docstring)."""

    def forward(self, x, running_mean, running_var, weight, bias, group=None, momentum=0.1, eps=1e-5):
        c = x.shape[1]
        axes = _axes(x)
        count = x.size // c
        x64 = x.astype(np.float64, copy=False)
        stats = np.empty(2 * c + 1, dtype=np.float64)
        stats[:c] = x64.sum(axis=axes)
        stats[c:2 * c] = np.square(x64).sum(axis=axes)
        stats[-1] = count
        group.allreduce_(stats, "sync batch norm (forward)")
        total = stats[-1]
        mean = stats[:c] / total
        var = np.maximum(stats[c:2 * c] / total - mean * mean, 0.0)
        invstd = 1.0 / np.sqrt(var + eps)
        shape = _channel_shape(x)
        xhat = ((x64 - mean.reshape(shape)) * invstd.reshape(shape)).astype(x.dtype)
        y = xhat * weight.reshape(shape) if weight is not None else xhat.copy()
        if bias is not None:
            y += bias.reshape(shape)
        if running_mean is not None:
            unbiased = var * total / max(total - 1.0, 1.0)
            running_mean *= 1.0 - momentum
            running_mean += (momentum * mean).astype(running_mean.dtype)
            running_var *= 1.0 - momentum
            running_var += (momentum * unbiased).astype(running_var.dtype)
        self.xhat, self.invstd, self.weight, self.group = xhat, invstd, weight, group
        self.share, self.total = count / total, total
        return y.astype(x.dtype, copy=False)

    def backward(self, g):
        need = self.needs_input_grad
        xhat, c = self.xhat, g.shape[1]
        axes = _axes(g)
        g64 = g.astype(np.float64, copy=False)
        local = np.empty(2 * c, dtype=np.float64)
        local[:c] = g64.sum(axis=axes)
        local[c:] = (g64 * xhat).sum(axis=axes)
        dbias = local[:c].astype(g.dtype) if len(need) > 4 and need[4] else None
        dweight = local[c:].astype(g.dtype) if len(need) > 3 and need[3] else None
        dx = None
        if need[0]:
            sums = local * self.share  # this process's part of the global loss's sums
            self.group.allreduce_(sums, "sync batch norm (backward)")
            shape = _channel_shape(g)
            scale = self.invstd if self.weight is None else self.invstd * self.weight.astype(np.float64)
            mean_dy = (sums[:c] / self.total / self.share).reshape(shape)
            mean_dy_xhat = (sums[c:] / self.total / self.share).reshape(shape)
            dx = ((g64 - mean_dy - xhat * mean_dy_xhat) * scale.reshape(shape)).astype(g.dtype)
        return dx, None, None, dweight, dbias


class _SyncMixin:
    """Training-mode forward over the global batch of ``self.group`` (the process world by default)."""

    group: World | None = None

    def forward(self, input):
        group = self.group if self.group is not None else world()
        if not (self.training and group.size > 1):
            return super().forward(input)
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.data += 1
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked.data)
        if input.shape[0] * int(np.prod(input.shape[2:])) < 1:
            return batch_norm(input, None, None, self.weight, self.bias, True, factor, self.eps)
        return SyncBatchNormFunction.apply(input, self.running_mean, self.running_var, self.weight, self.bias,
                                           group=group, momentum=factor, eps=self.eps)


class SyncBatchNorm2d(_SyncMixin, BatchNorm2d):
    """:class:`~cnnkit.nn.BatchNorm2d` whose training statistics are those of the global batch (same state dict)."""


class SyncBatchNorm1d(_SyncMixin, BatchNorm1d):
    """:class:`~cnnkit.nn.BatchNorm1d` whose training statistics are those of the global batch (same state dict)."""


def convert_sync_batchnorm(model, group: World | None = None):
    """Turn every BatchNorm1d/2d of ``model`` into its synchronised form in place (the parameters, buffers and
    state-dict keys stay); ``group`` is the process world by default. Returns the model."""
    for module in model.modules():
        if isinstance(module, _SyncMixin) or not isinstance(module, _BatchNorm):
            continue
        if isinstance(module, BatchNorm2d):
            object.__setattr__(module, "__class__", SyncBatchNorm2d)
        elif isinstance(module, BatchNorm1d):
            object.__setattr__(module, "__class__", SyncBatchNorm1d)
        else:
            continue
        if group is not None:
            object.__setattr__(module, "group", group)
    return model
