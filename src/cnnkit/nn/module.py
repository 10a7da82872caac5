"""``Module``: the base class of every layer and model (PyTorch's ``nn.Module`` behaviour).

A Module owns Parameters, buffers and sub-Modules, registered simply by assigning them as attributes. It
walks them in a fixed order (registration order, depth first) — the order optimizers, state dicts and
data-parallel all-reduces rely on — and runs forward hooks around ``forward``.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from ..autograd import Tensor, _to_dtype
from ..errors import InputError, InputTypeError, StateDictError
from .geometry import LayerCall, LayerGeometry, Window
from .parameter import Parameter

__all__ = ["Module", "RemovableHandle", "IncompatibleKeys"]


class RemovableHandle:
    """Returned by ``register_*_hook``; ``remove()`` unregisters the hook (also usable as a context manager)."""

    _ids = itertools.count()

    def __init__(self, hooks: dict, extra: dict | None = None):
        self.hooks = hooks
        self.extra = extra
        self.id = next(RemovableHandle._ids)

    def remove(self) -> None:
        self.hooks.pop(self.id, None)
        if self.extra is not None:
            self.extra.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(strict=False)`` returns."""

    missing_keys: list[str]
    unexpected_keys: list[str]

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return f"IncompatibleKeys(missing_keys={self.missing_keys}, unexpected_keys={self.unexpected_keys})"

    __str__ = __repr__


def _addindent(text: str, spaces: int) -> str:
    """Indent every line but the first by ``spaces``."""
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    pad = " " * spaces
    return lines[0] + "\n" + "\n".join(pad + line for line in lines[1:])


def _as_buffer(name: str, value) -> Tensor | None:
    if value is None or isinstance(value, Tensor):
        return value
    if isinstance(value, (np.ndarray, np.generic)):
        return Tensor._wrap(np.asarray(value))
    raise InputTypeError(f"Module: cannot assign {type(value).__name__!r} object to buffer {name!r} "
                         f"(a Tensor, a NumPy array or None required)")


def _checkpoint_array(value) -> np.ndarray:
    """The array behind a state-dict value: ndarray, cnnkit Tensor, or anything with ``.numpy()``."""
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "numpy"):
        try:
            return np.asarray(value.numpy())
        except (RuntimeError, TypeError):  # a torch tensor that requires grad or lives on another device
            return np.asarray(value.detach().cpu().numpy())
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiub":
        raise InputTypeError(f"expected an array, a Tensor or an object with .numpy(), got {type(value).__name__}")
    return arr


