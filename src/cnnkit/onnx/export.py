"""ONNX export: a traced forward pass (:mod:`cnnkit.onnx.trace`) written as an ONNX graph.

Each recorded op is written by the handler registered for its Function class (``_HANDLERS``); the handler reads
the op's attributes and emits one or a few ONNX nodes. Parameters and buffers become initializers under their
state-dict names; nodes are named after the module that ran them (``layer1.0.conv1``; ``layer1.0/Add`` when a
module emits several nodes, ``Reshape`` for ops of the top-level model). With ``dynamic_batch`` the first axis of
every input and output is the symbolic ``batch`` and shape-carrying attributes that held the traced batch size are
written so they follow the input (Reshape copies the first axis, Resize and MaxUnpool sizes are built from the
input's shape).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..errors import InputError
from .trace import Graph, Node, Value, trace

__all__ = ["export", "to_model_proto", "ExportError", "exportable_ops"]


class ExportError(InputError):
    """The model holds an op (or an op configuration) that has no ONNX equivalent here: the message names the op and
    the module that ran it."""


def _onnx():
    try:
        import onnx
    except ImportError:  # pragma: no cover - depends on the environment
        raise InputError("ONNX export and import need the onnx package: pip install 'cnnkit[onnx]'") from None
    return onnx


def _where(node: Node) -> str:
    return f"module {node.module!r} ({node.module_type})" if node.module else f"the model ({node.module_type})"


def _fail(node: Node, why: str):
    raise ExportError(f"onnx export: cannot write op {node.op} in {_where(node)}: {why}")


class _Builder:
    """Collects ONNX nodes and initializers for one graph."""

    def __init__(self, graph: Graph, opset: int, dynamic_batch: bool):
        self.onnx = _onnx()
        self.graph, self.opset, self.dynamic = graph, opset, dynamic_batch
        self.nodes: list[tuple] = []  # (op_type, inputs, outputs, attrs, traced node)
        self.initializers: dict[str, np.ndarray] = {}
        self._count = 0
        self.current: Node | None = None

    # ------------------------------------------------------------------ names
    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}#{self._count}"

    def name(self, v) -> str:
        """The ONNX name of a traced input (registering parameters and constants as initializers)."""
        if isinstance(v, Value):
            if v.kind in ("state", "const") and v.name not in self.initializers:
                self.initializers[v.name] = np.ascontiguousarray(v.array)
            return v.name
        raise TypeError(v)  # pragma: no cover - handlers pass scalars through scalar()

    def const(self, array, hint: str = "const") -> str:
        base = f"{self.current.module}.{hint}" if self.current is not None and self.current.module else hint
        name = base
        k = 1
        while name in self.initializers:
            name = f"{base}_{k}"
            k += 1
        self.initializers[name] = np.ascontiguousarray(array)
        return name

    def ints(self, values, hint: str) -> str:
        return self.const(np.asarray(values, dtype=np.int64), hint)

    def scalar(self, value, dtype, hint: str = "scalar") -> str:
        return self.const(np.asarray(value, dtype=dtype), hint)

    def operand(self, v, dtype, hint: str = "scalar") -> str:
        """A traced input or a Python number (as a constant of ``dtype``)."""
        if isinstance(v, Value):
            return self.name(v)
        return self.scalar(v, dtype, hint)

    def out(self, node: Node, k: int = 0) -> str:
        return node.outputs[k].name

    # ------------------------------------------------------------------ nodes
    def emit(self, op_type: str, inputs: list, outputs=1, **attrs) -> list[str]:
        if isinstance(outputs, int):
            outputs = [self.fresh(f"{self.current.module or op_type}/{op_type}") for _ in range(outputs)]
        self.nodes.append((op_type, list(inputs), list(outputs), attrs, self.current))
        return outputs

    def emit1(self, op_type: str, inputs: list, output=None, **attrs) -> str:
        return self.emit(op_type, inputs, 1 if output is None else [output], **attrs)[0]

    def leading_dims(self, x: str, n: int) -> str:
        """The first ``n`` entries of ``x``'s shape, as a 1-D int64 tensor computed at run time."""
        shape = self.emit1("Shape", [x])
        return self.emit1("Slice", [shape, self.ints([0], "start"), self.ints([n], "end")])

    def batch_shape(self, x: str, shape: tuple, hint: str = "shape", follow: int = 1) -> str:
        """A 1-D int64 shape equal to ``shape``; with a dynamic batch its first ``follow`` entries are read from
        ``x``'s shape at run time."""
        if not self.dynamic:
            return self.ints(shape, hint)
        rest = self.ints(shape[follow:], hint)
        return self.emit1("Concat", [self.leading_dims(x, follow), rest], axis=0)


