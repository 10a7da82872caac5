"""The optimizer base class: parameter groups, per-parameter state, checkpoints and the one shared update loop.

Every optimizer in this package is a small subclass that supplies ``_update(w, g, state, group)``, the rule for
one parameter array. :meth:`Optimizer.step` owns everything around it, in this order for each parameter that
has a gradient::

    g = -grad if maximize else grad
    g = g + weight_decay * w            (coupled L2 decay; decoupled optimizers instead do w *= 1 - lr * wd)
    g = g + l1 * sign(w)                (the L1 option: the gradient of l1 * sum|w|)
    _update(w, g, state, group)         (in place on w = p.data)

Parameters are updated in place (``p.data`` keeps its identity), gradients are never modified, and state arrays
have the parameter's dtype.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..autograd import Tensor, enable_grad, no_grad
from ..errors import InputError, InputTypeError
from ..kernels.backend import parameters_changed


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _describe(value) -> str:
    return type(value).__name__


class Optimizer:
    """Base class of all optimizers.

    ``params`` is an iterable of Tensors, of ``(name, Tensor)`` pairs, or of dicts (parameter groups) each with a
    ``'params'`` entry and any hyper-parameters that override ``defaults`` for that group. Subclasses implement
    ``_update`` (and ``_check_group`` to validate hyper-parameters); they do not override :meth:`step`.
    """

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self._check_group(self.defaults, where="")
        self.state: dict[Tensor, dict] = {}
        self.param_groups: list[dict] = []
        if isinstance(params, Tensor):
            raise InputTypeError(f"{self._name}: params should be an iterable of Tensors or dicts, got a single Tensor "
                                 f"(wrap it in a list)")
        if isinstance(params, (set, frozenset)):
            raise InputTypeError(f"{self._name}: params should be an ordered collection (a list), got a set whose "
                                 f"order changes between runs")
        if isinstance(params, dict):
            params = [params]
        try:
            groups = list(params)
        except TypeError:
            raise InputTypeError(f"{self._name}: params should be an iterable of Tensors or dicts, "
                                 f"got {_describe(params)}") from None
        if not groups:
            raise InputError(f"{self._name}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    @property
    def _name(self) -> str:
        return type(self).__name__

    # ----------------------------------------------------------------- groups
    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters with its own hyper-parameters (missing ones are taken from ``defaults``)."""
        name = self._name
        if not isinstance(param_group, dict):
            raise InputTypeError(f"{name}: a parameter group must be a dict, got {_describe(param_group)}")
        if "params" not in param_group:
            raise InputError(f"{name}: a parameter group must have a 'params' entry, got keys {sorted(param_group)}")
        index = len(self.param_groups)
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise InputTypeError(f"{name}: parameters must be given in an ordered collection (a list), got a set")
        else:
            params = list(params)
        tensors, names = [], []
        for p in params:
            if isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str):
                names.append(p[0])
                p = p[1]
            tensors.append(p)
        if names and len(names) != len(tensors):
            raise InputError(f"{name}: either all or none of the parameters of group {index} must be named")
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        for i, p in enumerate(tensors):
            where = f"parameter {i} of group {index}"
            if not isinstance(p, Tensor):
                raise InputTypeError(f"{name}: expected parameters to be Tensors, got {_describe(p)} ({where})")
            if p.dtype.kind != "f":
                raise InputTypeError(f"{name}: only floating-point Tensors can be optimized, got dtype {p.dtype} "
                                     f"({where})")
            if not p.is_leaf:
                raise InputError(f"{name}: can only optimize leaf Tensors, got one computed by "
                                 f"{type(p.grad_fn).__name__} ({where})")
            if id(p) in seen:
                raise InputError(f"{name}: a parameter was given twice ({where}, shape {p.shape}); each parameter "
                                 f"may appear only once across all groups")
            seen.add(id(p))
        group = {"params": tensors}
        if names:
            group["param_names"] = names
        for key, value in param_group.items():
            if key not in ("params", "param_names"):
                group[key] = value
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check_group(group, where=f" (group {index})")
        self.param_groups.append(group)

    def _check_group(self, group: dict, where: str) -> None:
        """Validate the hyper-parameters of ``group`` (raise ValueError/TypeError naming the optimizer)."""
        self._check_number(group, "lr", "learning rate", where, low=0.0)
        self._check_number(group, "weight_decay", "weight_decay", where, low=0.0)
        self._check_number(group, "l1", "l1 weight", where, low=0.0)

    def _check_number(self, group: dict, key: str, label: str, where: str, low: float | None = None,
                      high: float | None = None, high_open: bool = False) -> None:
        if key not in group:
            return
        value = group[key]
        if not _is_number(value):
            raise InputTypeError(f"{self._name}: {key} must be a real number, got {_describe(value)}{where}")
        if low is not None and not value >= low:  # also rejects NaN
            raise InputError(f"{self._name}: invalid {label} {value} (expected >= {low:g}){where}")
        if high is not None and (value >= high if high_open else value > high):
            sign = "<" if high_open else "<="
            raise InputError(f"{self._name}: invalid {label} {value} (expected {sign} {high:g}){where}")

    # ----------------------------------------------------------------- gradients
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients: set ``p.grad = None`` (default), or to a fresh array of zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:  # a new array: a gradient may be shared with other tensors, so never zero it in place
                    p.grad = Tensor._wrap(np.zeros_like(p.data))

    def _gradient(self, p: Tensor, group: dict) -> np.ndarray:
        """The gradient the update rule sees: sign flip for ``maximize``, coupled weight decay and the L1 term.

        Returns a read-only view when nothing had to be added (the caller must not write into it)."""
        grad = p.grad
        g = original = grad.data if isinstance(grad, Tensor) else np.asarray(grad)
        w = p.data
        if g.shape != w.shape:
            raise InputError(f"{self._name}: a gradient has shape {g.shape} but its parameter has shape {w.shape}")
        if g.dtype != w.dtype:
            g = g.astype(w.dtype)
        if group.get("maximize", False):
            g = -g
        wd = group.get("weight_decay", 0)
        if wd != 0 and not group.get("decoupled_weight_decay", False):
            g = g + wd * w
        l1 = group.get("l1", 0)
        if l1 != 0:
            g = g + l1 * np.sign(w)
        if g is original:
            g = g.view()
            g.flags.writeable = False
        return g

    def step(self, closure=None):
        """One update of every parameter that has a gradient. ``closure`` (optional) re-evaluates the model and
        returns the loss; it runs with gradients enabled, before the update, and its loss is returned."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        self._step_called = True
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    g = self._gradient(p, group)
                    w = p.data
                    wd = group.get("weight_decay", 0)
                    if wd != 0 and group.get("decoupled_weight_decay", False):
                        w *= 1 - group["lr"] * wd
                    state = self.state.get(p)
                    if state is None:
                        state = self.state[p] = {}
                    self._update(w, g, state, group)
        parameters_changed()  # backends rebuild the weight copies they keep (blocked layouts, folds)
        return loss

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict, group: dict) -> None:  # pragma: no cover
        """Update the parameter array ``w`` in place from the gradient ``g`` (read-only); ``state`` persists."""
        raise NotImplementedError

    # ----------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict:
        """``{'state': {index: {name: array or number}}, 'param_groups': [{hyper-parameters, 'params': [index]}]}``.

        Parameters are numbered in order across groups; arrays are copies, so the result can be saved as
        plain arrays and JSON-able values."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {key: (list(value) if isinstance(value, list) else value)
                      for key, value in group.items() if key != "params"}
            packed["params"] = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                packed["params"].append(index[id(p)])
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                entry = self.state.get(p)
                if entry:
                    state[index[id(p)]] = {key: (np.array(value, copy=True) if isinstance(value, np.ndarray)
                                                 else value) for key, value in entry.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyper-parameters and state saved by :meth:`state_dict` (arrays are copied and cast to each
        parameter's dtype). The optimizer must hold the same number of groups and parameters per group."""
        name = self._name
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            got = sorted(state_dict) if isinstance(state_dict, dict) else _describe(state_dict)
            raise InputError(f"{name}: load_state_dict expected a dict with 'state' and 'param_groups', got {got}")
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise InputError(f"{name}: load_state_dict got {len(saved_groups)} parameter groups but the optimizer "
                             f"has {len(self.param_groups)}")
        by_index: dict[int, Tensor] = {}
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups, strict=True)):
            ids = list(saved["params"])
            if len(ids) != len(group["params"]):
                raise InputError(f"{name}: load_state_dict: group {i} has {len(ids)} parameters in the saved state "
                                 f"but {len(group['params'])} in the optimizer")
            for k, p in zip(ids, group["params"], strict=True):
                by_index[int(k)] = p
        new_groups = []
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups, strict=True)):
            new = {"params": group["params"]}
            for key, value in saved.items():
                if key in ("params", "param_names"):
                    continue
                if isinstance(group.get(key), tuple) and isinstance(value, list):
                    value = tuple(value)  # e.g. betas after a JSON round trip
                new[key] = value
            if "param_names" in group:
                new["param_names"] = group["param_names"]
            self._check_group(new, where=f" (group {i} of the loaded state)")
            new_groups.append(new)
        new_state: dict[Tensor, dict] = {}
        for key, entry in state_dict["state"].items():
            k = int(key)
            if k not in by_index:
                raise InputError(f"{name}: load_state_dict: the saved state refers to parameter {k}, but there are "
                                 f"only {len(by_index)} parameters")
            p = by_index[k]
            restored = {}
            for field, value in entry.items():
                if value is None:
                    continue
                if field == "step":
                    value = float(value.data if isinstance(value, Tensor) else np.asarray(value))
                    restored[field] = int(value) if value.is_integer() else value
                    continue
                arr = np.array(value.data if isinstance(value, Tensor) else value, dtype=p.dtype, copy=True)
                if arr.shape != p.shape:
                    raise InputError(f"{name}: load_state_dict: state '{field}' of parameter {k} has shape "
                                     f"{arr.shape} but the parameter has shape {p.shape}")
                restored[field] = arr
            new_state[p] = restored
        self.param_groups = new_groups
        self.state = new_state

    def __repr__(self) -> str:
        lines = [f"{self._name} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key not in ("params", "param_names"):
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


def _lerp_(a: np.ndarray, b: np.ndarray, weight: float) -> None:
    """``a <- a + weight * (b - a)`` in place, evaluated as PyTorch's lerp does (the form depends on the weight)."""
    wt = a.dtype.type(weight)
    if abs(wt) < 0.5:
        diff = b - a
        diff *= wt
        a += diff
    else:
        diff = b - a
        diff *= a.dtype.type(1) - wt
        np.subtract(b, diff, out=a)
