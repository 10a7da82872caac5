"""Losses: cross-entropy, NLL, MSE, L1, smooth L1, Huber, binary cross-entropy (plain and with logits).

Definitions, signatures and defaults are PyTorch's. Every loss takes ``reduction`` = 'mean' | 'sum' | 'none'
and is one fused :class:`~cnnkit.autograd.Function` (cross-entropy fuses log-softmax with the NLL; its backward
is ``softmax * sum_c q_c - q`` for the per-sample class coefficients ``q``). The loss has the dtype of the input;
targets are cast to it. Class weights, ``weight`` of the binary losses and ``pos_weight`` are constants (no
gradient, as in PyTorch); the per-element ``weight`` of mse/l1/huber is differentiable (as in PyTorch).
"""

from __future__ import annotations

import numpy as np

from ..autograd import Function, Tensor, is_grad_enabled
from ..errors import InputError, InputTypeError
from ..kernels.softmax import log_softmax
from . import _checks

_REDUCTIONS = ("mean", "sum", "none")
_BCE_EPS = float(np.float32(1e-12))  # floor of x (1 - x) in the BCE gradient: PyTorch's constant, a float32 1e-12


# ------------------------------------------------------------------------------ array helpers


def _reduce(loss: np.ndarray, reduction: str, denom) -> np.ndarray:
    """'none' -> loss, 'sum' -> sum(loss), 'mean' -> sum(loss) / denom (NaN when denom is 0, as PyTorch)."""
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return np.asarray(total)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(total / denom)


def _scale(g: np.ndarray, reduction: str, denom):
    """Upstream gradient times d(reduced)/d(loss_i): g for 'none' and 'sum', g / denom for 'mean'."""
    if reduction == "mean":
        with np.errstate(divide="ignore", invalid="ignore"):
            return g / denom
    return g


def _at_class(a):
    """Broadcast a per-sample array of shape (N, d1, ...) against (N, C, d1, ...); scalars pass through."""
    return np.expand_dims(a, 1) if np.ndim(a) else a


def _class_view(w: np.ndarray, ndim: int) -> np.ndarray:
    """A class vector (C,) shaped to broadcast along axis 1 of an (N, C, d1, ...) array."""
    return w.reshape((1, -1) + (1,) * (ndim - 2))


