"""Pooling kernels: the vectorised kernels against their loop references (no torch needed)."""

import itertools

import numpy as np
import pytest

from cnnkit.kernels import pool as P

# (h, w), kernel, stride, padding, dilation, ceil_mode
WINDOWS = [
    ((5, 7), (2, 2), (2, 2), (0, 0), (1, 1), False),
    ((5, 7), (2, 2), (2, 2), (0, 0), (1, 1), True),
    ((6, 6), (3, 3), (2, 2), (1, 1), (1, 1), False),
    ((6, 6), (3, 3), (2, 2), (1, 1), (1, 1), True),
    ((7, 5), (3, 3), (1, 1), (1, 1), (1, 1), False),
    ((7, 9), (3, 2), (1, 2), (1, 0), (1, 1), True),
    ((9, 8), (2, 3), (3, 4), (0, 1), (1, 1), True),  # stride > kernel
    ((9, 8), (2, 2), (3, 3), (1, 0), (1, 1), False),
    ((9, 9), (3, 3), (1, 2), (1, 1), (2, 2), False),  # dilation
    ((9, 9), (3, 2), (2, 1), (1, 1), (2, 3), True),
    ((4, 4), (4, 4), (1, 1), (0, 0), (1, 1), False),  # global window
    ((4, 6), (4, 6), (3, 3), (0, 0), (1, 1), True),
    ((1, 5), (1, 3), (1, 2), (0, 1), (1, 1), True),
    ((5, 5), (5, 1), (1, 1), (2, 0), (1, 1), False),
]