# ---------------------------------------------------------------------------------------------------- handlers
_HANDLERS: dict = {}


def _handles(*ops):
    def register(fn):
        for op in ops:
            _HANDLERS[op] = fn
        return fn

    return register


def exportable_ops() -> list[str]:
    """The names of the ops (Function classes) the exporter can write."""
    return sorted(_HANDLERS)


def _pads(pairs) -> list[int]:
    """((top, bottom), (left, right)) -> ONNX [top, left, bottom, right]."""
    return [int(pairs[0][0]), int(pairs[1][0]), int(pairs[0][1]), int(pairs[1][1])]


def _sym(p) -> list[int]:
    return [int(p[0]), int(p[1]), int(p[0]), int(p[1])]


def _check_4d(node: Node, what: str = "input"):
    if len(node.inputs[0].shape) != 4:
        _fail(node, f"expected a 4-D (N, C, H, W) {what}, got shape {node.inputs[0].shape}")


@_handles("Conv2d")
def _conv(b: _Builder, node: Node):
    _check_4d(node)
    x, w, bias = (node.inputs + [None])[:3]
    a = node.attrs
    ins = [b.name(x), b.name(w)] + ([b.name(bias)] if bias is not None else [])
    b.emit1("Conv", ins, b.out(node), kernel_shape=list(w.shape[2:]), strides=list(a["stride"]),
            pads=_pads(a["padding"]), dilations=list(a["dilation"]), group=int(a["groups"]))


@_handles("ConvTranspose2d")
def _conv_transpose(b: _Builder, node: Node):
    _check_4d(node)
    x, w, bias = (node.inputs + [None])[:3]
    a = node.attrs
    ins = [b.name(x), b.name(w)] + ([b.name(bias)] if bias is not None else [])
    b.emit1("ConvTranspose", ins, b.out(node), kernel_shape=list(w.shape[2:]), strides=list(a["stride"]),
            pads=_sym(a["padding"]), output_padding=list(a["output_padding"]), dilations=list(a["dilation"]),
            group=int(a["groups"]))


def _pool_output(node: Node) -> tuple[int, int]:
    return tuple(node.outputs[0].shape[-2:])


@_handles("MaxPool2d")
def _max_pool(b: _Builder, node: Node):
    _check_4d(node)
    a = node.attrs
    outputs = [b.out(node)] + ([b.out(node, 1)] if a.get("return_indices") else [])
    # with indices, ONNX numbers elements over the whole (N, C, H, W) tensor and cnnkit per (H, W) plane; the
    # only consumer written here (MaxUnpool) reads ONNX's numbering, so a graph output is converted below
    b.emit("MaxPool", [b.name(node.inputs[0])], outputs, kernel_shape=list(a["kernel_size"]),
           strides=list(a["stride"]), pads=_sym(a["padding"]), dilations=list(a["dilation"]),
           ceil_mode=int(bool(a["ceil_mode"])))


@_handles("AvgPool2d")
def _avg_pool(b: _Builder, node: Node):
    _check_4d(node)
    a = node.attrs
    kernel = list(a["kernel_size"])
    attrs = dict(kernel_shape=kernel, strides=list(a["stride"]), pads=_sym(a["padding"]),
                 ceil_mode=int(bool(a["ceil_mode"])), count_include_pad=int(bool(a["count_include_pad"])))
    x = b.name(node.inputs[0])
    divisor = a.get("divisor_override")
    if divisor is None:
        b.emit1("AveragePool", [x], b.out(node), **attrs)
        return
    if a["ceil_mode"]:
        _fail(node, "divisor_override with ceil_mode=True (windows of different sizes) has no ONNX equivalent")
    attrs["count_include_pad"] = 1
    mean = b.emit1("AveragePool", [x], **attrs)
    factor = b.scalar(kernel[0] * kernel[1] / divisor, node.outputs[0].dtype, "divisor")
    b.emit1("Mul", [mean, factor], b.out(node))


