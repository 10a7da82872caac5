"""The backend seam: choosing a kernel set, restoring it, the environment variable, per-op fallback, and backward
running on the kernels its forward ran on."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import cnnkit as ck
import cnnkit.nn.functional as F
from cnnkit.kernels import backend
from cnnkit.kernels.reference import ReferenceKernels


class Recording(ReferenceKernels):
    """The reference kernels, noting which ops ran; it declines float64 convolutions (to test the fallback)."""

    name = "recording"

    def __init__(self):
        self.calls = []

    def supports(self, op, dtype, **attrs):
        return not (op == "conv2d" and dtype == np.float64)

    def conv2d_forward(self, *args):
        self.calls.append("conv2d_forward")
        return super().conv2d_forward(*args)

    def conv2d_backward(self, *args, **kwargs):
        self.calls.append("conv2d_backward")
        return super().conv2d_backward(*args, **kwargs)

    def max_pool2d_backward(self, *args):
        self.calls.append("max_pool2d_backward")
        return super().max_pool2d_backward(*args)


@pytest.fixture
def recording():
    kernels = Recording()
    backend.register_backend("recording", kernels)
    yield kernels
    backend._registry.pop("recording", None)


ONEDNN = "onednn" in ck.available_backends()
NATURAL_DEFAULT = "onednn" if ONEDNN else "numpy"  # without CNNKIT_BACKEND
DEFAULT = os.environ.get(backend.ENV_VARIABLE) or NATURAL_DEFAULT  # this run's (the suite runs under both)


def test_the_default_is_onednn_where_it_runs_and_the_reference_is_always_available():
    assert ck.get_backend() == DEFAULT
    assert ck.available_backends()[0] == "numpy"
    assert backend.kernels_for("conv2d", np.float32).name == DEFAULT
    assert backend.kernels_for("conv2d", np.float64).name == "numpy"  # oneDNN runs float32 only


def test_set_backend_switches_and_the_context_manager_restores(recording):
    start = ck.get_backend()
    with ck.set_backend("recording"):
        assert ck.get_backend() == "recording"
        with ck.set_backend("numpy"):
            assert ck.get_backend() == "numpy"
        assert ck.get_backend() == "recording"
    assert ck.get_backend() == start
    ck.set_backend("recording")  # the plain call lasts
    try:
        assert ck.get_backend() == "recording"
    finally:
        ck.set_backend(start)
    assert ck.get_backend() == start


def test_restored_after_an_exception(recording):
    start = ck.get_backend()
    with pytest.raises(ZeroDivisionError), ck.set_backend("recording"):
        raise ZeroDivisionError
    assert ck.get_backend() == start


def test_unknown_backend_is_an_input_error():
    start = ck.get_backend()
    with pytest.raises(ck.InputError, match="unknown backend 'nope'.*numpy"):
        ck.set_backend("nope")
    with pytest.raises(ck.InputTypeError, match="str"):
        ck.set_backend(3)
    assert ck.get_backend() == start


def test_backward_runs_on_the_forward_kernels(recording):
    rng = np.random.default_rng(0)
    x = ck.tensor(rng.standard_normal((2, 3, 8, 8), dtype=np.float32), requires_grad=True)
    w = ck.tensor(rng.standard_normal((4, 3, 3, 3), dtype=np.float32), requires_grad=True)
    with ck.set_backend("recording"):
        y = F.max_pool2d(F.conv2d(x, w, padding=1), 2)
    assert recording.calls == ["conv2d_forward"]
    y.sum().backward()  # the current backend is numpy again, the graph still names the recording kernels
    assert recording.calls == ["conv2d_forward", "max_pool2d_backward", "conv2d_backward"]
    with ck.set_backend("numpy"):
        ref_x = ck.tensor(x.numpy(), requires_grad=True)
        F.max_pool2d(F.conv2d(ref_x, w, padding=1), 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), ref_x.grad.numpy())


def test_unsupported_arguments_fall_back_to_the_reference(recording):
    x = ck.tensor(np.ones((1, 1, 4, 4)), requires_grad=True)  # float64: the recording set declines
    w = ck.tensor(np.ones((1, 1, 3, 3)), requires_grad=True)
    with ck.set_backend("recording"):
        assert backend.kernels_for("conv2d", np.float64).name == "numpy"
        F.conv2d(x, w).sum().backward()
    assert recording.calls == []


def _backend_in_fresh_process(env_value, **extra):
    env = dict(os.environ, **extra)
    env.pop(backend.ENV_VARIABLE, None)
    if env_value is not None:
        env[backend.ENV_VARIABLE] = env_value
    return subprocess.run([sys.executable, "-c", "import cnnkit as ck; print(ck.get_backend())"], env=env,
                          capture_output=True, text=True)


def test_environment_variable_sets_the_starting_backend():
    done = _backend_in_fresh_process("numpy")
    assert done.returncode == 0 and done.stdout.strip() == "numpy"
    done = _backend_in_fresh_process("no-such-backend")
    assert done.returncode != 0 and "unknown backend 'no-such-backend'" in done.stderr
    done = _backend_in_fresh_process(None)
    assert done.returncode == 0 and done.stdout.strip() == NATURAL_DEFAULT


@pytest.mark.parametrize("requested", [None, "onednn"])
def test_without_the_onednn_library_the_reference_runs_with_one_warning(requested):
    """No library (here: disabled by the override variable, as on a machine without the wheel): the default, and
    even an explicit request through the environment, fall back to the reference with one logged line."""
    code = ("import numpy as np, cnnkit as ck, cnnkit.functional as F\n"
            "x = ck.tensor(np.ones((2, 3, 8, 8), np.float32), requires_grad=True)\n"
            "w = ck.tensor(np.ones((4, 3, 3, 3), np.float32), requires_grad=True)\n"
            "F.max_pool2d(F.relu(F.conv2d(x, w, padding=1)), 2).sum().backward()\n"
            "F.conv2d(x, w).sum().backward()\n"
            "print(ck.get_backend(), ck.available_backends(), float(x.grad.numpy().sum()))\n")
    env = dict(os.environ, CNNKIT_ONEDNN_LIBRARY="0")
    env.pop(backend.ENV_VARIABLE, None)
    if requested:
        env[backend.ENV_VARIABLE] = requested
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:2] == ["numpy", "['numpy']"]
    warnings = [line for line in done.stderr.splitlines() if "unavailable" in line]
    assert len(warnings) == 1 and "using the reference kernels" in warnings[0], done.stderr


def test_describe_names_the_backend_and_its_runtime():
    info = backend.describe()
    assert info["backend"] == ck.get_backend() and info["threads"] == ck.get_num_threads()
    line = backend.describe_line()
    assert line.startswith(f"backend {ck.get_backend()}")
    if ONEDNN:
        assert info["onednn"]["available"] and info["onednn"]["version"].startswith("3.")
        assert "oneDNN 3." in line
    else:
        assert "onednn unavailable" in line


def test_set_num_threads_drives_every_pool(monkeypatch):
    from cnnkit.kernels import _parallel

    monkeypatch.setenv("CNNKIT_ADAPT_THREADS", "0")  # a fixed count (no adaptation to other processes' load)
    before = ck.get_num_threads()
    try:
        ck.set_num_threads(1)
        assert ck.get_num_threads() == 1 and _parallel.get_num_threads() == 1
        if ONEDNN:
            assert backend._load("onednn").threads() == 1
        with pytest.raises(ck.InputError):
            ck.set_num_threads(0)
    finally:
        ck.set_num_threads(before)
    if ONEDNN:
        assert backend._load("onednn").threads() == before


def test_the_onednn_pool_shrinks_to_the_cores_other_processes_leave(monkeypatch):
    from cnnkit.kernels import _contention

    monkeypatch.setattr(_contention, "_cores", 4)
    monkeypatch.setattr(_contention, "INTERVAL", 0.0)
    monkeypatch.setattr(_contention, "SMOOTHING", 1.0)
    for others, expected in ((0, 4), (1, 3), (3, 1), (9, 1)):
        monkeypatch.setattr(_contention, "_sample", lambda others=others: others)
        monkeypatch.setattr(_contention, "_next", 0.0)
        assert _contention.free_cores(4) == expected
    assert _contention.free_cores(1) == 1
    monkeypatch.undo()
    assert 1 <= _contention.free_cores(2) <= 2  # the real /proc reading


def test_parity_grids_run_on_every_available_backend():
    """The PyTorch parity tests of the backend ops are parametrized over every available backend (a backend added
    later is checked by the same grids), with ids that name it."""
    import importlib

    import oracle

    assert oracle.BACKENDS == tuple(ck.available_backends())
    expected = {
        "test_conv": ["test_conv2d_matches_torch", "test_conv_transpose2d_matches_torch", "test_unbatched_input"],
        "test_pool": ["test_max_pool2d_matches_torch", "test_max_pool2d_ties_route_gradient_like_torch",
                      "test_max_pool2d_nan_and_inf_like_torch", "test_avg_pool2d_matches_torch"],
        "test_pool_channels_last": ["test_max_pool2d_channels_last_matches_torch"],
        "test_norm": ["test_batch_norm_matches_torch", "test_batch_norm_channels_last_input_matches_torch"],
        "test_activation": ["test_relu_matches_torch"],
    }
    for module, names in expected.items():
        tests = importlib.import_module(f"tests.functional.{module}")
        for name in names:
            marks = [m for m in getattr(getattr(tests, name), "pytestmark", []) if m.name == "parametrize"
                     and m.args[0] == "backend"]
            assert marks, f"{module}.{name} is not parametrized over the backends"
            assert tuple(marks[0].args[1]) == oracle.BACKENDS and marks[0].kwargs["indirect"]
            assert marks[0].kwargs["ids"] == [f"backend={b}" for b in oracle.BACKENDS]
