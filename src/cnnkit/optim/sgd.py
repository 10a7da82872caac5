"""Stochastic gradient descent with optional (Nesterov) momentum."""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .optimizer import Optimizer


class SGD(Optimizer):
    """Stochastic gradient descent, as ``torch.optim.SGD``.

    With ``g`` the gradient after ``maximize`` / weight decay / L1 (see :class:`Optimizer`)::

        b <- g                                   on the first step (no dampening)
        b <- momentum * b + (1 - dampening) * g  afterwards
        g <- g + momentum * b    if nesterov     else   g <- b      (only when momentum != 0)
        w <- w - lr * g

    ``weight_decay=λ`` adds ``λ w`` to the gradient, which equals adding ``(λ/2) Σ w²`` to the loss.
    ``l1=μ`` adds ``μ sign(w)`` (the gradient of ``μ Σ |w|``).
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False, l1: float = 0):
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay,
                    "nesterov": nesterov, "maximize": maximize, "l1": l1}
        super().__init__(params, defaults)

    def _check_group(self, group: dict, where: str) -> None:
        super()._check_group(group, where)
        self._check_number(group, "momentum", "momentum", where, low=0.0)
        self._check_number(group, "dampening", "dampening", where)
        if group.get("nesterov") and (group.get("momentum", 0) <= 0 or group.get("dampening", 0) != 0):
            raise InputError(f"SGD: nesterov momentum requires momentum > 0 and dampening = 0, got "
                             f"momentum={group.get('momentum', 0)}, dampening={group.get('dampening', 0)}{where}")

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict, group: dict) -> None:
        momentum = group["momentum"]
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(g, copy=True)
            else:
                buf *= momentum
                buf += (1 - group["dampening"]) * g
            g = g + momentum * buf if group["nesterov"] else buf
        w -= group["lr"] * g