def _adaptive_bins(n_in: int, n_out: int) -> list[tuple[int, int]]:
    return [((i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)) for i in range(n_out)]


def _adaptive(b: _Builder, node: Node, kind: str):
    _check_4d(node)
    h, w = node.inputs[0].shape[-2:]
    oh, ow = node.attrs["output_size"]
    x = b.name(node.inputs[0])
    if (oh, ow) == (1, 1):
        b.emit1("GlobalAveragePool" if kind == "avg" else "GlobalMaxPool", [x], b.out(node))
        return
    if h % oh == 0 and w % ow == 0:
        k = [h // oh, w // ow]
        if k == [1, 1]:
            b.emit1("Identity", [x], b.out(node))
        else:
            b.emit1("AveragePool" if kind == "avg" else "MaxPool", [x], b.out(node), kernel_shape=k, strides=k)
        return
    # bins of different sizes: the pooling is separable, so reduce over each row band, then each column band
    reduce = "ReduceMean" if kind == "avg" else "ReduceMax"
    cur = x
    for axis, n_in, n_out in ((2, h, oh), (3, w, ow)):
        if n_in == n_out:
            continue
        parts = []
        for start, end in _adaptive_bins(n_in, n_out):
            piece = b.emit1("Slice", [cur, b.ints([start], "start"), b.ints([end], "end"), b.ints([axis], "axes")])
            parts.append(b.emit1(reduce, [piece], axes=[axis], keepdims=1))
        cur = b.emit1("Concat", parts, axis=axis)
    b.emit1("Identity", [cur], b.out(node))


@_handles("AdaptiveAvgPool2d")
def _adaptive_avg(b, node):
    _adaptive(b, node, "avg")


@_handles("AdaptiveMaxPool2d")
def _adaptive_max(b, node):
    if node.attrs.get("return_indices"):
        _fail(node, "return_indices=True is not supported")
    _adaptive(b, node, "max")


@_handles("MaxUnpool2d")
def _max_unpool(b: _Builder, node: Node):
    x, indices = node.inputs[0], node.inputs[1]
    if not isinstance(indices, Value) or indices.producer is None or indices.producer.op != "MaxPool2d":
        _fail(node, "the indices must come from a max_pool2d(return_indices=True) in the same model")
    a = node.attrs
    k = list(a.get("kernel_size", (2, 2)))
    s = list(a.get("stride") or k)
    p = a.get("padding", (0, 0))
    out_shape = node.outputs[0].shape
    shape = b.batch_shape(b.name(x), out_shape, "output_shape", follow=2)
    b.emit1("MaxUnpool", [b.name(x), b.name(indices), shape], b.out(node), kernel_shape=k, strides=s,
            pads=_sym(p if isinstance(p, (tuple, list)) else (p, p)))


@_handles("BatchNorm")
def _batch_norm(b: _Builder, node: Node):
    x, mean, var, weight, bias = node.inputs
    a = node.attrs
    if a.get("training"):
        _fail(node, "batch statistics (training mode) cannot be exported; call model.eval() first")
    dtype = x.dtype
    c = x.shape[1]
    ins = [b.name(x),
           b.name(weight) if weight is not None else b.const(np.ones(c, dtype), "weight"),
           b.name(bias) if bias is not None else b.const(np.zeros(c, dtype), "bias"),
           b.name(mean), b.name(var)]
    b.emit1("BatchNormalization", ins, b.out(node), epsilon=float(a["eps"]))


@_handles("LocalResponseNorm")
def _lrn(b: _Builder, node: Node):
    a = node.attrs
    size, alpha, beta, k = int(a["size"]), float(a["alpha"]), float(a["beta"]), float(a["k"])
    x = node.inputs[0]
    if size % 2 == 1:  # ONNX centres odd windows as PyTorch does
        b.emit1("LRN", [b.name(x)], b.out(node), size=size, alpha=alpha, beta=beta, bias=k)
        return
    # an even window sits one channel further back in PyTorch than in ONNX: write PyTorch's own formula
    dtype = x.dtype
    sq = b.emit1("Mul", [b.name(x), b.name(x)])
    sq5 = b.emit1("Unsqueeze", [sq, b.ints([1], "axes")])
    ndim = len(x.shape) + 1
    pads = [0] * (2 * ndim)
    pads[2], pads[ndim + 2] = size // 2, (size - 1) // 2
    padded = b.emit1("Pad", [sq5, b.ints(pads, "pads")])
    window = [size] + [1] * (ndim - 3)
    avg = b.emit1("AveragePool", [padded], kernel_shape=window, strides=[1] * (ndim - 2))
    div = b.emit1("Squeeze", [avg, b.ints([1], "axes")])
    div = b.emit1("Mul", [div, b.scalar(alpha, dtype, "alpha")])
    div = b.emit1("Add", [div, b.scalar(k, dtype, "k")])
    div = b.emit1("Pow", [div, b.scalar(beta, dtype, "beta")])
    b.emit1("Div", [b.name(x), div], b.out(node))


_UNARY = {"ReLU": "Relu", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "Neg": "Neg", "Exp": "Exp", "Log": "Log",
          "Sqrt": "Sqrt", "Abs": "Abs", "Clone": "Identity", "Erf": "Erf"}


@_handles(*_UNARY)
def _unary(b: _Builder, node: Node):
    b.emit1(_UNARY[node.op], [b.name(node.inputs[0])], b.out(node))


@_handles("LeakyReLU")
def _leaky_relu(b, node):
    b.emit1("LeakyRelu", [b.name(node.inputs[0])], b.out(node), alpha=float(node.attrs.get("negative_slope", 0.01)))


@_handles("ELU")
def _elu(b, node):
    b.emit1("Elu", [b.name(node.inputs[0])], b.out(node), alpha=float(node.attrs.get("alpha", 1.0)))


@_handles("Hardtanh")
def _hardtanh(b, node):
    x = node.inputs[0]
    lo = b.scalar(node.attrs.get("min_val", -1.0), x.dtype, "min")
    hi = b.scalar(node.attrs.get("max_val", 1.0), x.dtype, "max")
    b.emit1("Clip", [b.name(x), lo, hi], b.out(node))


@_handles("Clip")
def _clip(b, node):
    x = node.inputs[0]
    lo, hi = node.attrs.get("lo"), node.attrs.get("hi")
    ins = [b.name(x), b.scalar(lo, x.dtype, "min") if lo is not None else ""]
    if hi is not None:
        ins.append(b.scalar(hi, x.dtype, "max"))
    b.emit1("Clip", ins, b.out(node))


@_handles("GELU")
def _gelu(b: _Builder, node: Node):
    x = node.inputs[0]
    dt = x.dtype
    xn = b.name(x)
    if node.attrs.get("approximate", "none") == "tanh":
        cube = b.emit1("Mul", [b.emit1("Mul", [xn, xn]), xn])
        inner = b.emit1("Add", [xn, b.emit1("Mul", [cube, b.scalar(0.044715, dt, "c")])])
        t = b.emit1("Tanh", [b.emit1("Mul", [inner, b.scalar(math.sqrt(2 / math.pi), dt, "sqrt_2_pi")])])
        cdf = b.emit1("Add", [t, b.scalar(1.0, dt, "one")])
    else:
        e = b.emit1("Erf", [b.emit1("Mul", [xn, b.scalar(math.sqrt(0.5), dt, "sqrt_half")])])
        cdf = b.emit1("Add", [e, b.scalar(1.0, dt, "one")])
    half = b.emit1("Mul", [xn, b.scalar(0.5, dt, "half")])
    b.emit1("Mul", [half, cdf], b.out(node))


@_handles("Softmax", "LogSoftmax")
def _softmax(b, node):
    b.emit1(node.op, [b.name(node.inputs[0])], b.out(node), axis=int(node.attrs["dim"]))


@_handles("Linear")
def _linear(b: _Builder, node: Node):
    x, w, bias = (node.inputs + [None])[:3]
    if len(x.shape) == 2 and (bias is None or len(bias.shape) == 1):
        ins = [b.name(x), b.name(w)] + ([b.name(bias)] if bias is not None else [])
        b.emit1("Gemm", ins, b.out(node), transB=1)
        return
    wt = b.emit1("Transpose", [b.name(w)], perm=[1, 0])
    if bias is None:
        b.emit1("MatMul", [b.name(x), wt], b.out(node))
    else:
        b.emit1("Add", [b.emit1("MatMul", [b.name(x), wt]), b.name(bias)], b.out(node))


_BINARY = {"Add": "Add", "Sub": "Sub", "Mul": "Mul", "Div": "Div", "Pow": "Pow", "MatMul": "MatMul"}


@_handles(*_BINARY)
def _binary(b: _Builder, node: Node):
    dtype = node.outputs[0].dtype
    a, c = node.inputs[:2]
    b.emit1(_BINARY[node.op], [b.operand(a, dtype), b.operand(c, dtype)], b.out(node))


@_handles("Reshape")
def _reshape(b: _Builder, node: Node):
    x = node.inputs[0]
    shape = list(node.attrs["shape"])
    if b.dynamic and shape and x.shape and shape[0] == x.shape[0]:
        shape[0] = 0  # ONNX: copy the input's first axis (the batch)
    if b.dynamic and len(shape) == 2 and shape[0] == 0 and shape[1] != 0 and len(x.shape) >= 2:
        shape[1] = -1
    b.emit1("Reshape", [b.name(x), b.ints(shape, "shape")], b.out(node))


@_handles("Permute")
def _permute(b, node):
    b.emit1("Transpose", [b.name(node.inputs[0])], b.out(node), perm=[int(a) for a in node.attrs["axes"]])


@_handles("BroadcastTo")
def _expand(b: _Builder, node: Node):
    x = node.inputs[0]
    target = list(node.attrs["shape"])
    offset = len(target) - len(x.shape)
    # ONNX Expand broadcasts both ways: a 1 wherever the input already has the size keeps a dynamic batch
    shape = [1 if i >= offset and x.shape[i - offset] == n else n for i, n in enumerate(target)]
    b.emit1("Expand", [b.name(x), b.ints(shape, "shape")], b.out(node))


@_handles("Concat")
def _concat(b, node):
    b.emit1("Concat", [b.name(v) for v in node.inputs], b.out(node), axis=int(node.attrs["axis"]))


@_handles("Stack")
def _stack(b, node):
    axis = int(node.attrs["axis"])
    parts = [b.emit1("Unsqueeze", [b.name(v), b.ints([axis], "axes")]) for v in node.inputs]
    b.emit1("Concat", parts, b.out(node), axis=axis)


@_handles("GetItem")
def _getitem(b: _Builder, node: Node):
    x = node.inputs[0]
    index = node.attrs["index"]
    items = index if isinstance(index, tuple) else (index,)
    if any(i is Ellipsis for i in items):
        k = items.index(Ellipsis)
        fill = len(x.shape) - (len(items) - 1 - sum(i is None for i in items))
        items = items[:k] + (slice(None),) * fill + items[k + 1:]
    starts, ends, axes, steps, squeeze, unsqueeze = [], [], [], [], [], []
    axis = out_axis = 0
    gathers = []
    for item in items:
        if item is None:
            unsqueeze.append(out_axis)
            out_axis += 1
            continue
        n = x.shape[axis]
        if isinstance(item, slice):
            start, stop, step = item.indices(n)
            if (start, stop, step) != (0, n, 1):
                if step < 0:
                    _fail(node, f"negative slice steps are not supported (index {index!r})")
                starts.append(start)
                ends.append(stop)
                axes.append(axis)
                steps.append(step)
            out_axis += 1
        elif isinstance(item, (int, np.integer)):
            i = int(item) % n
            starts.append(i)
            ends.append(i + 1)
            axes.append(axis)
            steps.append(1)
            squeeze.append(axis)
        elif isinstance(item, np.ndarray) and item.dtype.kind in "iu" and item.ndim == 1 and not gathers:
            gathers.append((axis, item % n))
            out_axis += 1
        else:
            _fail(node, f"indexing with {type(item).__name__} (index {index!r}) is not supported; use slices, "
                        f"integers or one 1-D integer array")
        axis += 1
    cur = b.name(x)
    if starts:
        cur = b.emit1("Slice", [cur, b.ints(starts, "starts"), b.ints(ends, "ends"), b.ints(axes, "axes"),
                                b.ints(steps, "steps")])
    for g_axis, idx in gathers:
        cur = b.emit1("Gather", [cur, b.ints(idx, "indices")], axis=g_axis)
    if squeeze:
        cur = b.emit1("Squeeze", [cur, b.ints(squeeze, "axes")])
    if unsqueeze:
        cur = b.emit1("Unsqueeze", [cur, b.ints(unsqueeze, "axes")])
    b.emit1("Identity", [cur], b.out(node))


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


@_handles("Pad")
def _pad(b: _Builder, node: Node):
    x = node.inputs[0]
    widths = node.attrs["widths"]
    mode = node.attrs.get("mode", "constant")
    if mode not in _PAD_MODES:
        _fail(node, f"padding mode {mode!r} is not supported")
    if mode == "circular" and b.opset < 19:
        _fail(node, f"circular padding needs opset 19 or later (ONNX's 'wrap' mode), exporting opset {b.opset}")
    pads = [int(w[0]) for w in widths] + [int(w[1]) for w in widths]
    ins = [b.name(x), b.ints(pads, "pads")]
    if mode == "constant":
        ins.append(b.scalar(node.attrs.get("value", 0.0), x.dtype, "value"))
    b.emit1("Pad", ins, b.out(node), mode=_PAD_MODES[mode])


@_handles("Where")
def _where_op(b: _Builder, node: Node):
    cond, x, y = node.inputs
    dtype = node.outputs[0].dtype
    b.emit1("Where", [b.name(cond), b.operand(x, dtype), b.operand(y, dtype)], b.out(node))


def _axes(node: Node) -> list[int]:
    axis = node.attrs.get("axis")
    return list(range(len(node.inputs[0].shape))) if axis is None else [int(a) for a in axis]


@_handles("Sum", "Mean", "Extremum")
def _reduce(b: _Builder, node: Node):
    x = node.inputs[0]
    keep = int(bool(node.attrs.get("keepdims")))
    axes = _axes(node)
    if node.op == "Sum":
        b.emit1("ReduceSum", [b.name(x), b.ints(axes, "axes")], b.out(node), keepdims=keep)
        return
    op = "ReduceMean" if node.op == "Mean" else ("ReduceMax" if node.attrs.get("mode") == "max" else "ReduceMin")
    if b.opset >= 18:
        b.emit1(op, [b.name(x), b.ints(axes, "axes")], b.out(node), keepdims=keep)
    else:
        b.emit1(op, [b.name(x)], b.out(node), axes=axes, keepdims=keep)


@_handles("Var")
def _var(b: _Builder, node: Node):
    x = node.inputs[0]
    axes = _axes(node)
    n = int(np.prod([x.shape[a] for a in axes]))
    denom = max(n - int(node.attrs.get("correction", 1)), 0)
    mean_attrs = {"axes": axes} if b.opset < 18 else {}
    mean_in = [b.name(x)] + ([b.ints(axes, "axes")] if b.opset >= 18 else [])
    mean = b.emit1("ReduceMean", mean_in, keepdims=1, **mean_attrs)
    d = b.emit1("Sub", [b.name(x), mean])
    sq = b.emit1("Mul", [d, d])
    total = b.emit1("ReduceSum", [sq, b.ints(axes, "axes")], keepdims=int(bool(node.attrs.get("keepdims"))))
    b.emit1("Div", [total, b.scalar(denom, x.dtype, "count")], b.out(node))


@_handles("Cast")
def _cast(b: _Builder, node: Node):
    onnx = b.onnx
    to = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(node.attrs["dtype"]))
    b.emit1("Cast", [b.name(node.inputs[0])], b.out(node), to=int(to))


