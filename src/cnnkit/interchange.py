"""Models in and out of cnnkit's run format: export a checkpoint or a zoo model to ONNX or safetensors, and open an
``.onnx`` file as a run for prediction and evaluation.

    export_model("runs/a/best.ckpt", "onnx", "model.onnx")          # the run's model, its settings as metadata
    export_model("resnet18", "onnx", "r18.onnx", weights="r18.pth")  # a zoo model, random or loaded weights
    loaded = load_onnx_run("model.onnx")                              # a LoadedRun whose model runs the file

This module does the work of ``cnnkit export`` and of ``cnnkit predict``/``evaluate`` on ``.onnx`` files; the command
only parses and formats.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .errors import InputError

__all__ = ["export_model", "load_onnx_run", "FORMATS", "RUN_METADATA_KEY"]

FORMATS = ("onnx", "safetensors")
RUN_METADATA_KEY = "cnnkit.run"  # ONNX metadata: the run state (configuration + data description) as JSON


def _source_model(source: str, weights=None, num_classes: int | None = None, seed: int = 0):
    """(model in eval mode, example input shape (C, H, W), metadata, description) of a checkpoint or a zoo name."""
    import cnnkit as ck

    from . import io, models
    from .runs import load_run, run_state

    path = Path(source)
    if path.is_file():
        if weights is not None or num_classes is not None:
            raise InputError("a checkpoint carries its own weights and classes; --weights and --num-classes are for "
                             "zoo models", field="weights")
        loaded = load_run(path)
        info = loaded.info
        shape = (info.in_channels, info.input_size, info.input_size)
        meta = {RUN_METADATA_KEY: run_state(loaded.config, info), "cnnkit.epoch": loaded.epoch}
        return loaded.model, shape, meta, f"{loaded.config.model} from {path} (epoch {loaded.epoch})"
    if path.suffix.lower() in (".ckpt", ".pth", ".pt", ".npz", ".safetensors") or "/" in source:
        raise InputError(f"no checkpoint at {source}", field="source")
    try:
        info = models.model_info(source)
    except InputError as err:
        raise InputError(f"{source!r} is neither a checkpoint file nor a zoo model: {err}", field="source") from None
    ck.manual_seed(seed)
    kwargs = {} if num_classes is None else {"num_classes": num_classes}
    model = models.get_model(source, **kwargs)
    what = f"random weights (seed {seed})"
    if weights is not None:
        io.load_state_dict(model, weights)
        what = f"weights from {weights}"
    model.eval()
    meta = {"cnnkit.model": source}
    return model, info.input_size, meta, f"{source} with {what}"


def export_model(source, fmt: str, out, weights=None, num_classes: int | None = None, opset: int = 17,
                 dynamic_batch: bool = True, seed: int = 0, verify: bool = True) -> dict:
    """Write the model of ``source`` (a checkpoint file or a zoo model name) to ``out`` as ``fmt`` ('onnx' or
    'safetensors'). An ONNX export carries the run's settings as metadata (so ``cnnkit evaluate`` finds the
    dataset) and, with ``verify`` and onnxruntime installed, is run once on a random input of batch 1 and 2 and
    compared with cnnkit's output. Returns what was written, as a dict for printing."""
    import cnnkit as ck

    if fmt not in FORMATS:
        raise InputError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}", field="format")
    out = Path(out)
    model, shape, meta, what = _source_model(str(source), weights, num_classes, seed)
    params = sum(p.numel() for p in model.parameters())
    result = {"source": what, "format": fmt, "out": str(out), "parameters": int(params)}
    if fmt == "safetensors":
        from . import io

        io.save_state_dict(model, out, format="safetensors")
        result["tensors"] = len(model.state_dict())
        result["bytes"] = out.stat().st_size
        return result
    from .onnx import export

    x = np.random.default_rng(seed).standard_normal((1, *shape)).astype(np.float32)
    export(model, x, out, opset=opset, dynamic_batch=dynamic_batch, metadata=meta)
    import onnx

    proto = onnx.load(str(out), load_external_data=False)
    result.update(bytes=out.stat().st_size, opset=opset, dynamic_batch=dynamic_batch, nodes=len(proto.graph.node),
                  initializers=len(proto.graph.initializer))
    if verify:
        try:
            from .onnx.runtime import OnnxRuntimeModel

            session = OnnxRuntimeModel(out)
        except InputError:
            result["check"] = "skipped (onnxruntime not installed)"
            return result
        errors = []
        for batch in (1, 2) if dynamic_batch else (1,):
            xb = np.random.default_rng(seed + batch).standard_normal((batch, *shape)).astype(np.float32)
            with ck.no_grad():
                ref = model(ck.tensor(xb))
            got = session(xb)
            ref, got = (ref if isinstance(ref, tuple) else (ref,)), (got if isinstance(got, tuple) else (got,))
            for r, g in zip(ref, got, strict=True):
                scale = max(1.0, float(np.max(np.abs(r.data))))
                errors.append(float(np.max(np.abs(g.data.astype(np.float64) - r.data))) / scale)
        result["check"] = {"runtime": session.runtime, "batches": [1, 2] if dynamic_batch else [1],
                           "max_error": max(errors), "ok": max(errors) <= 1e-4}
    return result


def load_onnx_run(path, runtime: str = "auto"):
    """A :class:`~cnnkit.runs.LoadedRun` for an ``.onnx`` file: its model runs the file (onnxruntime or cnnkit, see
    :func:`cnnkit.onnx.runtime.open_onnx`); the configuration and data description come from the file's run
    metadata when cnnkit wrote it (``config`` is None for a file from elsewhere, whose input shape gives the data
    description)."""
    from .data.registry import DataInfo
    from .onnx.runtime import input_shape, open_onnx, read_metadata
    from .runs import LoadedRun, _task, read_run_state
    from .training.tasks import get_task

    path = Path(path)
    model, described = open_onnx(path, runtime)
    meta = read_metadata(path)
    run = meta.get(RUN_METADATA_KEY)
    if isinstance(run, dict):
        config, info = read_run_state({"run": run}, path)
        config = config.resolved()
        task = _task(config)
        epoch = int(meta.get("cnnkit.epoch", 0))
    else:
        shape = input_shape(path)
        if len(shape) != 4 or shape[1] is None or shape[2] is None or shape[2] != shape[3]:
            raise InputError(f"{path}: expected a model taking (N, C, H, H) images, its input has shape "
                             f"{json.dumps(shape)}", field="checkpoint")
        config, info, task, epoch = None, DataInfo(int(shape[1]), int(shape[2]), 0), get_task("classification"), 0
    loaded = LoadedRun(model, task, config, info, epoch, path)
    loaded.runtime = described
    return loaded