class Module:
    """Base class for layers and models.

    Subclasses call ``super().__init__()`` first, assign Parameters / Modules as attributes (or use
    ``register_buffer``) and implement ``forward``. Calling the module runs forward pre-hooks, ``forward`` and
    forward hooks.
    """

    training: bool
    _optional_state_keys: tuple[str, ...] = ()  # local state keys a checkpoint may omit (legacy formats)

    def __init__(self, *args, **kwargs) -> None:
        if args or kwargs:
            raise InputTypeError(f"{type(self).__name__}.__init__() got unexpected arguments: args={args}, "
                                 f"kwargs={kwargs}")
        setattr_ = object.__setattr__
        setattr_(self, "training", True)
        setattr_(self, "_parameters", OrderedDict())
        setattr_(self, "_buffers", OrderedDict())
        setattr_(self, "_non_persistent_buffers_set", set())
        setattr_(self, "_modules", OrderedDict())
        setattr_(self, "_forward_pre_hooks", OrderedDict())
        setattr_(self, "_forward_pre_hooks_with_kwargs", {})
        setattr_(self, "_forward_hooks", OrderedDict())
        setattr_(self, "_forward_hooks_with_kwargs", {})

    # ------------------------------------------------------------------ forward and hooks
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def __call__(self, *args, **kwargs):
        if not (self._forward_pre_hooks or self._forward_hooks):
            return self.forward(*args, **kwargs)
        for hook_id, hook in list(self._forward_pre_hooks.items()):
            if hook_id in self._forward_pre_hooks_with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError(f"{self._get_name()}: a forward pre-hook registered with "
                                           f"with_kwargs=True must return None or (args, kwargs), got {result!r}")
                    args, kwargs = result
            else:
                result = hook(self, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        output = self.forward(*args, **kwargs)
        for hook_id, hook in list(self._forward_hooks.items()):
            if hook_id in self._forward_hooks_with_kwargs:
                result = hook(self, args, kwargs, output)
            else:
                result = hook(self, args, output)
            if result is not None:
                output = result
        return output

    # ------------------------------------------------------------------ geometry (for the summary)
    def geometry(self, call: LayerCall) -> LayerGeometry:
        """What one call of this layer did to the feature map, for :func:`cnnkit.summary`: the call's MACs, its
        receptive-field window, its kernels' workspace bytes (see :mod:`cnnkit.nn.geometry`). ``call`` holds the
        shapes the call received and returned, the dtype and the kernels' thread count. Only leaves (modules
        without children) are asked; a container's numbers are the sums over the calls inside it.

        The default counts nothing and passes the input's receptive field on (activations, dropout, reshapes,
        normalisation). A module that only carries ``kernel_size`` and ``stride`` attributes is taken at its word:
        a window of that size and stride (and its ``dilation`` if it has one), left out of the formula list since
        the attributes do not say how the output size comes about. Layers override this to describe themselves.
        """
        kernel, stride = getattr(self, "kernel_size", None), getattr(self, "stride", None)
        if kernel is not None and stride is not None:
            return LayerGeometry(window=Window(kernel, stride, dilation=getattr(self, "dilation", 1)), explain=False)
        return LayerGeometry()

    def register_forward_pre_hook(self, hook: Callable, *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """Call ``hook(module, args)`` before ``forward``; a non-None result replaces the positional args
        (a single value is wrapped in a tuple). With ``with_kwargs=True``: ``hook(module, args, kwargs)``
        returning None or ``(args, kwargs)``."""
        handle = RemovableHandle(self._forward_pre_hooks, self._forward_pre_hooks_with_kwargs)
        self._forward_pre_hooks[handle.id] = hook
        if with_kwargs:
            self._forward_pre_hooks_with_kwargs[handle.id] = True
        if prepend:
            self._forward_pre_hooks.move_to_end(handle.id, last=False)
        return handle

    def register_forward_hook(self, hook: Callable, *, prepend: bool = False,
                              with_kwargs: bool = False) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after ``forward``; a non-None result replaces the output.
        With ``with_kwargs=True``: ``hook(module, args, kwargs, output)``."""
        handle = RemovableHandle(self._forward_hooks, self._forward_hooks_with_kwargs)
        self._forward_hooks[handle.id] = hook
        if with_kwargs:
            self._forward_hooks_with_kwargs[handle.id] = True
        if prepend:
            self._forward_hooks.move_to_end(handle.id, last=False)
        return handle

    # ------------------------------------------------------------------ registration
    def _check_name(self, kind: str, name) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {kind} before Module.__init__() call")
        if not isinstance(name, str):
            raise InputTypeError(f"{kind} name should be a string, got {type(name).__name__}")
        if name == "":
            raise KeyError(f'{kind} name can\'t be empty string ""')
        if "." in name:
            raise KeyError(f'{kind} name can\'t contain ".", got {name!r}')

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or a None placeholder) under ``name``."""
        self._check_name("parameter", name)
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute {name!r} already exists")
        if param is not None and not isinstance(param, Parameter):
            raise InputTypeError(f"cannot assign {type(param).__name__!r} object to parameter {name!r} "
                                 f"(cnnkit.nn.Parameter or None required)")
        if param is not None and param.grad_fn is not None:
            raise InputError(f"cannot assign non-leaf Tensor to parameter {name!r}; wrap a detached array in a "
                             f"Parameter instead")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        """Add a buffer (state that is not learnt, e.g. BN running stats): a Tensor, a NumPy array (wrapped
        without copying) or None. Persistent buffers appear in ``state_dict``."""
        self._check_name("buffer", name)
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute {name!r} already exists")
        self._buffers[name] = _as_buffer(name, tensor)
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a child module (or a None placeholder) under ``name``."""
        if module is not None and not isinstance(module, Module):
            raise InputTypeError(f"add_module: {type(module).__name__} is not a Module subclass")
        self._check_name("module", name)
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute {name!r} already exists")
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name: str, value) -> None:
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._discard(name, "_buffers", "_modules")
            d.pop(name, None)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise InputTypeError(f"cannot assign {type(value).__name__!r} as parameter {name!r} "
                                     f"(cnnkit.nn.Parameter or None expected)")
            params[name] = None
        elif isinstance(value, Module):
            if params is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._discard(name, "_parameters", "_buffers")
            d.pop(name, None)
            d["_modules"][name] = value
        elif params is not None and name in d["_modules"]:
            if value is not None:
                raise InputTypeError(f"cannot assign {type(value).__name__!r} as child module {name!r} "
                                     f"(cnnkit.nn.Module or None expected)")
            d["_modules"][name] = None
        elif params is not None and name in d["_buffers"]:
            d["_buffers"][name] = _as_buffer(name, value)
        else:
            object.__setattr__(self, name, value)

    def _discard(self, name: str, *stores: str) -> None:
        for store in stores:
            self.__dict__[store].pop(name, None)
        self.__dict__["_non_persistent_buffers_set"].discard(name)

    def __getattr__(self, name: str):
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            s = d.get(store)
            if s is not None and name in s:
                return s[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if name in d[store]:
                del d[store][name]
                d["_non_persistent_buffers_set"].discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        keys = list(super().__dir__())
        keys += list(self._parameters) + list(self._buffers) + list(self._modules)
        return sorted(set(k for k in keys if not k[0].isdigit()))

    # ------------------------------------------------------------------ traversal
    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """(name, module) for this module and every descendant, depth first in registration order; a module
        reachable by several paths is yielded once (first path) unless ``remove_duplicate=False``."""
        if memo is None:
            memo = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if remove_duplicate:
                if id(module) in memo:
                    continue
                memo.add(id(module))
            yield name, module
            children = [(name + ("." if name else "") + key, child)
                        for key, child in module._modules.items() if child is not None]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def _named_members(self, store: str, prefix: str, recurse: bool, remove_duplicate: bool = True):
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse \
            else [(prefix, self)]
        seen = set()
        for module_prefix, module in modules:
            for name, value in getattr(module, store).items():
                if value is None:
                    continue
                if remove_duplicate:
                    if id(value) in seen:
                        continue
                    seen.add(id(value))
                yield module_prefix + ("." if module_prefix else "") + name, value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter), registration order depth first; a shared parameter is yielded once."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, buf in self.named_buffers(recurse=recurse):
            yield buf

    def num_parameters(self, only_trainable: bool = False) -> int:
        """Number of scalar parameters (shared ones counted once)."""
        return sum(p.data.size for p in self.parameters() if p.requires_grad or not only_trainable)

    def _lookup(self, target: str, what: str):
        *path, name = target.split(".")
        module = self.get_submodule(".".join(path))
        store = getattr(module, "_parameters" if what == "parameter" else "_buffers")
        if name not in store:
            raise AttributeError(f"{module._get_name()} has no {what} `{name}`")
        return store[name]

    def get_submodule(self, target: str) -> Module:
        """The module at a dotted path (``"features.0"``); ``""`` is this module."""
        if target == "":
            return self
        module: Module = self
        for atom in target.split("."):
            if atom not in module._modules or module._modules[atom] is None:
                raise AttributeError(f"{module._get_name()} has no submodule `{atom}` (looking up {target!r})")
            module = module._modules[atom]
        return module

    def get_parameter(self, target: str) -> Parameter:
        return self._lookup(target, "parameter")

    def get_buffer(self, target: str) -> Tensor:
        return self._lookup(target, "buffer")

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every child (recursively) and then on this module; returns self."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ modes and gradients
    def train(self, mode: bool = True) -> Module:
        """Set training mode on this module and all descendants; returns self."""
        if not isinstance(mode, bool):
            raise InputError(f"{self._get_name()}.train: mode is expected to be a bool, got {mode!r}")
        object.__setattr__(self, "training", mode)
        for module in self.children():  # through each child's own train(), which subclasses may override
            module.train(mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient (to None, or to zeros in place)."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.data[...] = 0

    # ------------------------------------------------------------------ dtype
    def to(self, *args, dtype=None, device=None, non_blocking: bool = False) -> Module:
        """Cast floating-point parameters and buffers in place (``to(ck.float64)``, ``to("float64")``);
        the device, if given, must be ``"cpu"``. Parameter and buffer objects keep their identity."""
        for arg in args:
            if isinstance(arg, str) and arg.split(":")[0] in ("cpu", "cuda", "mps", "meta", "xpu"):
                device = arg
            elif dtype is None:
                dtype = arg
            else:
                raise InputTypeError(f"{self._get_name()}.to: unexpected argument {arg!r}")
        if device is not None and str(device).split(":")[0] != "cpu":
            raise InputError(f"{self._get_name()}.to: only the 'cpu' device exists, got {device!r}")
        if dtype is None:
            return self
        target = _to_dtype(dtype)
        if target.kind != "f":
            raise InputTypeError(f"{self._get_name()}.to only accepts floating point dtypes, but got {target}")
        if target not in (np.float32, np.float64):
            raise InputTypeError(f"{self._get_name()}.to: cnnkit computes in float32 or float64, got {target}")
        self._cast(target)
        return self

    def _cast(self, dtype: np.dtype) -> None:
        for t in itertools.chain(self.parameters(), self.buffers()):
            if t.data.dtype.kind == "f" and t.data.dtype != dtype:
                t.data = t.data.astype(dtype)
                if t.grad is not None:
                    t.grad = Tensor._wrap(t.grad.data.astype(dtype))

    def float(self) -> Module:
        return self.to(np.float32)

    def double(self) -> Module:
        return self.to(np.float64)

    def cpu(self) -> Module:
        return self

    # ------------------------------------------------------------------ state dict
    def _local_state(self) -> Iterator[tuple[str, Tensor]]:
        for name, param in self._parameters.items():
            if param is not None:
                yield name, param
        for name, buf in self._buffers.items():
            if buf is not None and name not in self._non_persistent_buffers_set:
                yield name, buf

    def _state_items(self, prefix: str = "") -> Iterator[tuple[str, Module, str, Tensor]]:
        """(full key, owning module, local name, tensor) for every state entry, in state-dict order. A shared
        module or parameter appears under every name it has (as PyTorch)."""
        stack = [(prefix, self)]
        while stack:
            module_prefix, module = stack.pop()
            for name, t in module._local_state():
                yield module_prefix + name, module, name, t
            children = [(module_prefix + key + ".", child) for key, child in module._modules.items()
                        if child is not None]
            stack.extend(reversed(children))

    def state_dict(self, destination=None, prefix: str = "", keep_vars: bool = False) -> OrderedDict:
        """OrderedDict of dotted name -> NumPy array copy, for every parameter and persistent buffer
        (``keep_vars=True``: the Tensors themselves)."""
        if destination is None:
            destination = OrderedDict()
        for key, _, _, t in self._state_items(prefix):
            destination[key] = t if keep_vars else t.data.copy()
        return destination

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True,
                        assign: bool = False) -> IncompatibleKeys:
        """Copy values from ``state_dict`` (arrays, Tensors or objects with ``.numpy()``) into this module's
        parameters and buffers, keeping their identity and dtype.

        Every problem is collected first and reported in one RuntimeError: missing and unexpected keys (when
        ``strict``) and shape mismatches (always). On error nothing is changed. Returns
        ``(missing_keys, unexpected_keys)``. ``assign=True`` is not supported.
        """
        if assign:
            raise InputError(f"{self._get_name()}.load_state_dict: assign=True is not supported")
        if not isinstance(state_dict, Mapping):
            raise InputTypeError(f"{self._get_name()}.load_state_dict: expected a mapping of name -> array, "
                                 f"got {type(state_dict).__name__}")
        items = list(self._state_items())
        own_keys = {key for key, *_ in items}
        missing: list[str] = []
        errors: list[str] = []
        copies: list[tuple[Tensor, np.ndarray]] = []
        for key, module, local, target in items:
            if key not in state_dict:
                if local not in module._optional_state_keys:
                    missing.append(key)
                continue
            try:
                value = _checkpoint_array(state_dict[key])
            except (TypeError, ValueError) as err:
                errors.append(f'While copying the parameter named "{key}": {err}')
                continue
            if value.shape != target.data.shape:
                errors.append(f"size mismatch for {key}: checkpoint {tuple(value.shape)}, "
                              f"model {tuple(target.data.shape)}")
                continue
            copies.append((target, value))
        unexpected = [key for key in state_dict if key not in own_keys]
        if strict:
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
            if unexpected:
                errors.insert(1 if missing else 0,
                              "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ".")
        if errors:
            raise StateDictError(f"Error(s) in loading state_dict for {self._get_name()}:\n\t" + "\n\t".join(errors))
        for target, value in copies:
            target.data[...] = value
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ repr
    def _get_name(self) -> str:
        return type(self).__name__

    def extra_repr(self) -> str:
        """The text inside the parentheses of this module's repr (override in layers)."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({key}): " + _addindent(repr(module), 2) for key, module in self._modules.items()]
        lines = extra_lines + child_lines
        body = ""
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                body = extra_lines[0]
            else:
                body = "\n  " + "\n  ".join(lines) + "\n"
        return f"{self._get_name()}({body})"
