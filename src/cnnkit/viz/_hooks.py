"""Reaching inside a model: its layers by name, their outputs through forward hooks, and a model's input batch.

Used by the feature-map, Grad-CAM, saliency and receptive-field tools; every user error is an
:class:`~cnnkit.errors.InputError` whose ``field`` names the setting to change (``layer``, ``target``).
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from ..autograd import Tensor
from ..errors import InputError

__all__ = ["layer_names", "find_layer", "capture", "as_batch", "check_class", "feature_map_layers"]


def layer_names(model) -> list[str]:
    """The dotted names of every sub-module (``features.0``, ``layer1.0.conv1``, ...), in registration order."""
    return [name for name, _ in model.named_modules() if name]


def find_layer(model, name: str):
    """The sub-module called ``name``; an unknown name is an :class:`InputError` listing the valid ones."""
    modules = dict(model.named_modules())
    if not isinstance(name, str) or not name or name not in modules:
        raise InputError(f"no layer named {name!r} in {type(model).__name__}; its layers are: "
                         f"{', '.join(layer_names(model))}", field="layer")
    return modules[name]


def feature_map_layers(model, input_size) -> list[str]:
    """Names of the layers whose output is a 4-D feature map (N, C, H, W) for an input of ``input_size``
    (C, H, W): the layers Grad-CAM and feature maps can use."""
    from ..autograd import no_grad

    shapes = {}

    def hook_for(name):
        def hook(module, args, output):
            shapes.setdefault(name, getattr(output, "shape", ()))  # returns None: the output is left as it is
        return hook

    handles = [m.register_forward_hook(hook_for(n)) for n, m in model.named_modules() if n]
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            model(Tensor(np.zeros((1, *input_size), np.float32)))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return [n for n in layer_names(model) if len(shapes.get(n, ())) == 4]


@contextmanager
def capture(model, names, keep_graph: bool = False):
    """Within the block, ``outputs[name]`` holds the latest output of each named layer (a Tensor still attached to
    the graph with ``keep_graph``, else a detached array)::

        with capture(model, ["features.3"]) as outputs:
            model(x)
        outputs["features.3"].shape
    """
    outputs: dict = {}
    handles = []

    def hook_for(name):
        def hook(module, args, output):
            if keep_graph:
                outputs[name] = output
            else:
                outputs[name] = output.data.copy() if isinstance(output, Tensor) else output
        return hook

    try:
        for name in ([names] if isinstance(names, str) else names):
            handles.append(find_layer(model, name).register_forward_hook(hook_for(name)))
        yield outputs
    finally:
        for h in handles:
            h.remove()


def as_batch(image) -> np.ndarray:
    """An image (C, H, W) or a batch (N, C, H, W) (array or Tensor) as a float32 batch (N, C, H, W)."""
    array = np.asarray(image.data if isinstance(image, Tensor) else image)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4:
        raise InputError(f"expected an image (C, H, W) or a batch (N, C, H, W), got shape {array.shape}")
    return np.ascontiguousarray(array, dtype=np.float32 if array.dtype != np.float64 else np.float64)


def check_class(target, num_classes: int, n: int) -> np.ndarray:
    """Class indices (one per image) from an int, a sequence or None (filled in later); out of range is an
    :class:`InputError` naming the valid range."""
    targets = np.broadcast_to(np.asarray(target), (n,)).astype(np.int64)
    bad = [int(t) for t in targets if not 0 <= t < num_classes]
    if bad:
        raise InputError(f"class index {bad[0]} is out of range: the model has {num_classes} classes "
                         f"(0 to {num_classes - 1})", field="target")
    return targets
