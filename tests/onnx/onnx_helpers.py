"""Shared helpers of the ONNX tests: weights that make every op matter, and the onnxruntime comparison."""

from __future__ import annotations

import numpy as np

import cnnkit as ck
import cnnkit.nn as nn


def lively(model, seed: int = 0):
    """Give ``model`` weights under which each layer's output is O(1) (He-scaled convs and linears) and batch-norm
    statistics that are not the identity, so that a wrong op shows in the output; returns it in eval mode."""
    rng = np.random.default_rng(seed)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            w = m.weight.data
            fan_in = w[0].size if not isinstance(m, nn.ConvTranspose2d) else w.shape[0] * w[0, 0].size
            std = float(w.std())  # rescale the layer's own random init (cheap for the 100M-weight layers of VGG)
            if std > 0:
                w *= np.float32(np.sqrt(2.0 / fan_in) / std)
            if m.bias is not None:
                m.bias.data[...] = rng.standard_normal(m.bias.shape) * 0.1
        elif isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.weight.data[...] = rng.uniform(0.5, 1.5, c)
            m.bias.data[...] = rng.standard_normal(c) * 0.1
            m.running_mean.data[...] = rng.standard_normal(c) * 0.1
            m.running_var.data[...] = rng.uniform(0.5, 1.5, c)
    return model.eval()


def reference(model, x: np.ndarray) -> np.ndarray:
    with ck.no_grad():
        out = model(ck.tensor(x))
    return out.data


def assert_matches(got: np.ndarray, ref: np.ndarray, what: str, tol: float = 1e-4) -> float:
    """The project's rule, max |got - ref| <= tol * max(1, max |ref|); returns the error."""
    assert got.shape == ref.shape, f"{what}: shape {got.shape} != {ref.shape}"
    err = float(np.max(np.abs(got.astype(np.float64) - ref))) if ref.size else 0.0
    bound = tol * max(1.0, float(np.max(np.abs(ref))) if ref.size else 1.0)
    assert err <= bound, f"{what}: max error {err:.3e} > {bound:.3e}"
    return err


def run_ort(path, x: np.ndarray):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})


def export_and_compare(model, shape, path, batches=(1, 3), seed: int = 0, tol: float = 1e-4):
    """Export ``model`` (traced at batch 1) to ``path`` once (``export`` runs ``onnx.checker`` with full_check), and
    compare onnxruntime with cnnkit at every batch size of ``batches`` on that one file. Returns the ONNX model
    proto."""
    import onnx

    import cnnkit.onnx as cko

    rng = np.random.default_rng(seed)
    cko.export(model, rng.standard_normal((1, *shape)).astype(np.float32), path, check=True)
    proto = onnx.load(str(path))
    for n in batches:
        x = rng.standard_normal((n, *shape)).astype(np.float32)
        got = run_ort(path, x)[0]
        assert_matches(got, reference(model, x), f"{type(model).__name__} batch {n}", tol)
    return proto
