"""Tracing: one forward pass recorded as a graph of ops, each labelled with the module that ran it.

Every op is a :class:`~cnnkit.autograd.Function` whose ``apply`` records the op (its class), its attributes
(``node.attrs``) and its inputs on the output's ``grad_fn`` whenever an input requires gradients. Tracing runs the
model once on an example input that requires gradients, so every op that depends on the input is recorded, and
walks the recorded graph back from the outputs. Forward pre-hooks and hooks on every module note what each call
received and returned; an op belongs to the innermost module call whose inputs it lies between and whose output
it leads to, so each node carries its module path (``layer1.0.conv1``).

The result, a :class:`Graph`, holds no ONNX: :mod:`cnnkit.onnx.export` writes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..autograd import Function, Tensor, enable_grad
from ..errors import InputError, InputTypeError

__all__ = ["Value", "Node", "Graph", "trace"]


@dataclass(eq=False)
class Value:
    """An edge of the graph: a model input, a parameter or buffer (``name`` is its state-dict key), a constant
    captured during the pass, or the output of a node."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    kind: str  # "input" | "state" | "const" | "node"
    array: np.ndarray | None = None  # for "state" and "const"
    producer: Node | None = None


@dataclass(eq=False)
class Node:
    """One recorded op: ``op`` is the Function's class name, ``attrs`` its keyword attributes, ``inputs`` the
    positional inputs (a :class:`Value`, a Python scalar or None), ``outputs`` the result first and then any extra
    outputs (e.g. max-pool indices); ``module`` is the path of the module that ran it ("" for the top-level model),
    ``module_type`` its class name and ``call`` which call of that module it was (0 for the first)."""

    op: str
    attrs: dict
    inputs: list
    outputs: list[Value]
    module: str
    module_type: str
    call: int
    function: Function = field(repr=False)


@dataclass
class Graph:
    """A traced forward pass: inputs, outputs, nodes in execution order (every input before its consumers) and
    the parameters/buffers it read, by state-dict name."""

    inputs: list[Value]
    outputs: list[Value]
    nodes: list[Node]
    state: dict[str, Value]
    consts: list[Value]
    output_structure: str  # "tensor" | "sequence" | "mapping"
    output_keys: list


@dataclass(eq=False)
class _Call:
    path: str
    module: object
    inputs: list
    outputs: list = field(default_factory=list)
    index: int = 0


def _tensors_in(obj) -> list[Tensor]:
    """The Tensors inside a (nested) argument or result: tuples, lists, dicts, namedtuples."""
    if isinstance(obj, Tensor):
        return [obj]
    if isinstance(obj, dict):
        return [t for v in obj.values() for t in _tensors_in(v)]
    if isinstance(obj, (tuple, list)):
        return [t for v in obj for t in _tensors_in(v)]
    return []


def _as_input(value, index: int) -> Tensor:
    if isinstance(value, Tensor):
        data = value.data
    elif isinstance(value, np.ndarray):
        data = value
    else:
        raise InputTypeError(f"onnx export: example input {index} must be a Tensor or an ndarray, "
                             f"got {type(value).__name__}")
    if data.dtype.kind != "f":
        raise InputTypeError(f"onnx export: example input {index} must be floating point, got dtype {data.dtype}")
    return Tensor(np.array(data, copy=True), requires_grad=True)


def _flatten_outputs(out) -> tuple[list[Tensor], str, list]:
    if isinstance(out, Tensor):
        return [out], "tensor", []
    if isinstance(out, dict):
        keys = list(out)
        if not all(isinstance(out[k], Tensor) for k in keys):
            raise InputError("onnx export: every value of the model's output dict must be a Tensor")
        return [out[k] for k in keys], "mapping", keys
    if isinstance(out, (tuple, list)) and out and all(isinstance(t, Tensor) for t in out):
        keys = list(getattr(out, "_fields", ()))
        return list(out), "sequence", keys
    raise InputError(f"onnx export: the model must return a Tensor, a tuple/list of Tensors or a dict of Tensors, "
                     f"got {type(out).__name__}")


def _run_with_hooks(model, xs: list[Tensor]):
    """Run the model once with hooks on every module; returns (output, calls in completion order)."""
    paths: dict[int, str] = {}
    for path, module in model.named_modules():
        paths.setdefault(id(module), path)
    stack: list[_Call] = []
    finished: list[_Call] = []
    counts: dict[str, int] = {}

    def pre_hook(module, args, kwargs):
        path = paths.get(id(module), "")
        call = _Call(path, module, _tensors_in(args) + _tensors_in(kwargs), index=counts.get(path, 0))
        counts[path] = call.index + 1
        stack.append(call)

    def hook(module, args, kwargs, output):
        call = stack.pop()
        call.outputs = _tensors_in(output)
        finished.append(call)

    handles = []
    try:
        for _, module in model.named_modules():
            handles.append(module.register_forward_pre_hook(pre_hook, with_kwargs=True))
            handles.append(module.register_forward_hook(hook, with_kwargs=True))
        with enable_grad():
            out = model(*xs)
    finally:
        for h in handles:
            h.remove()
    return out, finished


