"""L1 and L2 weight penalties as differentiable loss terms.

Convention (the same as the optimizers' options, so the two forms give the same parameter trajectory)::

    l2_penalty(params, λ) = (λ / 2) * Σ w²     gradient λ w        == ``weight_decay=λ`` (SGD, Adagrad, RMSprop, Adam)
    l1_penalty(params, μ) = μ * Σ |w|          gradient μ sign(w)  == ``l1=μ`` (every optimizer in this package)

The optimizer options add the same gradient terms inside the shared update loop (after ``maximize``'s sign flip,
so they always pull the weights towards zero), without building a graph; the loss terms are handy when the
penalty should appear in the reported loss, or for an optimizer that has no such option. Use one form or the
other, not both. (AdamW's decoupled decay is not a loss term; ``l2_penalty`` with Adam/AdamW is ordinary L2.)
"""

from __future__ import annotations

from ..autograd import Tensor
from ..errors import InputError, InputTypeError
from .optimizer import _is_number


def _tensors(params, name: str) -> list[Tensor]:
    if hasattr(params, "parameters") and callable(params.parameters):
        params = params.parameters()
    if isinstance(params, Tensor):
        params = [params]
    tensors = list(params)
    if not tensors:
        raise InputError(f"{name}: got an empty parameter list")
    for i, p in enumerate(tensors):
        if not isinstance(p, Tensor) or p.dtype.kind != "f":
            got = f"dtype {p.dtype}" if isinstance(p, Tensor) else type(p).__name__
            raise InputTypeError(f"{name}: expected floating-point Tensors, got {got} (parameter {i})")
    return tensors


def _check_weight(weight, name: str) -> None:
    if not _is_number(weight):
        raise InputTypeError(f"{name}: weight must be a real number, got {type(weight).__name__}")
    if not weight >= 0:
        raise InputError(f"{name}: invalid weight {weight} (expected >= 0)")


def l1_penalty(params, weight: float) -> Tensor:
    """``weight * Σ_p Σ |p|`` over the given tensors (or a module's ``parameters()``): a scalar Tensor to add to
    the loss. Its gradient is ``weight * sign(p)`` (0 at 0), the term that ``l1=weight`` adds in an optimizer."""
    _check_weight(weight, "l1_penalty")
    total = None
    for p in _tensors(params, "l1_penalty"):
        term = abs(p).sum()
        total = term if total is None else total + term
    return total * weight


def l2_penalty(params, weight: float) -> Tensor:
    """``(weight / 2) * Σ_p Σ p²`` over the given tensors (or a module's ``parameters()``): a scalar Tensor to add
    to the loss. Its gradient is ``weight * p``, so it equals ``weight_decay=weight`` in SGD (and in the other
    optimizers' coupled weight decay)."""
    _check_weight(weight, "l2_penalty")
    total = None
    for p in _tensors(params, "l2_penalty"):
        term = (p * p).sum()
        total = term if total is None else total + term
    return total * (0.5 * weight)