@_handles("Dropout", "Dropout2d")
def _dropout(b, node):
    _fail(node, "dropout in training mode is random; call model.eval() first (in eval it is the identity)")


@_handles("Interpolate")
def _interpolate(b: _Builder, node: Node):
    x = node.inputs[0]
    a = node.attrs
    mode = a.get("mode", "nearest")
    if a.get("antialias"):
        _fail(node, "antialias=True has no ONNX equivalent before opset 18")
    out_h, out_w = node.outputs[0].shape[-2:]
    scales = a.get("scale_factor")
    attrs: dict = {}
    if mode == "nearest":
        attrs = dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    elif mode == "nearest-exact":
        attrs = dict(mode="nearest", coordinate_transformation_mode="half_pixel", nearest_mode="round_prefer_ceil")
    elif mode in ("bilinear", "bicubic"):
        align = bool(a.get("align_corners"))
        attrs = dict(mode="linear" if mode == "bilinear" else "cubic",
                     coordinate_transformation_mode="align_corners" if align else "half_pixel")
        if mode == "bicubic":
            attrs["cubic_coeff_a"] = -0.75
    else:
        _fail(node, f"mode {mode!r} is not supported")
    xn = b.name(x)
    if scales is not None and all(s is not None for s in scales) and not (
            mode in ("bilinear", "bicubic") and a.get("align_corners")):
        scale_in = b.const(np.asarray([1.0, 1.0, *scales], dtype=np.float32), "scales")
        b.emit1("Resize", [xn, "", scale_in], b.out(node), **attrs)
    else:
        sizes = b.batch_shape(xn, (x.shape[0], x.shape[1], out_h, out_w), "sizes", follow=2)
        b.emit1("Resize", [xn, "", "", sizes], b.out(node), **attrs)