def _rand(shape, kind, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    if kind == "normal":
        return rng.standard_normal(shape).astype(dtype)
    if kind == "ties":
        return rng.integers(0, 3, shape).astype(dtype)
    if kind == "special":  # NaN, -inf and ties mixed in
        x = rng.integers(-2, 2, shape).astype(dtype)
        x[rng.random(shape) < 0.15] = np.nan
        x[rng.random(shape) < 0.15] = -np.inf
        return x
    raise ValueError(kind)


def _valid(h, w, k, s, p, d, cm):
    return min(P.pool_output_shape(h, w, k, s, p, d, cm)) >= 1


@pytest.mark.parametrize("cfg", WINDOWS)
@pytest.mark.parametrize("kind", ["normal", "ties", "special"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool2d_matches_reference(cfg, kind, dtype):
    (h, w), k, s, p, d, cm = cfg
    assert _valid(h, w, k, s, p, d, cm)
    x = _rand((2, 3, h, w), kind, dtype=dtype)
    out, idx = P.max_pool2d_forward(x, k, s, p, d, cm)
    ref, ref_idx = P.max_pool2d_reference(x, k, s, p, d, cm)
    assert out.dtype == x.dtype and idx.dtype == np.int64
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(idx, ref_idx)
    values_only, none = P.max_pool2d_forward(x, k, s, p, d, cm, return_indices=False)
    assert none is None
    np.testing.assert_array_equal(values_only, ref)
    g = _rand(out.shape, "normal", seed=1, dtype=dtype)
    np.testing.assert_allclose(P.max_pool2d_backward(g, idx, x.shape),
                               P.max_pool2d_backward_reference(g, ref_idx, x.shape), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("cfg", [c for c in WINDOWS if c[4] == (1, 1)])
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("divisor_override", [None, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_avg_pool2d_matches_reference(cfg, count_include_pad, divisor_override, dtype):
    (h, w), k, s, p, _, cm = cfg
    x = _rand((2, 3, h, w), "normal", dtype=dtype)
    args = (k, s, p, cm, count_include_pad, divisor_override)
    out = P.avg_pool2d_forward(x, *args)
    assert out.dtype == x.dtype
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(out, P.avg_pool2d_reference(x, *args), rtol=tol, atol=tol)
    g = _rand(out.shape, "normal", seed=1, dtype=dtype)
    grad = P.avg_pool2d_backward(g, x.shape, *args)
    assert grad.dtype == x.dtype
    np.testing.assert_allclose(grad, P.avg_pool2d_backward_reference(g, x.shape, *args), rtol=tol, atol=tol)


SIZES = [((5, 7), (1, 1)), ((5, 7), (2, 3)), ((5, 7), (3, 2)), ((6, 6), (4, 4)), ((6, 6), (3, 2)),
         ((7, 7), (7, 7)), ((4, 5), (6, 7)), ((1, 4), (1, 3)), ((9, 4), (4, 4))]


@pytest.mark.parametrize("in_hw,out_hw", SIZES)
@pytest.mark.parametrize("kind", ["normal", "ties", "special"])
def test_adaptive_max_pool2d_matches_reference(in_hw, out_hw, kind):
    x = _rand((2, 3) + in_hw, kind)
    out, idx = P.adaptive_max_pool2d_forward(x, out_hw)
    ref, ref_idx = P.adaptive_max_pool2d_reference(x, out_hw)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(idx, ref_idx)


@pytest.mark.parametrize("in_hw,out_hw", SIZES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adaptive_avg_pool2d_matches_reference(in_hw, out_hw, dtype):
    x = _rand((2, 3) + in_hw, "normal", dtype=dtype)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    out = P.adaptive_avg_pool2d_forward(x, out_hw)
    assert out.dtype == x.dtype
    np.testing.assert_allclose(out, P.adaptive_avg_pool2d_reference(x, out_hw), rtol=tol, atol=tol)
    g = _rand(out.shape, "normal", seed=1, dtype=dtype)
    grad = P.adaptive_avg_pool2d_backward(g, x.shape)
    assert grad.dtype == x.dtype
    np.testing.assert_allclose(grad, P.adaptive_avg_pool2d_backward_reference(g, x.shape), rtol=tol, atol=tol)


def test_adaptive_bins_are_floor_and_ceil():
    for size, out in itertools.product(range(1, 12), range(1, 12)):
        start, end = P.adaptive_bins(size, out)
        for i in range(out):
            assert start[i] == (i * size) // out
            assert end[i] == -(-((i + 1) * size) // out)
        assert start[0] == 0 and end[-1] == size and np.all(end > start)


def test_max_pool2d_ties_pick_first_in_window_and_nan_picks_last():
    x = np.zeros((1, 1, 4, 5))
    _, idx = P.max_pool2d_forward(x, (3, 3), (1, 1), (1, 1))
    # every window's first in-input element (row-major), as PyTorch reports it
    np.testing.assert_array_equal(idx[0, 0], [[0, 0, 1, 2, 3], [0, 0, 1, 2, 3], [5, 5, 6, 7, 8], [10, 10, 11, 12, 13]])
    x = np.array([[[[np.nan, 1.0, np.nan, 0.0]]]])
    out, idx = P.max_pool2d_forward(x, (1, 4), (1, 4), (0, 0))
    assert np.isnan(out).all() and idx.item() == 2


def test_max_pool2d_window_of_only_padding():
    # dilation makes the single window skip both input columns: -inf, reported at the first in-range tap
    x = np.arange(4.0).reshape(1, 1, 2, 2)
    assert P.max_pool2d_empty_windows(2, 2, (2, 2), (1, 1), (1, 1), (3, 3)) is not None
    out, idx = P.max_pool2d_forward(x, (2, 2), (1, 1), (1, 1), (3, 3))
    ref, ref_idx = P.max_pool2d_reference(x, (2, 2), (1, 1), (1, 1), (3, 3))
    assert out.shape == (1, 1, 1, 1) and out.item() == -np.inf
    np.testing.assert_array_equal(idx, ref_idx)
    assert P.max_pool2d_empty_windows(6, 6, (3, 3), (2, 2), (1, 1), (1, 1)) is None


def test_float32_stays_float32_without_full_size_float64_work():
    x = _rand((2, 3, 8, 8), "normal", dtype=np.float32)
    assert P.max_pool2d_forward(x, (3, 3), (2, 2), (1, 1))[0].dtype == np.float32
    assert P.avg_pool2d_forward(x, (3, 3), (2, 2), (1, 1)).dtype == np.float32
    assert P.avg_pool2d_backward(np.ones((2, 3, 4, 4), np.float32), x.shape, (3, 3), (2, 2), (1, 1)).dtype \
        == np.float32
    assert P.adaptive_avg_pool2d_forward(x, (3, 5)).dtype == np.float32
    assert P.adaptive_avg_pool2d_backward(np.ones((2, 3, 3, 5), np.float32), x.shape).dtype == np.float32
    assert P.adaptive_max_pool2d_forward(x, (3, 5))[0].dtype == np.float32


def test_large_kernel_code_dtype():
    # more than 127 taps: the window-local codes need a wider integer type
    x = _rand((1, 2, 13, 12), "ties", seed=3)
    out, idx = P.max_pool2d_forward(x, (12, 11), (1, 1), (0, 0))
    ref, ref_idx = P.max_pool2d_reference(x, (12, 11), (1, 1), (0, 0))
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(idx, ref_idx)
