"""Adam and AdamW: bias-corrected first and second moment estimates."""

from __future__ import annotations

import numpy as np

from ..errors import InputError, InputTypeError
from .optimizer import Optimizer, _is_number, _lerp_


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam`` (with AMSGrad and, via ``decoupled_weight_decay``, AdamW).

    State: ``step`` (t), ``exp_avg`` (m), ``exp_avg_sq`` (v), ``max_exp_avg_sq`` (v̂, with amsgrad). With ``g`` the
    gradient after ``maximize`` / coupled weight decay / L1 (see :class:`Optimizer`)::

        t <- t + 1
        m <- beta1 * m + (1 - beta1) * g
        v <- beta2 * v + (1 - beta2) * g²
        v̂ <- max(v̂, v)                                        (amsgrad; then v̂ replaces v below)
        w <- w - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    ``weight_decay`` is added to the gradient (L2), unless ``decoupled_weight_decay=True``, where the weights
    shrink directly before the update: ``w <- w * (1 - lr * weight_decay)`` (AdamW).
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False, l1: float = 0):
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "amsgrad": amsgrad,
                    "maximize": maximize, "decoupled_weight_decay": decoupled_weight_decay, "l1": l1}
        super().__init__(params, defaults)

    def _check_group(self, group: dict, where: str) -> None:
        super()._check_group(group, where)
        self._check_number(group, "eps", "epsilon", where, low=0.0)
        if "betas" in group:
            betas = group["betas"]
            if not isinstance(betas, (tuple, list)) or len(betas) != 2 or not all(_is_number(b) for b in betas):
                raise InputTypeError(f"{self._name}: betas must be a pair of real numbers, got {betas!r}{where}")
            if not all(0.0 <= b < 1.0 for b in betas):
                raise InputError(f"{self._name}: betas must be in [0, 1), got {tuple(betas)}{where}")
            group["betas"] = tuple(betas)

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict, group: dict) -> None:
        if "exp_avg" not in state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(w)
            state["exp_avg_sq"] = np.zeros_like(w)
        beta1, beta2 = group["betas"]
        state["step"] += 1
        t = state["step"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        _lerp_(m, g, 1 - beta1)
        v *= beta2
        v += ((1 - beta2) * g) * g
        step_size = group["lr"] / (1 - beta1**t)
        bias_correction2_sqrt = (1 - beta2**t) ** 0.5
        if group["amsgrad"]:
            v_max = state.get("max_exp_avg_sq")
            if v_max is None:
                v_max = state["max_exp_avg_sq"] = np.zeros_like(w)
            np.maximum(v_max, v, out=v_max)
            v = v_max
        denom = np.sqrt(v)
        denom /= bias_correction2_sqrt
        denom += group["eps"]
        delta = (-step_size) * m
        delta /= denom
        w += delta


class AdamW(Adam):
    """Adam with decoupled weight decay, as ``torch.optim.AdamW``: before each Adam step
    ``w <- w * (1 - lr * weight_decay)``; the decay never enters the moment estimates. Default decay 1e-2."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False, l1: float = 0):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True, l1=l1)