# ---------------------------------------------------------------------------------------------------- assembly
def _node_names(nodes: list[tuple]) -> list[str]:
    """Readable, unique node names: the module path when a module call emitted one node, otherwise
    ``path/OpType`` (``OpType`` alone for the top-level model), with a counter where a name repeats."""
    per_call: dict[tuple, int] = defaultdict(int)
    for *_, owner in nodes:
        key = (owner.module, owner.call) if owner is not None else ("", 0)
        per_call[key] += 1
    names, used = [], set()
    for op_type, *_rest, owner in nodes:
        path, call = (owner.module, owner.call) if owner is not None else ("", 0)
        base = path + (f"_{call}" if call else "") if path else ""
        if not base:
            name = op_type
        elif per_call[(path, call)] == 1:
            name = base
        else:
            name = f"{base}/{op_type}"
        unique, k = name, 1
        while unique in used:
            unique = f"{name}_{k}"
            k += 1
        used.add(unique)
        names.append(unique)
    return names


def _indices_output_fix(b: _Builder, graph: Graph) -> None:
    """Max-pool indices returned by the model: ONNX's whole-tensor numbering -> cnnkit's per-plane numbering."""
    for v in graph.outputs:
        if v.producer is not None and v.producer.op == "MaxPool2d" and v is not v.producer.outputs[0]:
            h, w = v.producer.inputs[0].shape[-2:]
            raw = b.fresh("indices_raw")
            for i, (op_type, ins, outs, attrs, owner) in enumerate(b.nodes):
                if v.name in outs:
                    b.nodes[i] = (op_type, ins, [raw if o == v.name else o for o in outs], attrs, owner)
            b.current = v.producer
            b.emit1("Mod", [raw, b.ints(h * w, "plane")], v.name)


