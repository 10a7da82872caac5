"""cnnkit: convolutional neural networks from first principles on NumPy.

    import cnnkit as ck
    import cnnkit.nn as nn
    import cnnkit.nn.functional as F
"""

from . import functional, random
from .autograd import (
    Function,
    Tensor,
    arange,
    as_tensor,
    enable_grad,
    eye,
    float32,
    float64,
    from_numpy,
    full,
    gradcheck,
    int64,
    is_grad_enabled,
    no_grad,
    ones,
    ones_like,
    rand,
    randn,
    tensor,
    zeros,
    zeros_like,
)
from .errors import InputError, InputTypeError, StateDictError
from .functional.math import abs, argmax, argmin, clamp, clip, exp, log, matmul, max, mean, min, sqrt, std, sum, var
from .functional.shape import (
    cat,
    chunk,
    concat,
    flatten,
    pad,
    permute,
    reshape,
    split,
    squeeze,
    stack,
    transpose,
    unsqueeze,
    where,
)
from .kernels.backend import available_backends, get_backend, get_num_threads, set_backend, set_num_threads
from .random import get_rng_state, manual_seed, set_rng_state

__version__ = "0.1.0"

from . import nn, optim  # noqa: E402 - after the core so the layers find their ops

_LAZY = {"data", "ops", "models", "training", "analysis", "viz", "io", "kernels", "metrics", "onnx", "distributed"}


def load(path, model=None):
    """Load trained weights. ``load("runs/a/best.ckpt")`` rebuilds the checkpoint's model (weights loaded, eval
    mode); ``load(path, model)`` loads a weights file (``.ckpt``, ``.pth``/``.pt``, ``.safetensors``, ``.npz``)
    into ``model`` and returns it. See :func:`cnnkit.runs.load_run` for the run's settings and data description."""
    from pathlib import Path

    if model is not None:
        from .io import load_state_dict

        load_state_dict(model, path)
        return model
    if Path(path).suffix.lower() != ".ckpt":
        raise InputError(f"load: {str(path)!r} holds weights only; pass the model to load them into "
                         f"(load(path, model)), or give a cnnkit .ckpt checkpoint")
    from .runs import load_run

    return load_run(path).model


def __getattr__(name):
    """Import the heavier sub-packages on first use (keeps ``import cnnkit`` fast)."""
    import importlib

    if name in _LAZY:
        return importlib.import_module(f"{__name__}.{name}")
    if name == "summary":
        from .analysis import summary

        return summary
    raise AttributeError(f"module 'cnnkit' has no attribute {name!r}")
