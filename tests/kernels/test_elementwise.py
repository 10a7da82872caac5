"""Compiled elementwise kernels (relu forward and backward) against their NumPy references, in every layout."""

import numpy as np
import pytest

from cnnkit.kernels import _parallel
from cnnkit.kernels import elementwise as E


@pytest.fixture(params=[1, 2, 3], ids=lambda t: f"{t}-threads")
def threads(request, monkeypatch):
    monkeypatch.setattr(E, "PARALLEL_MIN_SIZE", 0)
    monkeypatch.setattr(_parallel, "_num_threads", request.param)
    return request.param


def _layouts(a):
    yield "C", a
    yield "channels-last", np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    yield "F", np.asfortranarray(a)
    yield "strided", a[:, :, ::2]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_matches_reference_in_every_layout(threads, dtype):
    rng = np.random.default_rng(0)
    base = rng.standard_normal((3, 4, 6, 5)).astype(dtype)
    base[0, 0, 0, :3] = [np.nan, 0.0, -0.0]
    for name, x in _layouts(base):
        y = E.relu(x)
        assert y.dtype == dtype
        np.testing.assert_array_equal(y, E.relu_reference(x), err_msg=name)
        for gname, g in _layouts(rng.standard_normal(base.shape).astype(dtype)):
            if g.shape != y.shape:
                continue
            dx = E.relu_backward(g, y)
            assert dx.dtype == dtype
            np.testing.assert_array_equal(dx, E.relu_backward_reference(g, y), err_msg=f"{name} / {gname}")


def test_results_keep_the_input_layout(threads):
    x = np.ascontiguousarray(np.ones((2, 3, 4, 5), np.float32).transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    y = E.relu(x)
    assert y.strides == x.strides
    assert E.relu_backward(np.ones((2, 3, 4, 5), np.float32), y).strides == y.strides


def test_flat_memory():
    a = np.arange(24.0).reshape(2, 3, 4)
    t = a.transpose(2, 0, 1)
    (flat,) = E.flat_memory(t)
    assert np.shares_memory(flat, a) and np.array_equal(flat, a.ravel())
    assert E.flat_memory(a, np.asfortranarray(a)) is None
    assert E.flat_memory(a[:, ::2]) is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_add_matches_numpy_in_every_layout_pair(threads, dtype):
    rng = np.random.default_rng(1)
    base_a, base_b = rng.standard_normal((2, 2, 3, 4, 5)).astype(dtype)
    for name_a, a in _layouts(base_a):
        for name_b, b in _layouts(base_b):
            if a.shape != b.shape:
                continue
            out = E.add(a, b)
            assert out.dtype == dtype
            np.testing.assert_array_equal(out, a + b, err_msg=f"{name_a} + {name_b}")
    assert E.add(base_a, base_b[0, 0]).shape == base_a.shape  # broadcasting falls back to NumPy