def to_model_proto(graph: Graph, opset: int = 17, dynamic_batch: bool = True, doc: str = "",
                   metadata: dict | None = None, graph_name: str = "cnnkit"):
    """The ONNX ``ModelProto`` of a traced :class:`~cnnkit.onnx.trace.Graph`."""
    onnx = _onnx()
    helper = onnx.helper
    b = _Builder(graph, opset, dynamic_batch)
    for node in graph.nodes:
        handler = _HANDLERS.get(node.op)
        if handler is None:
            raise ExportError(f"onnx export: op {node.op} in {_where(node)} has no ONNX writer; exportable ops: "
                              f"{', '.join(exportable_ops())}")
        b.current = node
        handler(b, node)
    b.current = None

    # graph outputs get plain names; an output that is an input or a weight goes through an Identity
    single = len(graph.outputs) == 1
    out_names = []
    for i in range(len(graph.outputs)):
        if graph.output_keys:  # dict keys or namedtuple fields
            name = str(graph.output_keys[i])
        else:
            name = "output" if single else f"output_{i}"
        out_names.append(name)
    renames = {}
    for v, name in zip(graph.outputs, out_names, strict=True):
        if v.kind == "node" and v.name not in renames:
            renames[v.name] = name
        else:
            b.current = v.producer
            b.emit1("Identity", [renames.get(v.name, b.name(v) if v.kind != "input" else v.name)], name)
    b.nodes = [(op, [renames.get(i, i) for i in ins], [renames.get(o, o) for o in outs], attrs, owner)
               for op, ins, outs, attrs, owner in b.nodes]
    for v in graph.outputs:
        v_name = renames.get(v.name)
        if v_name is not None:
            v.name = v_name
    _indices_output_fix(b, graph)

    names = _node_names(b.nodes)
    proto_nodes = []
    for (op_type, ins, outs, attrs, owner), name in zip(b.nodes, names, strict=True):
        doc_string = f"{owner.module_type} ({owner.op})" if owner is not None else ""
        proto_nodes.append(helper.make_node(op_type, ins, outs, name=name, doc_string=doc_string, **attrs))

    def value_info(v: Value, name: str):
        elem = helper.np_dtype_to_tensor_dtype(np.dtype(v.dtype))
        dims = list(v.shape)
        if dynamic_batch and dims:
            dims[0] = "batch"
        return helper.make_tensor_value_info(name, elem, dims)

    inputs = [value_info(v, v.name) for v in graph.inputs]
    outputs = [value_info(v, name) for v, name in zip(graph.outputs, out_names, strict=True)]
    initializers = [onnx.numpy_helper.from_array(np.ascontiguousarray(a), name) for name, a in b.initializers.items()]
    g = helper.make_graph(proto_nodes, graph_name, inputs, outputs, initializers, doc_string=doc)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="cnnkit",
                              producer_version=_version())
    model.ir_version = min(model.ir_version, 8 if opset <= 17 else model.ir_version)
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value)
    return model


