"""Running an ``.onnx`` file: through onnxruntime when it is installed, else through cnnkit's importer.

    model, runtime = open_onnx("model.onnx")            # runtime: "onnxruntime 1.x (CPUExecutionProvider)"
    logits = model(ck.tensor(images))                    # a cnnkit Module either way: Tensor in, Tensor out

The model is a :class:`~cnnkit.nn.Module` without parameters (onnxruntime) or the imported graph (cnnkit), so the
training loop's evaluation and the prediction code use it as they use any model.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .. import nn
from ..autograd import Tensor
from ..errors import InputError

__all__ = ["OnnxRuntimeModel", "open_onnx", "RUNTIMES", "read_metadata", "input_shape"]

RUNTIMES = ("auto", "onnxruntime", "cnnkit")


class OnnxRuntimeModel(nn.Module):
    """An ONNX file run by an onnxruntime ``InferenceSession`` (CPU). ``forward`` takes Tensors or arrays for the
    graph's inputs and returns Tensors (a tuple when the graph has several outputs). It has no parameters and its
    train/eval mode changes nothing (the graph is fixed)."""

    def __init__(self, path, threads: int | None = None):
        super().__init__()
        try:
            import onnxruntime as ort
        except ImportError:  # pragma: no cover - depends on the environment
            raise InputError("running an .onnx model through onnxruntime needs the onnxruntime package: "
                             "pip install 'cnnkit[onnx]'", field="runtime") from None
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own exception types for bad files
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise InputError(f"onnxruntime cannot load {path}: {first}") from None
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.runtime = f"onnxruntime {ort.__version__} ({', '.join(self.session.get_providers())})"

    def forward(self, *inputs):
        if len(inputs) != len(self.input_names):
            raise InputError(f"onnx model: the graph takes {len(self.input_names)} input(s), got {len(inputs)}")
        feed = {}
        for name, x in zip(self.input_names, inputs, strict=True):
            a = x.data if isinstance(x, Tensor) else np.asarray(x)
            feed[name] = np.ascontiguousarray(a)
        try:
            outs = self.session.run(None, feed)
        except Exception as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise InputError(f"onnxruntime could not run the model: {first}") from None
        tensors = tuple(Tensor._wrap(np.asarray(o)) for o in outs)
        return tensors[0] if len(tensors) == 1 else tensors

    def extra_repr(self) -> str:
        return f"inputs={self.input_names}, outputs={self.output_names}, runtime={self.runtime!r}"


def _has_onnxruntime() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def open_onnx(path, runtime: str = "auto"):
    """(model, runtime description) for an ``.onnx`` file: ``runtime`` 'onnxruntime', 'cnnkit' (the importer), or
    'auto' (onnxruntime when installed, else cnnkit)."""
    if runtime not in RUNTIMES:
        raise InputError(f"unknown runtime {runtime!r}; expected one of {', '.join(RUNTIMES)}", field="runtime")
    path = Path(path)
    from .importer import read_model_proto

    read_model_proto(path)  # a clear error for a missing, truncated or invalid file, whichever runtime runs it
    if runtime == "onnxruntime" or (runtime == "auto" and _has_onnxruntime()):
        model = OnnxRuntimeModel(path)
        return model, model.runtime
    from .importer import load

    model = load(path)
    return model, "cnnkit (imported ONNX graph)"


def read_metadata(path) -> dict:
    """The model's metadata properties (``{key: value}``), JSON values decoded where they parse."""
    from .importer import read_model_proto

    out = {}
    for p in read_model_proto(path).metadata_props:
        try:
            out[p.key] = json.loads(p.value)
        except ValueError:
            out[p.key] = p.value
    return out


def input_shape(path) -> tuple:
    """The shape of the graph's first input (a symbolic or unknown axis is None)."""
    from .importer import read_model_proto

    proto = read_model_proto(path)
    inits = {t.name for t in proto.graph.initializer}
    first = next(i for i in proto.graph.input if i.name not in inits)
    return tuple(d.dim_value if d.HasField("dim_value") else None for d in first.type.tensor_type.shape.dim)
