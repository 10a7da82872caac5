"""RMSprop: gradients scaled by a running root-mean-square, optionally centred and with momentum."""

from __future__ import annotations

import numpy as np

from .optimizer import Optimizer, _lerp_


class RMSprop(Optimizer):
    """RMSprop, as ``torch.optim.RMSprop``.

    State: ``step``, ``square_avg`` (v), ``grad_avg`` (m, when centered), ``momentum_buffer`` (b, when
    momentum > 0). With ``g`` the gradient after ``maximize`` / weight decay / L1 (see :class:`Optimizer`)::

        v   <- alpha * v + (1 - alpha) * g²
        m   <- alpha * m + (1 - alpha) * g                    (centered)
        avg <- sqrt(v - m²) + eps   if centered   else   sqrt(v) + eps
        b   <- momentum * b + g / avg;   w <- w - lr * b      (momentum > 0)
        w   <- w - lr * g / avg                               (otherwise)
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0,
                 momentum: float = 0, centered: bool = False, *, maximize: bool = False, l1: float = 0):
        defaults = {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps, "centered": centered,
                    "weight_decay": weight_decay, "maximize": maximize, "l1": l1}
        super().__init__(params, defaults)

    def _check_group(self, group: dict, where: str) -> None:
        super()._check_group(group, where)
        self._check_number(group, "eps", "epsilon", where, low=0.0)
        self._check_number(group, "momentum", "momentum", where, low=0.0)
        self._check_number(group, "alpha", "alpha", where, low=0.0)

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict, group: dict) -> None:
        if "square_avg" not in state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(w)
        state["step"] += 1
        alpha = group["alpha"]
        v = state["square_avg"]
        v *= alpha
        v += ((1 - alpha) * g) * g
        if group["centered"]:
            m = state.get("grad_avg")
            if m is None:
                m = state["grad_avg"] = np.zeros_like(w)
            _lerp_(m, g, 1 - alpha)
            avg = np.sqrt(v - m * m)
        else:
            avg = np.sqrt(v)
        avg += group["eps"]
        momentum = group["momentum"]
        if momentum > 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.zeros_like(w)
            buf *= momentum
            buf += g / avg
            w -= group["lr"] * buf
        else:
            delta = (-group["lr"]) * g
            delta /= avg
            w += delta