def _pick(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """x[n, t[n, ...], ...]: the class entry of each sample, shape (N, d1, ...)."""
    if x.ndim == 2:
        return x[np.arange(x.shape[0]), t]
    return np.take_along_axis(x, np.expand_dims(t, 1), axis=1)[:, 0]


def _sub_at(x: np.ndarray, t: np.ndarray, v) -> None:
    """x[n, t[n, ...], ...] -= v in place (each sample has one target class, so no index repeats)."""
    if x.ndim == 2:
        x[np.arange(x.shape[0]), t] -= v
        return
    idx = np.expand_dims(t, 1)
    np.put_along_axis(x, idx, np.take_along_axis(x, idx, axis=1) - _at_class(v), axis=1)


def _class_dot(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """sum_c x[n, c, ...] * w[c] with shape (N, d1, ...), without a full-size temporary."""
    n, c = x.shape[:2]
    return np.matmul(w, x.reshape(n, c, -1)).reshape((n,) + x.shape[2:])


def _index_targets(t: np.ndarray, ignore_index: int):
    """(targets safe to index with, mask of non-ignored samples or None when none is ignored)."""
    valid = t != ignore_index
    if valid.all():
        return t, None
    return np.where(valid, t, 0), valid


def _target_weights(weight, tt, valid, dtype):
    """w[y_n] (zero where ignored; None when unweighted and nothing is ignored) and their sum."""
    if weight is None:
        if valid is None:
            return None, tt.size
        return valid.astype(dtype), int(np.count_nonzero(valid))
    wy = weight[tt]
    if valid is not None:
        wy[~valid] = 0
    return wy, wy.sum()


# ------------------------------------------------------------------------------ class-index losses


class CrossEntropy(Function):
    """Fused log-softmax + NLL over class indices, with class weights w, ignore_index and label smoothing eps:

        loss_n = (1 - eps) w[y_n] (-logp[n, y_n]) + (eps / C) sum_c w[c] (-logp[n, c]),   0 if y_n is ignored
        mean   = sum_n loss_n / sum_{n not ignored} w[y_n]

    Writing loss_n = -sum_c q[n, c] logp[n, c], the gradient is d loss_n / d x[n, c] = p[n, c] sum_k q[n, k] - q[n, c]
    with p = softmax(x). Inputs (N, C, d1, ...) with targets (N, d1, ...), or unbatched (C,) with a 0-d target.
    """

    def forward(self, x, target, weight=None, *, reduction="mean", ignore_index=-100, label_smoothing=0.0):
        self.unbatched = x.ndim == 1
        if self.unbatched:
            x, target = x[None], np.reshape(target, (1,))
        eps, c = label_smoothing, x.shape[1]
        logp = log_softmax(x, axis=1)
        tt, valid = _index_targets(target, ignore_index)
        wy, denom = _target_weights(weight, tt, valid, x.dtype)
        loss = -_pick(logp, tt)
        if wy is not None:
            loss *= wy
        if eps > 0:
            loss *= 1 - eps
            smooth = logp.sum(axis=1) if weight is None else _class_dot(logp, weight)
            smooth *= -eps / c
            if valid is not None:
                smooth[~valid] = 0
            loss += smooth
        self.logp, self.tt, self.valid, self.wy, self.weight = logp, tt, valid, wy, weight
        self.reduction, self.denom, self.eps = reduction, denom, eps
        out = _reduce(loss, reduction, denom)
        return out.reshape(()) if self.unbatched else out

    def backward(self, g):
        if self.unbatched:
            g = g.reshape((1,))
        logp, tt, valid, wy, weight, eps = self.logp, self.tt, self.valid, self.wy, self.weight, self.eps
        a = _scale(g, self.reduction, self.denom)
        if valid is not None:  # ignored samples get no gradient (also when the 'mean' denominator is 0)
            a = np.where(valid, a, 0).astype(logp.dtype, copy=False)
        c = logp.shape[1]
        grad = np.exp(logp)
        if weight is None:  # sum_k q[n, k] = 1 (times the mask, already in a)
            grad *= _at_class(a)
            if eps > 0:
                grad -= _at_class(a * (eps / c))
        else:  # sum_k q[n, k] = (1 - eps) w[y_n] + (eps / C) sum_k w[k]
            grad *= _at_class(a * ((1 - eps) * wy + (eps / c) * weight.sum()))
            if eps > 0:
                grad -= _at_class(a * (eps / c)) * _class_view(weight, logp.ndim)
        hit = a * (1 - eps) if wy is None else a * (1 - eps) * wy
        _sub_at(grad, tt, hit)
        return (grad[0] if self.unbatched else grad), None, None


class CrossEntropyProbs(Function):
    """Fused log-softmax + cross-entropy against class probabilities t (PyTorch's soft-target definition):

        q = w * ((1 - eps) t + eps / C),   loss_n = -sum_c q[n, c] logp[n, c],   mean = sum_n loss_n / N

    (N counts every position of (N, d1, ...)). d loss / d x = p sum_c q - q and d loss / d t = -(1 - eps) w logp.
    """

    def forward(self, x, target, weight=None, *, reduction="mean", label_smoothing=0.0):
        self.unbatched = x.ndim == 1
        if self.unbatched:
            x, target = x[None], target[None]
        eps, c = label_smoothing, x.shape[1]
        t = target.astype(x.dtype, copy=False)
        logp = log_softmax(x, axis=1)
        q = t
        if eps > 0:
            q = t * (1 - eps)
            q += eps / c
        if weight is not None:
            wb = _class_view(weight, x.ndim)
            q = q * wb if q is t else np.multiply(q, wb, out=q)
        loss = np.einsum("nc...,nc...->n...", logp, q)
        np.negative(loss, out=loss)
        self.logp, self.q, self.weight, self.eps = logp, q, weight, eps
        self.reduction, self.denom, self.target_dtype = reduction, loss.size, target.dtype
        out = _reduce(loss, reduction, loss.size)
        return out.reshape(()) if self.unbatched else out

    def backward(self, g):
        if self.unbatched:
            g = g.reshape((1,))
        logp, q = self.logp, self.q
        a = _at_class(_scale(g, self.reduction, self.denom))
        gx = gt = None
        if self.needs_input_grad[0]:
            gx = np.exp(logp)
            gx *= a * q.sum(axis=1, keepdims=True)
            gx -= a * q
            if self.unbatched:
                gx = gx[0]
        if self.needs_input_grad[1]:
            gt = logp * (a * -(1 - self.eps))
            if self.weight is not None:
                gt *= _class_view(self.weight, logp.ndim)
            gt = (gt[0] if self.unbatched else gt).astype(self.target_dtype, copy=False)
        return gx, gt, None


class NLLLoss(Function):
    """Negative log-likelihood of log-probabilities x at class indices y, with class weights w and ignore_index:

        loss_n = -w[y_n] x[n, y_n]  (0 if y_n is ignored),   mean = sum_n loss_n / sum_{n not ignored} w[y_n]
    """

    def forward(self, x, target, weight=None, *, reduction="mean", ignore_index=-100):
        self.unbatched = x.ndim == 1
        if self.unbatched:
            x, target = x[None], np.reshape(target, (1,))
        tt, valid = _index_targets(target, ignore_index)
        wy, denom = _target_weights(weight, tt, valid, x.dtype)
        loss = -_pick(x, tt)
        if wy is not None:
            loss *= wy
        self.shape, self.dtype, self.tt, self.valid, self.wy = x.shape, x.dtype, tt, valid, wy
        self.reduction, self.denom = reduction, denom
        out = _reduce(loss, reduction, denom)
        return out.reshape(()) if self.unbatched else out

    def backward(self, g):
        if self.unbatched:
            g = g.reshape((1,))
        a = _scale(g, self.reduction, self.denom)
        if self.valid is not None:
            a = np.where(self.valid, a, 0).astype(self.dtype, copy=False)
        grad = np.zeros(self.shape, dtype=self.dtype)
        _sub_at(grad, self.tt, a if self.wy is None else a * self.wy)
        return (grad[0] if self.unbatched else grad), None, None


# ------------------------------------------------------------------------------ regression losses


class _Pointwise(Function):
    """Shared body of the regression losses: loss_i = w_i f(x_i - y_i) with reduction.

    A weighted 'mean' divides by sum(w) (mse, l1) or by the element count (huber), as PyTorch does.
    """

    mean_by_weight = True

    def value(self, d):  # pragma: no cover - abstract
        raise NotImplementedError

    def slope(self, d):  # pragma: no cover - abstract
        raise NotImplementedError

    def run(self, x, y, weight, reduction):
        d = x - y.astype(x.dtype, copy=False)
        e = self.value(d)
        loss, denom = e, e.size
        if weight is not None:
            weight = weight.astype(x.dtype, copy=False)
            loss = e * weight
            if self.mean_by_weight:
                denom = weight.sum()
        out = _reduce(loss, reduction, denom)
        self.d, self.weight, self.reduction, self.denom, self.out = d, weight, reduction, denom, out
        self.e = e if weight is not None else None  # kept for the gradient of the weight
        self.target_dtype = y.dtype
        return out

    def backward(self, g):
        need = self.needs_input_grad
        a = _scale(g, self.reduction, self.denom)
        gx = gy = gw = None
        if need[0] or need[1]:
            s = self.slope(self.d)
            s *= a
            if self.weight is not None:
                s *= self.weight
            gx = s if need[0] else None
            gy = np.negative(s).astype(self.target_dtype, copy=False) if need[1] else None
        if len(need) > 2 and need[2]:
            if self.reduction == "mean" and self.mean_by_weight:  # d/dw_i (sum w e / sum w) = (e_i - mean) / sum w
                gw = (self.e - self.out) * a
            else:
                gw = self.e * a
        return gx, gy, gw


class MSELoss(_Pointwise):
    """Squared error (x - y)^2."""

    def forward(self, x, y, weight=None, *, reduction="mean"):
        return self.run(x, y, weight, reduction)

    def value(self, d):
        return d * d

    def slope(self, d):
        return d * 2


class L1Loss(_Pointwise):
    """Absolute error |x - y| (gradient sign(x - y), 0 at 0)."""

    def forward(self, x, y, weight=None, *, reduction="mean"):
        return self.run(x, y, weight, reduction)

    def value(self, d):
        return np.abs(d)

    def slope(self, d):
        return np.sign(d)


class SmoothL1Loss(_Pointwise):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = x - y; beta = 0 is the L1 loss)."""

    def forward(self, x, y, *, reduction="mean", beta=1.0):
        self.beta = beta
        return self.run(x, y, None, reduction)

    def value(self, d):
        ad = np.abs(d)
        if self.beta == 0:
            return ad
        return np.where(ad < self.beta, (0.5 / self.beta) * d * d, ad - 0.5 * self.beta)

    def slope(self, d):
        if self.beta == 0:
            return np.sign(d)
        s = d / self.beta
        return np.clip(s, -1, 1, out=s)


class HuberLoss(_Pointwise):
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta) (d = x - y); gradient clip(d, -delta, delta)."""

    mean_by_weight = False

    def forward(self, x, y, weight=None, *, reduction="mean", delta=1.0):
        self.delta = delta
        return self.run(x, y, weight, reduction)

    def value(self, d):
        ad = np.abs(d)
        return np.where(ad < self.delta, 0.5 * d * d, self.delta * (ad - 0.5 * self.delta))

    def slope(self, d):
        return np.clip(d, -self.delta, self.delta)


# ------------------------------------------------------------------------------ binary losses


class _BinaryLoss(Function):
    """What the two binary cross-entropies share: an optional elementwise ``weight`` and the reduction."""

    def _reduced(self, loss, y, weight, reduction):
        """Weight the elementwise loss, remember what backward needs and reduce it."""
        if weight is not None:
            loss *= weight
        self.weight, self.reduction, self.denom, self.target_dtype = weight, reduction, loss.size, y.dtype
        return _reduce(loss, reduction, loss.size)

    def _upstream(self, g):
        """d(reduced loss)/d(elementwise loss) times the upstream gradient, weight included."""
        a = _scale(g, self.reduction, self.denom)
        return a if self.weight is None else a * self.weight


class BinaryCrossEntropy(_BinaryLoss):
    """-w (y log x + (1 - y) log(1 - x)) for probabilities x, with both logs clamped at -100 (PyTorch).

    d/dx = w (x - y) / max(x (1 - x), 1e-12),   d/dy = w (log(1 - x) - log x)  (the clamped logs).
    """

    def forward(self, x, y, weight=None, *, reduction="mean"):
        t = y.astype(x.dtype, copy=False)
        with np.errstate(divide="ignore"):
            log_x = np.maximum(np.log(x), -100)
            log_1mx = np.maximum(np.log1p(-x), -100)
        loss = (t - 1) * log_1mx
        loss -= t * log_x
        self.x, self.t, self.log_x, self.log_1mx = x, t, log_x, log_1mx
        return self._reduced(loss, y, weight, reduction)

    def backward(self, g):
        a = self._upstream(g)
        gx = gy = None
        if self.needs_input_grad[0]:
            x = self.x
            gx = (x - self.t) * a
            gx /= np.maximum((1 - x) * x, _BCE_EPS)
        if self.needs_input_grad[1]:
            gy = ((self.log_1mx - self.log_x) * a).astype(self.target_dtype, copy=False)
        return gx, gy, None


class BinaryCrossEntropyWithLogits(_BinaryLoss):
    """Binary cross-entropy of sigmoid(x), computed stably from the logits x with log-sigmoid:

        loss = w ((1 - y) x - (1 + (pw - 1) y) log sigmoid(x)),   log sigmoid(x) = min(x, 0) - log1p(exp(-|x|))
        d/dx = w ((1 + (pw - 1) y) sigmoid(x) - pw y),   d/dy = w (-x - (pw - 1) log sigmoid(x))
    """

    def forward(self, x, y, weight=None, pos_weight=None, *, reduction="mean"):
        t = y.astype(x.dtype, copy=False)
        log_sig = np.minimum(x, 0)
        log_sig -= np.log1p(np.exp(-np.abs(x)))
        loss = (1 - t) * x
        if pos_weight is None:
            loss -= log_sig
        else:
            loss -= ((pos_weight - 1) * t + 1) * log_sig
        self.x, self.t, self.log_sig, self.pos_weight = x, t, log_sig, pos_weight
        return self._reduced(loss, y, weight, reduction)

    def backward(self, g):
        a = self._upstream(g)
        pw, t = self.pos_weight, self.t
        gx = gy = None
        if self.needs_input_grad[0]:
            gx = np.exp(self.log_sig)
            if pw is None:
                gx -= t
            else:
                gx *= (pw - 1) * t + 1
                gx -= pw * t
            gx *= a
        if self.needs_input_grad[1]:
            gy = -self.x * a if pw is None else (-self.x - (pw - 1) * self.log_sig) * a
            gy = gy.astype(self.target_dtype, copy=False)
        return gx, gy, None, None


# ------------------------------------------------------------------------------ validation


def _data(x):
    return x.data if isinstance(x, Tensor) else x


def _check_reduction(op: str, reduction) -> None:
    if not isinstance(reduction, str) or reduction not in _REDUCTIONS:
        raise InputError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _check_input(op: str, x, what: str) -> np.ndarray:
    """The input as an array; it must be a floating-point Tensor (or ndarray) of ``what`` (e.g. logits)."""
    return _checks.float_array(op, x, what=None if what == "input" else f"input ({what})")


def _as_target(op: str, target):
    """Tensors and arrays pass through (a Tensor keeps its gradient); numbers and lists become arrays."""
    if isinstance(target, (Tensor, np.ndarray)):
        return target
    if isinstance(target, (list, tuple, int, float, np.generic)):
        return np.asarray(target)
    raise InputTypeError(f"{op}: expected the target to be a Tensor or an array, got {type(target).__name__}")


def _constant(op: str, name: str, value, dtype) -> np.ndarray | None:
    """A weight-like argument that gets no gradient, as an array of the input's dtype."""
    if value is None:
        return None
    if isinstance(value, Tensor):
        if value.requires_grad and is_grad_enabled():
            raise InputError(f"{op}: the loss is not differentiable with respect to {name}, but {name} requires "
                             f"grad; pass {name}.detach()")
        value = value.data
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise InputTypeError(f"{op}: expected a numeric {name}, got {arr.dtype}")
    return arr.astype(dtype, copy=False)


def _check_class_weight(op: str, weight, x: np.ndarray) -> np.ndarray | None:
    c = x.shape[0] if x.ndim == 1 else x.shape[1]
    w = _constant(op, "weight", weight, x.dtype)
    if w is not None and w.shape != (c,):
        raise InputError(f"{op}: weight has shape {w.shape} but the input of shape {x.shape} has {c} classes; "
                         f"expected a weight of shape ({c},)")
    return w


def _index_shape(x: np.ndarray) -> tuple[int, ...]:
    return () if x.ndim == 1 else (x.shape[0],) + x.shape[2:]


def _check_index_values(op: str, t: np.ndarray, c: int, ignore_index: int) -> None:
    """Every target is a class in [0, C) or ignore_index."""
    if t.size == 0:
        return
    lo, hi = t.min(), t.max()
    if 0 <= lo and hi < c:
        return
    bad = (t < 0) | (t >= c)
    bad &= t != ignore_index
    if bad.any():
        raise InputError(f"{op}: target index {int(t[bad].flat[0])} is out of range for {c} classes "
                         f"(expected 0 <= index < {c}, or ignore_index={ignore_index})")


def _check_indices(op: str, x: np.ndarray, target, ignore_index) -> None:
    t = _data(target)
    if t.dtype.kind not in "iu":
        raise InputTypeError(f"{op}: expected integer class indices as target, got {t.dtype}")
    if t.shape != _index_shape(x):
        raise InputError(f"{op}: target has shape {t.shape} but the input of shape {x.shape} needs a target of "
                         f"shape {_index_shape(x)}")
    _check_index_values(op, t, x.shape[0] if x.ndim == 1 else x.shape[1], ignore_index)


def _check_ignore_index(op: str, ignore_index) -> int:
    return _checks.integer(op, "ignore_index", ignore_index)


def _check_class_input(op: str, x: np.ndarray, what: str) -> None:
    if x.ndim == 0:
        raise InputError(f"{op}: expected {what} of shape (C,), (N, C) or (N, C, d1, ...), got a 0-d tensor")


def _check_same_shape(op: str, x: np.ndarray, target) -> np.ndarray:
    t = _data(target)
    if t.shape != x.shape:
        raise InputError(f"{op}: target has shape {t.shape} but the input has shape {x.shape}; they must match")
    return t


def _check_float_target(op: str, t: np.ndarray, what: str) -> None:
    if t.dtype.kind != "f":
        raise InputTypeError(f"{op}: expected floating-point {what} as target, got {t.dtype}")


def _check_broadcast(op: str, name: str, w: np.ndarray | None, shape: tuple[int, ...]) -> None:
    if w is None:
        return
    try:
        ok = np.broadcast_shapes(w.shape, shape) == shape
    except ValueError:
        ok = False
    if not ok:
        raise InputError(f"{op}: {name} has shape {w.shape}, which does not broadcast to the input shape {shape}")


def _check_unit_interval(op: str, a: np.ndarray, what: str) -> None:
    if a.size == 0:
        return
    lo, hi = a.min(), a.max()
    if not (lo >= 0 and hi <= 1):
        raise InputError(f"{op}: all elements of {what} should be between 0 and 1, got values in [{lo}, {hi}]")


# ------------------------------------------------------------------------------ public functions


def cross_entropy(input, target, weight=None, ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0):
    """Cross-entropy between logits (C,), (N, C) or (N, C, d1, ...) and a target of class indices
    ((), (N,) or (N, d1, ...), integer) or class probabilities (the input's shape, float).

    With class indices: ``(1 - eps) * nll(log_softmax(input), target) + eps / C * sum_c w[c] (-log_softmax_c)``
    per sample, ignored targets contributing nothing and 'mean' dividing by the summed weights of the
    non-ignored targets. With probabilities: ``-sum_c w[c] ((1 - eps) t_c + eps / C) log_softmax_c``, 'mean'
    dividing by the number of samples. ``eps`` is ``label_smoothing``.
    """
    op = "cross_entropy"
    x = _check_input(op, input, "logits")
    _check_class_input(op, x, "logits")
    _check_reduction(op, reduction)
    ignore_index = _check_ignore_index(op, ignore_index)
    label_smoothing = float(label_smoothing)
    if not 0.0 <= label_smoothing <= 1.0:
        raise InputError(f"{op}: label_smoothing must be in [0.0, 1.0], got {label_smoothing}")
    target = _as_target(op, target)
    t = _data(target)
    w = _check_class_weight(op, weight, x)
    if t.shape == x.shape:
        if t.dtype.kind != "f":
            raise InputTypeError(f"{op}: a target of the input's shape {x.shape} holds class probabilities and must be "
                                 f"floating-point, got {t.dtype}")
        if ignore_index >= 0:
            raise InputError(f"{op}: ignore_index is not supported with class-probability targets, "
                             f"got ignore_index={ignore_index}")
        return CrossEntropyProbs.apply(input, target, w, reduction=reduction, label_smoothing=label_smoothing)
    if t.shape != _index_shape(x):
        raise InputError(f"{op}: target has shape {t.shape} but the input of shape {x.shape} needs a target of "
                         f"shape {_index_shape(x)} (class indices) or {x.shape} (class probabilities)")
    _check_indices(op, x, target, ignore_index)
    return CrossEntropy.apply(input, t, w, reduction=reduction, ignore_index=ignore_index,
                              label_smoothing=label_smoothing)


def nll_loss(input, target, weight=None, ignore_index: int = -100, reduction: str = "mean"):
    """Negative log-likelihood of log-probabilities (C,), (N, C) or (N, C, d1, ...) at integer class indices:
    ``-w[y] * input[y]`` per sample; 'mean' divides by the summed weights of the non-ignored targets."""
    op = "nll_loss"
    x = _check_input(op, input, "log-probabilities")
    _check_class_input(op, x, "log-probabilities")
    _check_reduction(op, reduction)
    ignore_index = _check_ignore_index(op, ignore_index)
    target = _as_target(op, target)
    w = _check_class_weight(op, weight, x)
    _check_indices(op, x, target, ignore_index)
    return NLLLoss.apply(input, _data(target), w, reduction=reduction, ignore_index=ignore_index)


def _regression_args(op, input, target, reduction):
    x = _check_input(op, input, "input")
    _check_reduction(op, reduction)
    target = _as_target(op, target)
    t = _check_same_shape(op, x, target)
    if t.dtype.kind not in "fiub":
        raise InputTypeError(f"{op}: expected a numeric target, got {t.dtype}")
    return x, target


def _elementwise_weight(op, weight, x):
    """The differentiable per-element weight of mse/l1/huber: same shape as the input (PyTorch's rule)."""
    if weight is None:
        return None
    if not isinstance(weight, Tensor):
        weight = np.asarray(weight)
    if weight.dtype.kind not in "fiu":
        raise InputTypeError(f"{op}: expected a numeric weight, got {weight.dtype}")
    if weight.shape != x.shape:
        raise InputError(f"{op}: weight has shape {tuple(weight.shape)} but the input has shape {x.shape}; "
                         f"they must match")
    return weight


def mse_loss(input, target, reduction: str = "mean", weight=None):
    """Mean squared error ``(input - target)^2``; with ``weight`` (input's shape), 'mean' is
    ``sum(w (x - y)^2) / sum(w)``."""
    x, target = _regression_args("mse_loss", input, target, reduction)
    w = _elementwise_weight("mse_loss", weight, x)
    return MSELoss.apply(input, target, w, reduction=reduction)


def l1_loss(input, target, reduction: str = "mean", weight=None):
    """Mean absolute error ``|input - target|``; with ``weight`` (input's shape), 'mean' is
    ``sum(w |x - y|) / sum(w)``."""
    x, target = _regression_args("l1_loss", input, target, reduction)
    w = _elementwise_weight("l1_loss", weight, x)
    return L1Loss.apply(input, target, w, reduction=reduction)


def smooth_l1_loss(input, target, reduction: str = "mean", beta: float = 1.0):
    """``0.5 d^2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta``, with ``d = input - target``;
    ``beta = 0`` gives the L1 loss."""
    op = "smooth_l1_loss"
    _regression_args(op, input, target, reduction)
    beta = float(beta)
    if not beta >= 0:
        raise InputError(f"{op}: beta must be non-negative, got {beta}")
    return SmoothL1Loss.apply(input, _as_target(op, target), reduction=reduction, beta=beta)


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0, weight=None):
    """``0.5 d^2`` where ``|d| < delta``, else ``delta (|d| - 0.5 delta)``, with ``d = input - target``;
    with ``weight`` (input's shape), 'mean' is the mean of ``w * loss``."""
    op = "huber_loss"
    x, target = _regression_args(op, input, target, reduction)
    delta = float(delta)
    if not delta > 0:
        raise InputError(f"{op}: delta must be positive, got {delta}")
    w = _elementwise_weight(op, weight, x)
    return HuberLoss.apply(input, target, w, reduction=reduction, delta=delta)


