"""Shared test helpers: PyTorch as the oracle, the project's tolerance rule, and float64 gradient checks.

Tolerance (the project's contract with PyTorch):
  float32: max |ours - ref| <= 1e-4 * max(1, max |ref|)
  float64: max |ours - ref| <= 1e-10 * max(1, max |ref|)
"""

from __future__ import annotations

import numpy as np
import pytest

import cnnkit as ck

try:  # torch is the oracle only: tests that need it skip cleanly where it is absent
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    torch = None

requires_torch = pytest.mark.skipif(torch is None, reason="PyTorch (the test oracle) is not installed")

TOLERANCE = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-10}

# Every kernel backend that runs here (the reference "numpy" first): a parity test decorated with ``per_backend``
# takes a ``backend`` argument and runs once per backend, inside ``with ck.set_backend(name)`` (the ``backend``
# fixture of conftest.py), so a backend added later is checked by the same grids; the test ids name it.
BACKENDS = tuple(ck.available_backends())
per_backend = pytest.mark.parametrize("backend", BACKENDS, indirect=True, ids=[f"backend={b}" for b in BACKENDS])


def assert_close(ours, ref, what: str = "value", tol: float | None = None) -> None:
    """Assert the project's tolerance rule between our array/Tensor and a reference array/torch tensor."""
    ours = ours.data if isinstance(ours, ck.Tensor) else np.asarray(ours)
    if torch is not None and isinstance(ref, torch.Tensor):
        ref = ref.detach().numpy()
    ref = np.asarray(ref)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != reference {ref.shape}"
    if tol is None:
        tol = TOLERANCE.get(np.dtype(ref.dtype), 1e-4)
    if ours.size == 0:
        return
    err = float(np.max(np.abs(ours.astype(np.float64) - ref.astype(np.float64))))
    bound = tol * max(1.0, float(np.max(np.abs(ref))))
    assert err <= bound, f"{what}: max abs error {err:.3e} > {bound:.3e} (dtype {ref.dtype})"


def rand(*shape, dtype=np.float64, seed: int = 0, low: float | None = None) -> np.ndarray:
    """Seeded standard-normal array (or uniform [low, low+1) when ``low`` is given)."""
    rng = np.random.default_rng(seed)
    if low is not None:
        return (rng.random(shape) + low).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def compare_with_torch(our_fn, torch_fn, arrays, grad_inputs=None, seed: int = 1, what: str = "op"):
    """Run ``our_fn`` and ``torch_fn`` on the same inputs; compare the forward output and, after backward with
    the same random upstream gradient, the gradient of every input listed in ``grad_inputs`` (default: all
    floating-point inputs). Returns (our_output, torch_output)."""
    if grad_inputs is None:
        grad_inputs = [i for i, a in enumerate(arrays) if np.asarray(a).dtype.kind == "f"]
    ours = [ck.tensor(a, requires_grad=i in grad_inputs) for i, a in enumerate(arrays)]
    theirs = [torch.tensor(a, requires_grad=i in grad_inputs) for i, a in enumerate(arrays)]
    out = our_fn(*ours)
    ref = torch_fn(*theirs)
    assert_close(out, ref, f"{what} forward")
    if grad_inputs:
        g = rand(*ref.shape, dtype=np.asarray(arrays[grad_inputs[0]]).dtype, seed=seed)
        out.backward(g)
        ref.backward(torch.tensor(g))
        for i in grad_inputs:
            assert ours[i].grad is not None, f"{what}: input {i} got no gradient"
            assert_close(ours[i].grad, theirs[i].grad, f"{what} grad of input {i}")
    return out, ref


def gradcheck(fn, arrays, grad_inputs=None, **kwargs) -> bool:
    """float64 finite-difference check of ``fn`` over the listed inputs (default: all float inputs)."""
    if grad_inputs is None:
        grad_inputs = [i for i, a in enumerate(arrays) if np.asarray(a).dtype.kind == "f"]
    tensors = [ck.tensor(np.asarray(a, dtype=np.float64) if i in grad_inputs else a, requires_grad=i in grad_inputs)
               for i, a in enumerate(arrays)]
    return ck.gradcheck(fn, tensors, **kwargs)