def _collect_nodes(outputs: list[Tensor]) -> list[Function]:
    """Every recorded op that leads to an output, each after the ops producing its inputs (iterative DFS)."""
    order: list[Function] = []
    done: set[int] = set()
    entered: set[int] = set()
    stack = [(t.grad_fn, False) for t in reversed(outputs) if t.grad_fn is not None]
    while stack:
        fn, expanded = stack.pop()
        if id(fn) in done:
            continue
        if expanded:
            done.add(id(fn))
            order.append(fn)
            continue
        if id(fn) in entered:  # already being expanded further down the stack: its inputs come first there
            continue
        entered.add(id(fn))
        stack.append((fn, True))
        for t in reversed(fn.inputs):
            if isinstance(t, Tensor) and t.grad_fn is not None and id(t.grad_fn) not in done:
                stack.append((t.grad_fn, False))
    return order


def _owners(calls: list[_Call], nodes: list[Function]) -> dict[int, _Call]:
    """The innermost module call each op ran in: calls complete innermost first, so the first call whose
    output reaches an op (walking back no further than the call's inputs) owns it."""
    recorded = {id(fn) for fn in nodes}
    owner: dict[int, _Call] = {}
    for call in calls:
        stop = {id(t) for t in call.inputs}
        stack = [t.grad_fn for t in call.outputs if t.grad_fn is not None and id(t) not in stop]
        visited: set[int] = set()
        while stack:
            fn = stack.pop()
            if id(fn) in visited or id(fn) not in recorded:
                continue
            visited.add(id(fn))
            owner.setdefault(id(fn), call)
            for t in fn.inputs:
                if isinstance(t, Tensor) and t.grad_fn is not None and id(t) not in stop:
                    stack.append(t.grad_fn)
    return owner


def trace(model, example_inputs) -> Graph:
    """Run ``model`` once on ``example_inputs`` (a Tensor/ndarray or a tuple of them) and return its
    :class:`Graph`. The model runs as it is (call ``eval()`` first for inference behaviour); its parameters are not
    changed."""
    if not isinstance(example_inputs, (tuple, list)):
        example_inputs = (example_inputs,)
    xs = [_as_input(v, i) for i, v in enumerate(example_inputs)]
    out, calls = _run_with_hooks(model, xs)
    out_tensors, structure, keys = _flatten_outputs(out)
    functions = _collect_nodes(out_tensors)
    owner = _owners(calls, functions)

    state_names: dict[int, str] = {}
    for name, t in model.state_dict(keep_vars=True).items():
        state_names.setdefault(id(t), name)
    module_types = {path: type(m).__name__ for path, m in model.named_modules()}

    values: dict[int, Value] = {}  # id(Tensor) -> Value
    extra_values: dict[int, Value] = {}  # id(ndarray) of an op's extra output -> Value
    inputs = []
    for i, x in enumerate(xs):
        v = Value("input" if len(xs) == 1 else f"input_{i}", x.shape, x.dtype, "input")
        values[id(x)] = v
        inputs.append(v)
    state: dict[str, Value] = {}
    consts: list[Value] = []
    nodes: list[Node] = []

    def leaf_value(t: Tensor, where: str) -> Value:
        if id(t) in values:
            return values[id(t)]
        if id(t.data) in extra_values:
            return extra_values[id(t.data)]
        name = state_names.get(id(t))
        if name is not None:
            v = Value(name, t.shape, t.dtype, "state", t.data)
            state[name] = v
        else:
            v = Value(f"{where}.const{len(consts)}" if where else f"const{len(consts)}", t.shape, t.dtype, "const",
                      np.ascontiguousarray(t.data))
            consts.append(v)
        values[id(t)] = v
        return v

    for fn in functions:
        call = owner.get(id(fn))
        path = call.path if call is not None else ""
        op = type(fn).__name__
        node = Node(op, dict(getattr(fn, "attrs", {})), [], [], path, module_types.get(path, type(model).__name__),
                    call.index if call is not None else 0, fn)
        for t in fn.inputs:
            if isinstance(t, Tensor):
                node.inputs.append(values[id(t)] if t.grad_fn is not None else leaf_value(t, path))
            elif isinstance(t, np.ndarray):
                v = Value(f"{path}.const{len(consts)}" if path else f"const{len(consts)}", t.shape, t.dtype, "const",
                          np.ascontiguousarray(t))
                consts.append(v)
                node.inputs.append(v)
            else:
                node.inputs.append(t)
        result = fn.output()
        if result is None:  # pragma: no cover - every collected node's output is referenced by its consumer
            raise InputError(f"onnx export: lost the output of {op} in {path or 'the model'}")
        base = f"{path}/{op}" if path else op
        out_value = Value(f"{base}#{len(nodes)}", result.shape, result.dtype, "node", producer=node)
        values[id(result)] = out_value
        node.outputs.append(out_value)
        for k, extra in enumerate(getattr(fn, "extras", ())):
            ev = Value(f"{base}#{len(nodes)}:{k + 1}", extra.shape, extra.dtype, "node", producer=node)
            extra_values[id(extra)] = ev
            node.outputs.append(ev)
        nodes.append(node)

    outputs = []
    for i, t in enumerate(out_tensors):
        if id(t) in values:
            outputs.append(values[id(t)])
        elif id(t.data) in extra_values:  # e.g. max-pool indices returned by the model
            outputs.append(extra_values[id(t.data)])
        else:
            raise InputError(f"onnx export: model output {i} does not depend on the input (it is a constant or was "
                             f"computed without recording, e.g. under no_grad or through .data/.numpy())")
    return Graph(inputs, outputs, nodes, state, consts, structure, keys)