def _check_binary_target_and_weight(op: str, x, target, weight, reduction):
    """Validate a binary loss's reduction, target (float probabilities of the input's shape) and weight
    (broadcasts to the input); returns the target, its array and the weight array (or None)."""
    _check_reduction(op, reduction)
    target = _as_target(op, target)
    t = _check_same_shape(op, x, target)
    _check_float_target(op, t, "probabilities")
    w = _constant(op, "weight", weight, x.dtype)
    _check_broadcast(op, "weight", w, x.shape)
    return target, t, w


def binary_cross_entropy(input, target, weight=None, reduction: str = "mean"):
    """``-w (y log x + (1 - y) log(1 - x))`` for probabilities ``x`` in [0, 1] and targets ``y`` in [0, 1];
    each log is clamped at -100 so that the loss stays finite. ``weight`` broadcasts to the input's shape."""
    op = "binary_cross_entropy"
    x = _check_input(op, input, "probabilities")
    target, t, w = _check_binary_target_and_weight(op, x, target, weight, reduction)
    _check_unit_interval(op, x, "input")
    _check_unit_interval(op, t, "target")
    return BinaryCrossEntropy.apply(input, target, w, reduction=reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction: str = "mean", pos_weight=None):
    """Binary cross-entropy of ``sigmoid(input)`` computed from the logits without overflow:
    ``w ((1 - y) x - (1 + (pos_weight - 1) y) log sigmoid(x))``. ``weight`` and ``pos_weight`` (e.g. one per
    class, along the last axis) broadcast to the input's shape."""
    op = "binary_cross_entropy_with_logits"
    x = _check_input(op, input, "logits")
    target, t, w = _check_binary_target_and_weight(op, x, target, weight, reduction)
    pw = _constant(op, "pos_weight", pos_weight, x.dtype)
    _check_broadcast(op, "pos_weight", pw, x.shape)
    return BinaryCrossEntropyWithLogits.apply(input, target, w, pw, reduction=reduction)


