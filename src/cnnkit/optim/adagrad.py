"""Adagrad: per-coordinate learning rates from the running sum of squared gradients."""

from __future__ import annotations

import numpy as np

from .optimizer import Optimizer


class Adagrad(Optimizer):
    """Adagrad, as ``torch.optim.Adagrad``.

    State: ``step`` (t) and ``sum`` (starts at ``initial_accumulator_value``). With ``g`` the gradient after
    ``maximize`` / weight decay / L1 (see :class:`Optimizer`)::

        t   <- t + 1
        lr' <- lr / (1 + (t - 1) * lr_decay)
        sum <- sum + g²
        w   <- w - lr' * g / (sqrt(sum) + eps)
    """

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, *, maximize: bool = False,
                 l1: float = 0):
        defaults = {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value, "maximize": maximize, "l1": l1}
        super().__init__(params, defaults)

    def _check_group(self, group: dict, where: str) -> None:
        super()._check_group(group, where)
        self._check_number(group, "lr_decay", "lr_decay", where, low=0.0)
        self._check_number(group, "initial_accumulator_value", "initial_accumulator_value", where, low=0.0)
        self._check_number(group, "eps", "epsilon", where, low=0.0)

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict, group: dict) -> None:
        if "sum" not in state:
            state["step"] = 0
            state["sum"] = np.full_like(w, group["initial_accumulator_value"])
        state["step"] += 1
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        acc = state["sum"]
        acc += g * g
        std = np.sqrt(acc)
        std += group["eps"]
        delta = (-clr) * g
        delta /= std
        w += delta
