"""ONNX import: an ONNX graph read into a cnnkit :class:`~cnnkit.nn.Module` that runs, trains and fine-tunes.

Ops with weights become ordinary cnnkit layers (Conv -> ``nn.Conv2d``, ConvTranspose -> ``nn.ConvTranspose2d``,
Gemm -> ``nn.Linear``, BatchNormalization -> a batch-norm layer, MatMul with a weight -> :class:`MatMulWeight`) whose
weights are copied from the initializers and are trainable Parameters. Each layer sits at the module path its
weight's name gives (``layer1.0.conv1.weight`` -> ``layer1.0.conv1``), so a graph cnnkit exported comes back with
its own state-dict keys; otherwise the path comes from the node name. The other ops run as cnnkit functions.
Shape arithmetic (Shape, Gather, Concat of int64 values, ...) is evaluated with NumPy at run time, so the batch
size stays free. Other float initializers with more than one value (e.g. a normalisation mean) become buffers, not
Parameters; scalars and integer initializers are plain constants.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .. import functional as F
from .. import nn
from ..autograd import Function, Tensor
from ..errors import InputError
from ..functional.activation import erf as _erf_array

__all__ = ["load", "OnnxGraphModule", "MatMulWeight", "OnnxImportError", "importable_ops"]


class OnnxImportError(InputError):
    """An ONNX file cnnkit cannot read: corrupt or truncated, or holding an op (or an op setting) it does not
    support. The message names the op and the node."""


# ---------------------------------------------------------------------------------------------------- helpers
class Erf(Function):
    """erf(x); d/dx = 2/sqrt(pi) exp(-x^2) (GELU exported as its Erf formula)."""

    def forward(self, x):
        self.x = x
        return _erf_array(x)

    def backward(self, g):
        x = self.x
        return g * (2.0 / np.sqrt(np.pi)) * np.exp(-(x * x))


class MatMulWeight(nn.Module):
    """``x @ weight`` with a trainable ``weight`` (in_features, out_features): an ONNX MatMul whose second input
    is an initializer."""

    def __init__(self, weight: np.ndarray):
        super().__init__()
        self.weight = nn.Parameter(np.array(weight, copy=True))

    def forward(self, x):
        return F.matmul(x, self.weight)

    def extra_repr(self) -> str:
        return f"in_features={self.weight.shape[0]}, out_features={self.weight.shape[1]}"


class BatchNorm(nn.BatchNorm2d):
    """Batch normalisation over axis 1 of an input of any rank >= 2 (ONNX's BatchNormalization)."""

    def _check_input_dim(self, input) -> None:
        if input.ndim < 2:
            raise InputError(f"BatchNorm: expected an input (N, C, ...) of at least 2 dimensions, got shape "
                             f"{tuple(input.shape)}")


class _Namespace(nn.Module):
    """A level of the module tree that only groups layers (``layer1`` holding ``layer1.0.conv1``)."""

    def forward(self, *args):  # pragma: no cover - never called
        raise RuntimeError("a namespace module of an imported ONNX graph is not callable")


class _Step:
    """One ONNX node: ``run(env)`` reads its inputs from ``env`` and stores its outputs there."""

    __slots__ = ("op", "name", "inputs", "outputs", "fn")

    def __init__(self, op: str, name: str, inputs: list[str], outputs: list[str], fn: Callable):
        self.op, self.name, self.inputs, self.outputs, self.fn = op, name, inputs, outputs, fn

    def __repr__(self) -> str:
        return f"<{self.op} {self.name!r}>"


class OnnxGraphModule(nn.Module):
    """A Module that runs an imported ONNX graph: its layers are submodules (trainable, in ``state_dict``), the
    graph's steps run in order on every call. ``forward`` takes the graph's inputs positionally and returns its
    output (a tuple when there are several)."""

    def __init__(self):
        super().__init__()
        self.input_names: list[str] = []
        self.output_names: list[str] = []
        self.steps: list[_Step] = []
        self.constants: dict[str, object] = {}
        self.opset = 0
        self.metadata: dict[str, str] = {}

    def forward(self, *inputs):
        if len(inputs) != len(self.input_names):
            raise InputError(f"OnnxGraphModule: the graph takes {len(self.input_names)} input(s) "
                             f"({', '.join(self.input_names)}), got {len(inputs)}")
        env: dict[str, object] = dict(self.constants)
        for name, value in zip(self.input_names, inputs, strict=True):
            env[name] = value if isinstance(value, Tensor) else Tensor(np.asarray(value))
        for step in self.steps:
            args = [env[i] if i else None for i in step.inputs]
            try:
                result = step.fn(*args)
            except InputError as err:
                raise InputError(f"onnx graph node {step.name!r} ({step.op}): {err}") from None
            if not isinstance(result, tuple):
                result = (result,)
            for name, value in zip(step.outputs, result, strict=False):
                if name:
                    env[name] = value
        outs = tuple(env[n] for n in self.output_names)
        return outs[0] if len(outs) == 1 else outs

    def extra_repr(self) -> str:
        return f"inputs={self.input_names}, outputs={self.output_names}, steps={len(self.steps)}, opset={self.opset}"


# ---------------------------------------------------------------------------------------------------- values
def _is_tensor(v) -> bool:
    return isinstance(v, Tensor)


def _np(v) -> np.ndarray:
    """A static (NumPy) value; a Tensor's data where a shape or index is expected."""
    return v.data if isinstance(v, Tensor) else np.asarray(v)


def _scalar(v) -> float:
    return float(np.asarray(_np(v)).reshape(-1)[0])


def _ints(v) -> list[int]:
    return [int(i) for i in np.asarray(_np(v)).reshape(-1)]


def _binary(op):
    ops = {"Add": (F.add, np.add), "Sub": (F.sub, np.subtract), "Mul": (F.mul, np.multiply),
           "Div": (F.div, np.divide), "Pow": (F.pow, np.power)}
    tensor_fn, array_fn = ops[op]

    def run(a, b):
        if _is_tensor(a) or _is_tensor(b):
            if not _is_tensor(a):
                a = Tensor(np.asarray(a, dtype=b.dtype))
            if not _is_tensor(b) and np.asarray(b).dtype.kind == "f":
                b = np.asarray(b, dtype=a.dtype)
            return tensor_fn(a, b)
        if op == "Div" and np.asarray(a).dtype.kind in "iu":
            return np.asarray(np.floor_divide(a, b))
        return np.asarray(array_fn(a, b))

    return run


# ---------------------------------------------------------------------------------------------------- the reader
class _Reader:
    def __init__(self, model, path: str):
        import onnx
        from onnx import numpy_helper

        self.onnx, self.numpy_helper = onnx, numpy_helper
        self.model, self.path = model, path
        self.graph = model.graph
        self.opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
        self.module = OnnxGraphModule()
        self.module.opset = self.opset
        self.inits = {t.name: numpy_helper.to_array(t) for t in self.graph.initializer}
        self.paths_taken: set[str] = set()
        self.known: set[str] = set(self.inits)

    # ------------------------------------------------------------------ names and layers
    def attrs(self, node) -> dict:
        helper = self.onnx.helper
        out = {}
        for a in node.attribute:
            value = helper.get_attribute_value(a)
            if isinstance(value, bytes):
                value = value.decode("utf-8")
            elif a.type == self.onnx.AttributeProto.TENSOR:
                value = self.numpy_helper.to_array(value)
            elif isinstance(value, (list, tuple)):
                value = [v.decode("utf-8") if isinstance(v, bytes) else v for v in value]
            out[a.name] = value
        return out

    def fail(self, node, why: str):
        raise OnnxImportError(f"onnx import: node {node.name or node.output[0]!r} (op {node.op_type}): {why}")

    def init(self, node, i: int, what: str) -> np.ndarray:
        if i >= len(node.input) or node.input[i] not in self.inits:
            self.fail(node, f"its {what} must be a weight stored in the file (an initializer)")
        return self.inits[node.input[i]]

    def has_init(self, node, i: int) -> bool:
        return i < len(node.input) and node.input[i] in self.inits

    def path_for(self, node, weight_index: int = 1) -> str:
        """Where a layer goes: its weight's name without the last part (``layer1.0.conv1``), else the node name."""
        candidates = []
        if weight_index < len(node.input):
            name = node.input[weight_index]
            if "." in name:
                candidates.append(name.rsplit(".", 1)[0])
        if node.name:
            parts = [p for p in node.name.split("/") if p]
            if len(parts) > 1:
                parts = parts[:-1]  # PyTorch and cnnkit end multi-node names with the op type
            path = ""
            for part in parts:
                path = part if not path or part.startswith(path + ".") else f"{path}.{part}"
            candidates.append(path)
        candidates.append(node.op_type.lower())
        for raw in candidates:
            parts = [re.sub(r"\W", "_", p) or "_" for p in raw.split(".")]
            path = ".".join(parts)
            if path and self._free(path):
                return self._claim(path)
        base = ".".join(re.sub(r"\W", "_", p) or "_" for p in candidates[-1].split("."))
        k = 1
        while not self._free(f"{base}_{k}"):
            k += 1
        return self._claim(f"{base}_{k}")

    def _free(self, path: str) -> bool:
        if path in self.paths_taken:
            return False
        parts = path.split(".")
        # no layer may sit inside another layer, and no layer where a namespace already is
        return (not any(".".join(parts[:i]) in self.paths_taken for i in range(1, len(parts)))
                and not any(p.startswith(path + ".") for p in self.paths_taken))

    def _claim(self, path: str) -> str:
        self.paths_taken.add(path)
        return path

    def add_layer(self, path: str, layer: nn.Module) -> nn.Module:
        parent = self.module
        *heads, last = path.split(".")
        for head in heads:
            child = parent._modules.get(head)
            if child is None:
                child = _Namespace()
                parent.add_module(head, child)
            parent = child
        parent.add_module(last, layer)
        return layer

    def add_buffer(self, name: str, array: np.ndarray) -> None:
        key = re.sub(r"\W", "_", name)
        if key in self.module._buffers or key in self.module._modules or key in self.module._parameters:
            key = f"{key}_{len(self.module._buffers)}"
        self.module.register_buffer(key, np.array(array, copy=True))
        self.module.constants[name] = self.module._buffers[key]

    # ------------------------------------------------------------------ reading
    def read(self) -> OnnxGraphModule:
        g = self.graph
        init_names = set(self.inits)
        m = self.module
        m.input_names = [i.name for i in g.input if i.name not in init_names]
        m.output_names = [o.name for o in g.output]
        self.known |= set(m.input_names)
        for node in g.node:
            for name in node.input:
                if name and name not in self.known:
                    raise OnnxImportError(
                        f"onnx import: {self.path}: node {node.name or node.output[0]!r} ({node.op_type}) reads "
                        f"{name!r}, which no input, weight or earlier node defines (a corrupt or truncated file, or "
                        f"nodes out of order)")
            if node.domain not in ("", "ai.onnx"):
                self.fail(node, f"ops of the domain {node.domain!r} are not supported")
            handler = _OPS.get(node.op_type)
            if handler is None:
                self.fail(node, f"op {node.op_type} is not supported by cnnkit's importer; supported ops: "
                                f"{', '.join(importable_ops())}")
            fn = handler(self, node, self.attrs(node))
            folded = getattr(fn, "folded", ())  # inputs copied into a layer's weights are not read at run time
            inputs = ["" if i in folded else name for i, name in enumerate(node.input)]
            m.steps.append(_Step(node.op_type, node.name or node.output[0], inputs, list(node.output), fn))
            self.known |= {o for o in node.output if o}
        for name in m.output_names:
            if name not in self.known:
                raise OnnxImportError(f"onnx import: {self.path}: the graph output {name!r} is never computed "
                                      f"(a corrupt or truncated file)")
        # initializers read as values (not folded into a layer) are constants of the graph
        for name in sorted(self.consumed_as_values()):
            array = self.inits[name]
            if array.dtype.kind == "f" and array.size > 1:  # a tensor of values (e.g. a normalisation mean)
                self.add_buffer(name, array)
            else:
                m.constants[name] = np.array(array, copy=True)
        m.metadata = {p.key: p.value for p in self.model.metadata_props}
        m.eval()
        return m

    # inputs that configure an op rather than carry data (Resize's scales, Clip's bounds, ...): never state
    _SETTINGS = {"Resize": {1, 2, 3}, "Upsample": {1}, "Clip": {1, 2}, "Pad": {1, 2, 3}, "Dropout": {1, 2}}

    def consumed_as_values(self) -> set[str]:
        data, settings = set(), set()
        for step in self.module.steps:
            for i, name in enumerate(step.inputs):
                if name in self.inits:
                    (settings if i in self._SETTINGS.get(step.op, ()) else data).add(name)
        for name in settings - data:  # plain constants, whatever their type
            self.module.constants[name] = np.array(self.inits[name], copy=True)
        return data


def _folded(fn, indices):
    fn.folded = set(indices)
    return fn


# ---------------------------------------------------------------------------------------------------- op handlers
_OPS: dict[str, Callable] = {}


def _op(*names):
    def register(fn):
        for n in names:
            _OPS[n] = fn
        return fn

    return register


def importable_ops() -> list[str]:
    """The ONNX op types :func:`load` reads."""
    return sorted(_OPS)


def _pads_2d(r: _Reader, node, a: dict, rank: int = 2) -> list[int]:
    pads = a.get("pads", [0] * (2 * rank))
    if a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        r.fail(node, f"auto_pad={a['auto_pad']!r} is not supported (export with explicit pads)")
    return [int(p) for p in pads]


@_op("Conv")
def _conv(r: _Reader, node, a):
    w = r.init(node, 1, "weight")
    if w.ndim != 4:
        r.fail(node, f"only 2-D convolutions (a 4-D weight) are supported, got a weight of shape {w.shape}")
    bias = r.init(node, 2, "bias") if len(node.input) > 2 and node.input[2] else None
    groups = int(a.get("group", 1))
    top, left, bottom, right = _pads_2d(r, node, a)
    symmetric = top == bottom and left == right
    layer = nn.Conv2d(w.shape[1] * groups, w.shape[0], tuple(w.shape[2:]), stride=tuple(a.get("strides", (1, 1))),
                      padding=(top, left) if symmetric else 0, dilation=tuple(a.get("dilations", (1, 1))),
                      groups=groups, bias=bias is not None, dtype=w.dtype)
    layer.weight.data[...] = w
    if bias is not None:
        layer.bias.data[...] = bias
    r.add_layer(r.path_for(node), layer)
    if symmetric:
        return _folded(lambda x, *_: layer(x), (1, 2))
    return _folded(lambda x, *_: layer(F.pad(x, (left, right, top, bottom))), (1, 2))


@_op("ConvTranspose")
def _conv_transpose(r: _Reader, node, a):
    w = r.init(node, 1, "weight")
    if w.ndim != 4:
        r.fail(node, f"only 2-D transposed convolutions are supported, got a weight of shape {w.shape}")
    bias = r.init(node, 2, "bias") if len(node.input) > 2 and node.input[2] else None
    groups = int(a.get("group", 1))
    top, left, bottom, right = _pads_2d(r, node, a)
    if "output_shape" in a:
        r.fail(node, "the output_shape attribute is not supported (export with pads and output_padding)")
    crop = (top != bottom) or (left != right)
    pad = (min(top, bottom), min(left, right))
    layer = nn.ConvTranspose2d(w.shape[0], w.shape[1] * groups, tuple(w.shape[2:]),
                               stride=tuple(a.get("strides", (1, 1))), padding=pad,
                               output_padding=tuple(a.get("output_padding", (0, 0))), groups=groups,
                               bias=bias is not None, dilation=tuple(a.get("dilations", (1, 1))), dtype=w.dtype)
    layer.weight.data[...] = w
    if bias is not None:
        layer.bias.data[...] = bias
    r.add_layer(r.path_for(node), layer)
    if not crop:
        return _folded(lambda x, *_: layer(x), (1, 2))
    extra = (top - pad[0], bottom - pad[0], left - pad[1], right - pad[1])

    def run(x, *_):
        y = layer(x)
        h, w_ = y.shape[-2:]
        return y[:, :, extra[0]:h - extra[1], extra[2]:w_ - extra[3]]

    return _folded(run, (1, 2))


@_op("Gemm")
def _gemm(r: _Reader, node, a):
    alpha, beta = float(a.get("alpha", 1.0)), float(a.get("beta", 1.0))
    trans_a, trans_b = int(a.get("transA", 0)), int(a.get("transB", 0))
    if r.has_init(node, 1) and not trans_a:
        b = r.init(node, 1, "weight")
        weight = b if trans_b else b.T
        c = None
        if len(node.input) > 2 and node.input[2]:
            c = r.init(node, 2, "bias") if r.has_init(node, 2) else None
        if c is not None and c.size not in (1, weight.shape[0]):
            r.fail(node, f"a bias of shape {c.shape} is not supported")
        layer = nn.Linear(weight.shape[1], weight.shape[0], bias=c is not None, dtype=weight.dtype)
        layer.weight.data[...] = weight * alpha
        if c is not None:
            layer.bias.data[...] = np.broadcast_to(c.reshape(-1) * beta, (weight.shape[0],))
        r.add_layer(r.path_for(node), layer)
        if len(node.input) > 2 and node.input[2] and c is None:  # a computed bias
            return _folded(lambda x, _w, cv: F.add(layer(x), F.mul(cv, beta)), (1,))
        return _folded(lambda x, *_: layer(x), (1, 2))

    def run(x, b, c=None):
        x = F.transpose(x) if trans_a else x
        b = F.transpose(b) if trans_b else b
        y = F.matmul(x, b)
        if alpha != 1.0:
            y = F.mul(y, alpha)
        if c is not None:
            y = F.add(y, F.mul(c, beta) if beta != 1.0 else c)
        return y

    return run


@_op("MatMul")
def _matmul(r: _Reader, node, a):
    if r.has_init(node, 1) and r.inits[node.input[1]].ndim == 2 and r.inits[node.input[1]].dtype.kind == "f":
        layer = r.add_layer(r.path_for(node), MatMulWeight(r.init(node, 1, "weight")))
        return _folded(lambda x, *_: layer(x), (1,))
    return lambda x, y: F.matmul(x, y)


@_op("BatchNormalization")
def _batch_norm(r: _Reader, node, a):
    scale, bias = r.init(node, 1, "scale"), r.init(node, 2, "bias")
    mean, var = r.init(node, 3, "running mean"), r.init(node, 4, "running variance")
    layer = BatchNorm(scale.shape[0], eps=float(a.get("epsilon", 1e-5)),
                      momentum=1.0 - float(a.get("momentum", 0.9)), dtype=scale.dtype)
    layer.weight.data[...] = scale
    layer.bias.data[...] = bias
    layer.running_mean.data[...] = mean
    layer.running_var.data[...] = var
    r.add_layer(r.path_for(node), layer)
    return _folded(lambda x, *_: layer(x), (1, 2, 3, 4))


def _pool_args(r: _Reader, node, a):
    kernel = tuple(int(k) for k in a["kernel_shape"])
    if len(kernel) != 2:
        r.fail(node, f"only 2-D pooling is supported, got kernel_shape {kernel}")
    top, left, bottom, right = _pads_2d(r, node, a)
    return kernel, tuple(a.get("strides", (1, 1))), (top, left, bottom, right)


@_op("MaxPool")
def _max_pool(r: _Reader, node, a):
    kernel, stride, (top, left, bottom, right) = _pool_args(r, node, a)
    if int(a.get("storage_order", 0)):
        r.fail(node, "storage_order=1 (column-major indices) is not supported")
    dilation = tuple(a.get("dilations", (1, 1)))
    ceil = bool(a.get("ceil_mode", 0))
    symmetric = top == bottom and left == right
    want_indices = len(node.output) > 1 and node.output[1]

    def run(x):
        pads = (top, left)
        if not symmetric:
            x = F.pad(x, (left, right, top, bottom), value=-np.inf)
            pads = (0, 0)
        if not want_indices:
            return F.max_pool2d(x, kernel, stride, pads, dilation, ceil_mode=ceil)
        y, idx = F.max_pool2d(x, kernel, stride, pads, dilation, ceil_mode=ceil, return_indices=True)
        n, c, h, w = x.shape
        offsets = (np.arange(n)[:, None] * c + np.arange(c)[None, :]).reshape(n, c, 1, 1) * (h * w)
        return y, np.asarray(idx.data + offsets, dtype=np.int64)  # ONNX numbers over the whole tensor

    return run


@_op("MaxUnpool")
def _max_unpool(r: _Reader, node, a):
    kernel, stride, (top, left, bottom, right) = _pool_args(r, node, a)
    unpool = getattr(F, "max_unpool2d", None)
    if unpool is None:
        r.fail(node, "this cnnkit has no max_unpool2d op")

    def run(x, indices, output_shape=None):
        n, c = x.shape[:2]
        plane = None
        size = None
        if output_shape is not None:
            size = tuple(_ints(output_shape))[-2:]
        if size is None:
            size = tuple((x.shape[2 + i] - 1) * stride[i] + kernel[i] - (top, left)[i] - (bottom, right)[i]
                         for i in range(2))
        plane = size[0] * size[1]
        idx = Tensor(np.asarray(_np(indices) % plane, dtype=np.int64))
        return unpool(x, idx, kernel, stride, (top, left), output_size=size)

    return run


@_op("AveragePool")
def _avg_pool(r: _Reader, node, a):
    kernel, stride, (top, left, bottom, right) = _pool_args(r, node, a)
    ceil, include = bool(a.get("ceil_mode", 0)), bool(a.get("count_include_pad", 0))
    symmetric = top == bottom and left == right
    if not symmetric and not include:
        r.fail(node, "asymmetric pads with count_include_pad=0 are not supported")

    def run(x):
        pads = (top, left)
        if not symmetric:
            x = F.pad(x, (left, right, top, bottom))
            pads = (0, 0)
        return F.avg_pool2d(x, kernel, stride, pads, ceil_mode=ceil, count_include_pad=include)

    return run


@_op("GlobalAveragePool")
def _gap(r, node, a):
    return lambda x: F.adaptive_avg_pool2d(x, 1)


@_op("GlobalMaxPool")
def _gmp(r, node, a):
    return lambda x: F.adaptive_max_pool2d(x, 1)


@_op("LRN")
def _lrn(r, node, a):
    size = int(a["size"])
    if size % 2 == 0:
        r.fail(node, "an even LRN size centres its window differently in ONNX and cnnkit")
    alpha, beta, bias = float(a.get("alpha", 1e-4)), float(a.get("beta", 0.75)), float(a.get("bias", 1.0))
    return lambda x: F.local_response_norm(x, size, alpha, beta, bias)


@_op("Relu")
def _relu(r, node, a):
    return F.relu


@_op("Sigmoid")
def _sigmoid(r, node, a):
    return F.sigmoid


@_op("Tanh")
def _tanh(r, node, a):
    return F.tanh


@_op("Erf")
def _erf(r, node, a):
    return lambda x: Erf.apply(x)


@_op("Gelu")
def _gelu(r, node, a):
    approximate = a.get("approximate", "none")
    return lambda x: F.gelu(x, approximate=approximate)


@_op("LeakyRelu")
def _leaky(r, node, a):
    slope = float(a.get("alpha", 0.01))
    return lambda x: F.leaky_relu(x, slope)


@_op("Elu")
def _elu(r, node, a):
    alpha = float(a.get("alpha", 1.0))
    return lambda x: F.elu(x, alpha)


@_op("Clip")
def _clip(r, node, a):
    lo_attr, hi_attr = a.get("min"), a.get("max")

    def run(x, lo=None, hi=None):
        lo = _scalar(lo) if lo is not None else lo_attr
        hi = _scalar(hi) if hi is not None else hi_attr
        if lo is None and hi is None:
            return x
        return F.clip(x, lo, hi)

    return run


@_op("Softmax", "LogSoftmax")
def _softmax(r, node, a):
    axis = int(a.get("axis", -1 if r.opset >= 13 else 1))
    if r.opset < 13:  # older opsets flatten from ``axis`` on; the usual (N, classes) case is the same
        def run_old(x):
            if axis not in (-1, x.ndim - 1):
                r.fail(node, f"opset {r.opset} softmax over axis {axis} of a {x.ndim}-D input is not supported")
            return (F.softmax if node.op_type == "Softmax" else F.log_softmax)(x, dim=-1)

        return run_old
    fn = F.softmax if node.op_type == "Softmax" else F.log_softmax
    return lambda x: fn(x, dim=axis)


@_op("Add", "Sub", "Mul", "Div", "Pow")
def _arith(r, node, a):
    return _binary(node.op_type)


@_op("Neg", "Exp", "Log", "Sqrt", "Abs")
def _unary(r, node, a):
    fns = {"Neg": (F.neg, np.negative), "Exp": (F.exp, np.exp), "Log": (F.log, np.log), "Sqrt": (F.sqrt, np.sqrt),
           "Abs": (F.abs, np.abs)}
    tensor_fn, array_fn = fns[node.op_type]
    return lambda x: tensor_fn(x) if _is_tensor(x) else np.asarray(array_fn(x))


@_op("Identity")
def _identity(r, node, a):
    return lambda x: x


@_op("Dropout")
def _dropout(r, node, a):
    ratio_attr = float(a.get("ratio", 0.5))
    module = r.module

    def run(x, ratio=None, training_mode=None):
        p = _scalar(ratio) if ratio is not None else ratio_attr
        return F.dropout(x, p, training=module.training)

    return run


@_op("Flatten")
def _flatten(r, node, a):
    axis = int(a.get("axis", 1))

    def run(x):
        shape = x.shape
        ax = axis % len(shape) if shape else 0
        lead = int(np.prod(shape[:ax])) if ax else 1
        return F.reshape(x, (lead, -1)) if _is_tensor(x) else _np(x).reshape(lead, -1)

    return run


@_op("Reshape")
def _reshape(r, node, a):
    allowzero = int(a.get("allowzero", 0))

    def run(x, shape):
        target = _ints(shape)
        if not allowzero:
            target = [x.shape[i] if s == 0 else s for i, s in enumerate(target)]
        return F.reshape(x, tuple(target)) if _is_tensor(x) else _np(x).reshape(target)

    return run


@_op("Transpose")
def _transpose(r, node, a):
    perm = a.get("perm")

    def run(x):
        axes = tuple(perm) if perm is not None else tuple(reversed(range(x.ndim)))
        return F.permute(x, axes) if _is_tensor(x) else np.transpose(_np(x), axes)

    return run


@_op("Concat")
def _concat(r, node, a):
    axis = int(a["axis"])

    def run(*xs):
        if any(_is_tensor(x) for x in xs):
            dtype = next(x.dtype for x in xs if _is_tensor(x))
            return F.cat([x if _is_tensor(x) else Tensor(np.asarray(x, dtype=dtype)) for x in xs], axis)
        return np.concatenate([np.atleast_1d(_np(x)) for x in xs], axis)

    return run


@_op("Shape")
def _shape(r, node, a):
    start, end = a.get("start", 0), a.get("end")
    return lambda x: np.asarray(x.shape[start:end] if end is not None else x.shape[start:], dtype=np.int64)


@_op("Size")
def _size(r, node, a):
    return lambda x: np.asarray(int(np.prod(x.shape)), dtype=np.int64)


@_op("Constant")
def _constant(r, node, a):
    if "value" in a:
        value = np.asarray(a["value"])
    elif "value_float" in a:
        value = np.asarray(a["value_float"], dtype=np.float32)
    elif "value_floats" in a:
        value = np.asarray(a["value_floats"], dtype=np.float32)
    elif "value_int" in a:
        value = np.asarray(a["value_int"], dtype=np.int64)
    elif "value_ints" in a:
        value = np.asarray(a["value_ints"], dtype=np.int64)
    else:
        r.fail(node, f"a constant given as {sorted(a)} is not supported")
    return lambda: value


@_op("ConstantOfShape")
def _constant_of_shape(r, node, a):
    value = np.asarray(a["value"]).reshape(-1) if "value" in a else np.zeros(1, np.float32)
    return lambda shape: np.full(_ints(shape), value[0], dtype=value.dtype)


@_op("Cast")
def _cast(r, node, a):
    dtype = r.onnx.helper.tensor_dtype_to_np_dtype(int(a["to"]))
    return lambda x: x.astype(dtype) if _is_tensor(x) else np.asarray(x).astype(dtype)


def _axes_of(a, axes_input):
    """Axes from the input (opset 13 on) or the attribute (before)."""
    if axes_input is not None:
        return _ints(axes_input)
    return a.get("axes")


@_op("Unsqueeze")
def _unsqueeze(r, node, a):
    def run(x, axes=None):
        ax = _axes_of(a, axes)
        out_rank = len(x.shape) + len(ax)
        ax = sorted(i % out_rank for i in ax)
        if _is_tensor(x):
            for i in ax:
                x = F.unsqueeze(x, i)
            return x
        v = _np(x)
        for i in ax:
            v = np.expand_dims(v, i)
        return v

    return run


@_op("Squeeze")
def _squeeze(r, node, a):
    def run(x, axes=None):
        ax = _axes_of(a, axes)
        if _is_tensor(x):
            return F.squeeze(x, None if ax is None else tuple(ax))
        return np.squeeze(_np(x), axis=None if ax is None else tuple(ax))

    return run


@_op("Gather")
def _gather(r, node, a):
    axis = int(a.get("axis", 0))

    def run(x, indices):
        idx = _np(indices).astype(np.int64)
        if not _is_tensor(x):
            return np.take(_np(x), idx, axis=axis)
        ax = axis % x.ndim
        index = (slice(None),) * ax + ((int(idx) % x.shape[ax]) if idx.ndim == 0 else (idx % x.shape[ax]),)
        return x[index]

    return run


@_op("Slice")
def _slice(r, node, a):
    def run(x, starts=None, ends=None, axes=None, steps=None):
        if starts is None:  # opset < 10: attributes
            st, en, ax, sp = a["starts"], a["ends"], a.get("axes"), None
        else:
            st, en = _ints(starts), _ints(ends)
            ax = _ints(axes) if axes is not None else None
            sp = _ints(steps) if steps is not None else None
        ax = list(range(len(st))) if ax is None else ax
        sp = [1] * len(st) if sp is None else sp
        index = [slice(None)] * len(x.shape)
        for s, e, axis, step in zip(st, en, ax, sp, strict=True):
            n = x.shape[axis]
            s = max(-n - 1, min(s, n)) if step < 0 else max(-n, min(s, n))
            e = max(-n - 1, min(e, n))
            index[axis % len(x.shape)] = slice(s, e if not (step < 0 and e < -n) else None, step)
        return x[tuple(index)] if _is_tensor(x) else _np(x)[tuple(index)]

    return run


@_op("Split")
def _split(r, node, a):
    axis = int(a.get("axis", 0))
    n_out = len(node.output)

    def run(x, split=None):
        sizes = _ints(split) if split is not None else a.get("split")
        if sizes is None:
            size = -(-x.shape[axis] // n_out)
            sizes = [min(size, x.shape[axis] - i * size) for i in range(n_out)]
        return tuple(F.split(x, list(sizes), axis)) if _is_tensor(x) else tuple(
            np.split(_np(x), np.cumsum(sizes)[:-1], axis))

    return run


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}


@_op("Pad")
def _pad(r, node, a):
    mode = a.get("mode", "constant")
    if mode not in _PAD_MODES:
        r.fail(node, f"pad mode {mode!r} is not supported")

    def run(x, pads=None, value=None, axes=None):
        p = _ints(pads) if pads is not None else list(a["pads"])
        nd = len(x.shape)
        ax = list(range(nd)) if axes is None else [i % nd for i in _ints(axes)]
        k = len(ax)
        widths = [(0, 0)] * nd
        for i, axis in enumerate(ax):
            widths[axis] = (p[i], p[i + k])
        torch_pad = []
        for axis in reversed(range(nd)):
            torch_pad += list(widths[axis])
        while len(torch_pad) > 2 and torch_pad[-2:] == [0, 0]:
            torch_pad = torch_pad[:-2]
        fill = _scalar(value) if value is not None and np.size(_np(value)) else float(a.get("value", 0.0))
        kw = {"value": fill} if mode == "constant" else {}
        return F.pad(x, tuple(torch_pad), mode=_PAD_MODES[mode], **kw)

    return run


def _reduce(name, tensor_fn, array_fn):
    def handler(r, node, a):
        keep = bool(a.get("keepdims", 1))
        noop = bool(a.get("noop_with_empty_axes", 0))

        def run(x, axes=None):
            ax = _ints(axes) if axes is not None else a.get("axes")
            if not ax:
                if noop and axes is not None:
                    return x
                ax = None
            if _is_tensor(x):
                return tensor_fn(x, None if ax is None else tuple(ax), keep)
            return np.asarray(array_fn(_np(x), axis=None if ax is None else tuple(ax), keepdims=keep))

        return run

    _OPS[name] = handler


_reduce("ReduceMean", F.mean, np.mean)
_reduce("ReduceSum", F.sum, np.sum)
_reduce("ReduceMax", F.max, np.max)
_reduce("ReduceMin", F.min, np.min)


@_op("Where")
def _where(r, node, a):
    def run(cond, x, y):
        c = _np(cond).astype(bool)
        if _is_tensor(x) or _is_tensor(y):
            return F.where(c, x, y)
        return np.where(c, _np(x), _np(y))

    return run


@_op("Expand")
def _expand(r, node, a):
    def run(x, shape):
        target = tuple(np.broadcast_shapes(tuple(x.shape), tuple(_ints(shape))))
        return F.expand(x, target) if _is_tensor(x) else np.broadcast_to(_np(x), target).copy()

    return run


_RESIZE_NEAREST = {("asymmetric", "floor"): "nearest", ("half_pixel", "round_prefer_ceil"): "nearest-exact",
                   ("tf_half_pixel_for_nn", "round_prefer_ceil"): "nearest-exact"}


@_op("Resize", "Upsample")
def _resize(r, node, a):
    mode = a.get("mode", "nearest")
    coord = a.get("coordinate_transformation_mode", "half_pixel" if node.op_type == "Resize" else "asymmetric")
    if node.op_type == "Upsample" or r.opset < 11:
        coord = "asymmetric"
    if mode == "nearest":
        nearest = a.get("nearest_mode", "round_prefer_floor" if node.op_type == "Resize" else "floor")
        if node.op_type == "Upsample" or r.opset < 11:
            nearest = "floor"
        key = _RESIZE_NEAREST.get((coord, nearest))
        if key is None:
            r.fail(node, f"nearest resizing with coordinate_transformation_mode={coord!r} and "
                         f"nearest_mode={nearest!r} has no cnnkit equivalent (supported: asymmetric+floor, "
                         f"half_pixel+round_prefer_ceil)")
        kw = {"mode": key}
    elif mode in ("linear", "bilinear", "cubic"):
        if coord in ("half_pixel", "pytorch_half_pixel"):
            align = False
        elif coord == "align_corners":
            align = True
        else:
            r.fail(node, f"{mode} resizing with coordinate_transformation_mode={coord!r} is not supported")
        if mode == "cubic" and float(a.get("cubic_coeff_a", -0.75)) != -0.75:
            r.fail(node, "cubic resizing needs cubic_coeff_a=-0.75 (PyTorch's bicubic)")
        kw = {"mode": "bicubic" if mode == "cubic" else "bilinear", "align_corners": align}
    else:
        r.fail(node, f"resize mode {mode!r} is not supported")
    if int(a.get("antialias", 0)):
        kw["antialias"] = True

    def run(x, *rest):
        if node.op_type == "Upsample" and len(rest) == 1:
            scales, sizes = rest[0], None
        else:
            rest = list(rest) + [None] * (3 - len(rest))
            _roi, scales, sizes = rest[:3]
        if sizes is not None and np.size(_np(sizes)):
            size = _ints(sizes)[-2:]
            return F.interpolate(x, size=tuple(size), **kw)
        factors = [float(s) for s in np.asarray(_np(scales)).reshape(-1)]
        if len(factors) == 4 and factors[:2] != [1.0, 1.0]:
            r.fail(node, f"resizing the batch or channel axes (scales {factors}) is not supported")
        factors = factors[-2:]
        if kw.get("align_corners"):
            size = tuple(int(np.floor(n * f)) for n, f in zip(x.shape[-2:], factors, strict=True))
            return F.interpolate(x, size=size, **kw)
        return F.interpolate(x, scale_factor=tuple(factors), **kw)

    return run


# ---------------------------------------------------------------------------------------------------- loading
def read_model_proto(path):
    """The ``ModelProto`` of an ONNX file, with a clear error for a file that is missing, truncated or not ONNX."""
    try:
        import onnx
    except ImportError:  # pragma: no cover - depends on the environment
        raise InputError("ONNX import needs the onnx package: pip install 'cnnkit[onnx]'") from None
    from google.protobuf.message import DecodeError

    path = Path(path)
    if not path.is_file():
        raise OnnxImportError(f"onnx import: no file at {path}")
    data = path.read_bytes()
    if not data:
        raise OnnxImportError(f"onnx import: {path} is empty")
    try:
        proto = onnx.load_model_from_string(data)
    except (DecodeError, ValueError, RuntimeError, UnicodeDecodeError) as err:
        raise OnnxImportError(f"onnx import: {path} is not a valid ONNX file (truncated or corrupt: {err})") from None
    if not proto.graph.node or not proto.graph.output:
        raise OnnxImportError(f"onnx import: {path} holds no graph (truncated, corrupt, or not an ONNX model)")
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise OnnxImportError(f"onnx import: {path} is not a valid ONNX model (truncated or corrupt: {first})") \
            from None
    return proto


def load(path) -> OnnxGraphModule:
    """Read the ONNX model at ``path`` into an :class:`OnnxGraphModule` (eval mode; weights copied; the layers
    trainable). A file that is corrupt or truncated, or holds an op cnnkit cannot run, raises
    :class:`OnnxImportError` naming the problem."""
    proto = read_model_proto(path)
    return _Reader(proto, str(path)).read()