__all__ = ["cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "dice_loss"]


def dice_loss(input, target, weight=None, ignore_index: int = -100, smooth: float = 1.0,  # noqa: A002
              reduction: str = "mean"):
    """Soft multi-class Dice loss of logits (N, C, d...) against class indices (N, d...):

        p = softmax(input, dim=1),  t = one_hot(target),  both zero at ``ignore_index`` pixels
        dice_c = (2 * sum(p_c * t_c) + smooth) / (sum(p_c) + sum(t_c) + smooth)   (sums over the batch and pixels)
        loss_c = 1 - dice_c

    ``reduction`` 'mean' averages loss_c over the classes (weighted by ``weight`` (C,) when given: sum(w_c loss_c)
    / sum(w_c)), 'sum' adds them, 'none' returns the (C,) per-class losses. A class absent from both prediction
    and target scores dice 1 through ``smooth``."""
    op = "dice_loss"
    from .activation import softmax
    from .math import mul
    from .math import sum as _sum

    _check_reduction(op, reduction)
    x = _check_input(op, input, "input")
    if x.ndim < 2:
        raise InputError(f"{op}: expected input of shape (N, C, d...), got {tuple(x.shape)}")
    if x.dtype.kind != "f":
        raise InputError(f"{op}: expected floating-point logits, got dtype {x.dtype}")
    ignore_index = _check_ignore_index(op, ignore_index)
    t = np.asarray(_data(target))
    if t.dtype.kind not in "iu":
        raise InputError(f"{op}: target must hold class indices (integers), got dtype {t.dtype}")
    if t.shape != (x.shape[0], *x.shape[2:]):
        raise InputError(f"{op}: target must have shape {(x.shape[0], *x.shape[2:])} for input {tuple(x.shape)}, "
                         f"got {tuple(t.shape)}")
    c = x.shape[1]
    _check_index_values(op, t, c, ignore_index)
    if not isinstance(smooth, (int, float)) or isinstance(smooth, bool) or not smooth >= 0:
        raise InputError(f"{op}: smooth must be a number >= 0, got {smooth!r}")
    valid = t != ignore_index
    onehot = np.zeros(x.shape, x.dtype)
    idx = np.where(valid, t, 0).astype(np.int64)
    np.put_along_axis(onehot, idx[:, None], 1, axis=1)
    onehot *= valid[:, None]
    mask = np.broadcast_to(valid[:, None], x.shape).astype(x.dtype)
    axes = (0, *range(2, x.ndim))
    p = mul(softmax(input, dim=1), Tensor(mask))
    inter = _sum(mul(p, Tensor(onehot)), axis=axes)
    denom = _sum(p, axis=axes) + Tensor(onehot.sum(axis=axes) + smooth)
    losses = 1 - (inter * 2 + smooth) / denom
    if reduction == "none":
        return losses
    if weight is not None:
        w = _check_class_weight(op, weight, x)
        losses = losses * Tensor(w)
        return _sum(losses) / float(w.sum()) if reduction == "mean" else _sum(losses)
    return _sum(losses) / c if reduction == "mean" else _sum(losses)