def _version() -> str:
    from .. import __version__

    return __version__


def export(model, example_input, path, opset: int = 17, dynamic_batch: bool = True, metadata: dict | None = None,
           check: bool = True):
    """Trace ``model`` on ``example_input`` and write it to ``path`` as ONNX: weights as initializers under their
    state-dict names, node names from the module paths, the first axis of inputs and outputs symbolic
    (``batch``) when ``dynamic_batch``.

    The model is traced in eval mode (BatchNorm with running statistics, dropout off) and put back in the mode it
    had. ``metadata`` (str -> str or JSON-able) goes into the model's metadata properties. ``check`` runs
    ``onnx.checker`` on the result. Returns the written path. An op without an ONNX equivalent raises
    :class:`ExportError` naming the op and the module."""
    if not isinstance(opset, int) or not 13 <= opset <= 21:
        raise InputError(f"onnx export: opset must be an int between 13 and 21, got {opset!r}", field="opset")
    onnx = _onnx()
    was_training = model.training
    model.eval()
    try:
        graph = trace(model, example_input)
    finally:
        model.train(was_training)
    proto = to_model_proto(graph, opset, dynamic_batch, doc=f"{type(model).__name__} exported by cnnkit",
                           metadata=metadata, graph_name=type(model).__name__)
    if check:
        onnx.checker.check_model(proto, full_check=True)
    from ..atomic import atomic_write

    path = Path(path)
    with atomic_write(path) as f:
        f.write(proto.SerializeToString())
    return path
