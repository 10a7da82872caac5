"""Compiled channels-last max pooling against the loop references (values, indices, gradient)."""

import numpy as np
import pytest

from cnnkit.kernels import _parallel
from cnnkit.kernels import pool as P

WINDOWS = [  # (h, w), kernel, stride, padding, dilation, ceil_mode
    ((8, 8), (2, 2), (2, 2), (0, 0), (1, 1), False),
    ((9, 9), (3, 3), (1, 2), (1, 1), (2, 2), False),
    ((9, 9), (3, 2), (2, 1), (1, 1), (2, 3), True),
    ((4, 6), (4, 6), (3, 3), (0, 0), (1, 1), True),
    ((1, 5), (1, 3), (1, 2), (0, 1), (1, 1), True),
    ((5, 5), (5, 1), (1, 1), (2, 0), (1, 1), False),
    ((2, 2), (2, 2), (1, 1), (1, 1), (3, 3), False),  # a window of only padding
]


@pytest.fixture(params=[1, 2, 3], ids=lambda t: f"{t}-threads")
def threads(request, monkeypatch):
    """Split even small inputs over ``request.param`` threads."""
    monkeypatch.setattr(P, "PARALLEL_MIN_SIZE", 0)
    monkeypatch.setattr(_parallel, "_num_threads", request.param)


def _rand(shape, kind, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if kind == "normal":
        return rng.standard_normal(shape).astype(dtype)
    x = rng.integers(-2, 2, shape).astype(dtype)  # ties, and NaN / -inf for "special"
    if kind == "special":
        x[rng.random(shape) < 0.15] = np.nan
        x[rng.random(shape) < 0.15] = -np.inf
    return x


def _nhwc(a):
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1))


@pytest.mark.parametrize("cfg", WINDOWS)
@pytest.mark.parametrize("kind", ["normal", "ties", "special"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_nhwc_matches_reference(threads, cfg, kind, dtype):
    (h, w), k, s, p, d, cm = cfg
    x = _rand((3, 4, h, w), kind, dtype)
    ref, ref_idx = P.max_pool2d_reference(x, k, s, p, d, cm)
    values, idx = P.max_pool2d_forward_nhwc(_nhwc(x), k, s, p, d, cm)
    assert values.dtype == dtype and idx.dtype == np.int64
    np.testing.assert_array_equal(values.transpose(0, 3, 1, 2), ref)
    np.testing.assert_array_equal(idx.transpose(0, 3, 1, 2), ref_idx)
    only, none = P.max_pool2d_forward_nhwc(_nhwc(x), k, s, p, d, cm, return_indices=False)
    assert none is None
    np.testing.assert_array_equal(only, values)
    if P.max_pool2d_empty_windows(h, w, k, s, p, d, cm) is None:
        g = _rand(ref.shape, "normal", dtype, seed=1)
        grad = P.max_pool2d_backward_nhwc(_nhwc(g), idx, (3, h, w, 4))
        assert grad.dtype == dtype
        np.testing.assert_allclose(grad.transpose(0, 3, 1, 2), P.max_pool2d_backward_reference(g, ref_idx, x.shape),
                                   rtol=1e-6, atol=1e-6)
