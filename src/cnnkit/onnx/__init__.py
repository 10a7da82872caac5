"""ONNX interchange: export a cnnkit model by tracing one forward pass, and load an ONNX model as a cnnkit Module.

    import cnnkit.onnx
    cnnkit.onnx.export(model, example_input, "model.onnx", opset=17, dynamic_batch=True)
    model = cnnkit.onnx.load("model.onnx")      # a Module: runs, trains and fine-tunes in cnnkit

Both need the ``onnx`` package (``pip install 'cnnkit[onnx]'``); running an ``.onnx`` file through onnxruntime
(:mod:`cnnkit.onnx.runtime`) needs ``onnxruntime`` as well.
"""

from .export import ExportError, export, exportable_ops, to_model_proto
from .trace import Graph, Node, Value, trace

__all__ = ["export", "load", "trace", "to_model_proto", "exportable_ops", "ExportError",
           "Graph", "Node", "Value"]


def load(path, **kwargs):
    """Read an ONNX file into a cnnkit :class:`~cnnkit.nn.Module` (see :func:`cnnkit.onnx.load.load`)."""
    from .importer import load as _load

    return _load(path, **kwargs)
