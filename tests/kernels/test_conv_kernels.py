"""Array-level convolution drivers: against the loop references, gradients as exact adjoints, batch chunking,
the need_* switches and dtype preservation."""

import itertools

import numpy as np
import pytest
from oracle import requires_torch, torch

from cnnkit.kernels import _parallel
from cnnkit.kernels import conv as K
from cnnkit.kernels.conv_arith import conv_transpose_output_size
from cnnkit.kernels.im2col import columns_output_size


def _conv_cases():
    """(x shape, w shape, stride, padding, dilation, groups) with a non-empty output."""
    cases = []
    groupings = [(1, 2, 3), (2, 4, 2), (3, 3, 3), (2, 2, 4)]  # (groups, in channels, out channels)
    kernels = [(1, 1), (3, 3), (2, 3)]
    for (g, c, o), k, s, p, d, n in itertools.product(groupings, kernels, [(1, 1), (2, 3)], [0, ((0, 1), (2, 1))],
                                                      [(1, 1), (2, 1)], [1, 3]):
        shape = (n, c, 6, 5)
        if min(columns_output_size(shape[2:], k, s, p, d)) > 0:
            cases.append((shape, (o, c // g) + k, s, p, d, g))
    return cases


CASES = _conv_cases()


@pytest.fixture(params=[(1, 1), (1 << 30, 1), (1, 2), (1 << 30, 3)],
                ids=["one-image-chunks", "whole-batch-chunk", "one-image-chunks-2-threads", "3-threads"])
def budget(request, monkeypatch):
    """Run each test with one image per chunk and with the whole batch in one chunk, on one thread and on
    several (every convolution is then split over the threads, however small)."""
    size, threads = request.param
    monkeypatch.setattr(K, "COLUMN_BUDGET_BYTES", size)
    monkeypatch.setattr(K, "PARALLEL_MIN_FLOPS", 0 if threads > 1 else 1 << 60)
    monkeypatch.setattr(_parallel, "_num_threads", threads)
    return size


def _inner(a, b):
    return float(np.sum(a.astype(np.float64) * b))


def test_conv2d_forward_matches_reference(budget):
    rng = np.random.default_rng(0)
    assert len(CASES) > 100
    for xs, ws, s, p, d, g in CASES:
        x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
        np.testing.assert_allclose(K.conv2d_forward(x, w, b, s, p, d, g), K.conv2d_reference(x, w, b, s, p, d, g),
                                   rtol=1e-12, atol=1e-12, err_msg=str((xs, ws, s, p, d, g)))
        np.testing.assert_allclose(K.conv2d_forward(x, w, None, s, p, d, g),
                                   K.conv2d_reference(x, w, None, s, p, d, g), rtol=1e-12, atol=1e-12)


def test_conv2d_backward_is_the_adjoint(budget):
    """conv is bilinear, so <conv(x, w), g> = <x, dx> = <w, dw>, and db sums g over (n, h, w)."""
    rng = np.random.default_rng(1)
    for xs, ws, s, p, d, g in CASES:
        x, w = rng.standard_normal(xs), rng.standard_normal(ws)
        y = K.conv2d_forward(x, w, None, s, p, d, g)
        gy = rng.standard_normal(y.shape)
        gx, gw, gb = K.conv2d_backward(gy, x, w, s, p, d, g)
        v = _inner(y, gy)
        assert abs(_inner(x, gx) - v) <= 1e-10 * max(1, abs(v)), (xs, ws, s, p, d, g)
        assert abs(_inner(w, gw) - v) <= 1e-10 * max(1, abs(v)), (xs, ws, s, p, d, g)
        np.testing.assert_allclose(gb, gy.sum(axis=(0, 2, 3)))


def _transpose_cases():
    cases = []
    for (g, c, o), k, s, p, d, n in itertools.product([(1, 2, 3), (2, 4, 2), (3, 3, 6)], [(1, 1), (3, 3), (2, 3)],
                                                      [(1, 1), (2, 3)], [(0, 0), (1, 2)], [(1, 1), (2, 1)], [1, 3]):
        op = (max(s[0], d[0]) - 1, 0)
        shape = (n, c, 4, 3)
        out = [conv_transpose_output_size(shape[2 + a], k[a], s[a], p[a], op[a], d[a]) for a in (0, 1)]
        if min(out) > 0:
            cases.append((shape, (c, o // g) + k, s, p, op, d, g))
    return cases


TCASES = _transpose_cases()


def test_conv_transpose2d_forward_matches_reference(budget):
    rng = np.random.default_rng(2)
    assert len(TCASES) > 80
    for xs, ws, s, p, op, d, g in TCASES:
        x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[1] * g)
        np.testing.assert_allclose(K.conv_transpose2d_forward(x, w, b, s, p, op, d, g),
                                   K.conv_transpose2d_reference(x, w, b, s, p, op, d, g), rtol=1e-12, atol=1e-12,
                                   err_msg=str((xs, ws, s, p, op, d, g)))


def test_conv_transpose2d_backward_is_the_adjoint(budget):
    rng = np.random.default_rng(3)
    for xs, ws, s, p, op, d, g in TCASES:
        x, w = rng.standard_normal(xs), rng.standard_normal(ws)
        y = K.conv_transpose2d_forward(x, w, None, s, p, op, d, g)
        gy = rng.standard_normal(y.shape)
        gx, gw, gb = K.conv_transpose2d_backward(gy, x, w, s, p, op, d, g)
        v = _inner(y, gy)
        assert abs(_inner(x, gx) - v) <= 1e-10 * max(1, abs(v)), (xs, ws, s, p, op, d, g)
        assert abs(_inner(w, gw) - v) <= 1e-10 * max(1, abs(v)), (xs, ws, s, p, op, d, g)
        np.testing.assert_allclose(gb, gy.sum(axis=(0, 2, 3)))


def test_transpose_forward_equals_conv_input_gradient():
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((2, 4, 7, 6)), rng.standard_normal((6, 2, 3, 3))
    y = K.conv2d_forward(x, w, None, 2, 1, 1, 2)
    gy = rng.standard_normal(y.shape)
    gx, _, _ = K.conv2d_backward(gy, x, w, 2, 1, 1, 2, need_weight=False, need_bias=False)
    # conv over 7x6 with stride 2 gives 4x3; 7 = (4-1)*2 - 2 + 2 + 0 + 1 and 6 needs output_padding 1 in W
    np.testing.assert_allclose(K.conv_transpose2d_forward(gy, w, None, 2, 1, (0, 1), 1, 2), gx, atol=1e-12)


def test_need_switches_skip_work_and_arrays():
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3))
    gy = rng.standard_normal((2, 3, 3, 3))
    gx, gw, gb = K.conv2d_backward(gy, None, w, need_weight=False, need_bias=False, x_shape=x.shape)
    assert gw is None and gb is None and gx.shape == x.shape
    gx2, gw2, gb2 = K.conv2d_backward(gy, x, None, need_input=False, w_shape=w.shape)
    assert gx2 is None and gw2.shape == w.shape and gb2.shape == (3,)
    full = K.conv2d_backward(gy, x, w)
    np.testing.assert_allclose(gx, full[0])
    np.testing.assert_allclose(gw2, full[1])
    tgy = rng.standard_normal((2, 2, 7, 7))
    tx = rng.standard_normal((2, 3, 5, 5))
    t_only_x = K.conv_transpose2d_backward(tgy, None, w.transpose(1, 0, 2, 3).copy().transpose(1, 0, 2, 3),
                                           need_weight=False, need_bias=False, x_shape=tx.shape)
    assert t_only_x[1] is None and t_only_x[2] is None and t_only_x[0].shape == tx.shape


@pytest.mark.parametrize("fn", ["conv", "transpose"])
def test_float32_stays_float32(fn, budget):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 4, 6, 5)).astype(np.float32)
    if fn == "conv":
        w, b = rng.standard_normal((4, 2, 3, 3)).astype(np.float32), np.ones(4, np.float32)
        y = K.conv2d_forward(x, w, b, 1, 1, 1, 2)
        grads = K.conv2d_backward(np.ones_like(y), x, w, 1, 1, 1, 2)
        ref = K.conv2d_reference(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), 1, 1, 1, 2)
    else:
        w, b = rng.standard_normal((4, 3, 3, 3)).astype(np.float32), np.ones(6, np.float32)
        y = K.conv_transpose2d_forward(x, w, b, 2, 1, 1, 1, 2)
        grads = K.conv_transpose2d_backward(np.ones_like(y), x, w, 2, 1, 1, 1, 2)
        ref = K.conv_transpose2d_reference(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                                           2, 1, 1, 1, 2)
    assert y.dtype == np.float32 and all(a.dtype == np.float32 for a in grads)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)


def test_batch_chunks_respect_the_budget(monkeypatch):
    monkeypatch.setattr(K, "COLUMN_BUDGET_BYTES", 4 * (4 * 9 * 16) * 4)  # four float32 images of columns
    geo = K._conv_geometry((10, 4, 4, 4), (2, 4, 3, 3), 1, 1, 1, 1)
    assert geo.chunks(0, 10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert geo.chunks(3, 10, 4) == [(3, 7), (7, 10)]
    assert geo.rows_buffer(0, 10, np.float32).size == 4 * 4 * 9 * 16
    assert geo.chunks(0, 10, 8) == [(0, 2), (2, 4), (4, 6), (6, 8), (8, 10)]


@pytest.mark.parametrize("depthwise", [False, True])
def test_channels_last_operands_and_results(budget, depthwise):
    """Results are NCHW views of channels-last memory; NCHW-contiguous and channels-last operands agree."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((5, 4, 7, 6)).astype(np.float32)
    w = rng.standard_normal((8, 1, 3, 3) if depthwise else (6, 4, 3, 3)).astype(np.float32)
    groups = 4 if depthwise else 1
    x_cl = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    y = K.conv2d_forward(x, w, None, 2, 1, 1, groups)
    assert y.transpose(0, 2, 3, 1).flags.c_contiguous
    np.testing.assert_array_equal(K.conv2d_forward(x_cl, w, None, 2, 1, 1, groups), y)
    ref = K.conv2d_reference(x.astype(np.float64), w.astype(np.float64), None, 2, 1, 1, groups)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)
    gy = rng.standard_normal(y.shape).astype(np.float32)
    gx, gw, gb = K.conv2d_backward(gy, x, w, 2, 1, 1, groups)
    gx2, gw2, gb2 = K.conv2d_backward(np.ascontiguousarray(gy.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2), x_cl, w,
                                      2, 1, 1, groups)
    np.testing.assert_array_equal(gx, gx2)
    np.testing.assert_array_equal(gw, gw2)
    assert gw.flags.c_contiguous and gw.dtype == np.float32 and gx.dtype == np.float32


def test_empty_batch():
    x, w = np.zeros((0, 2, 5, 5), np.float32), np.ones((3, 2, 3, 3), np.float32)
    y = K.conv2d_forward(x, w, None, 1, 1)
    assert y.shape == (0, 3, 5, 5)
    gx, gw, gb = K.conv2d_backward(y, x, w, 1, 1)
    assert gx.shape == x.shape and np.all(gw == 0) and np.all(gb == 0)


@requires_torch
def test_references_match_torch():
    rng = np.random.default_rng(7)
    x, w, b = rng.standard_normal((2, 4, 7, 6)), rng.standard_normal((6, 2, 3, 2)), rng.standard_normal(6)
    ref = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), torch.tensor(b), (2, 1), (1, 2), (2, 1), 2)
    np.testing.assert_allclose(K.conv2d_reference(x, w, b, (2, 1), (1, 2), (2, 1), 2), ref.numpy(), atol=1e-12)
    wt, bt = rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(6)
    ref = torch.nn.functional.conv_transpose2d(torch.tensor(x), torch.tensor(wt), torch.tensor(bt), (2, 3), (1, 0),
                                               (1, 2), 2, (1, 2))
    np.testing.assert_allclose(K.conv_transpose2d_reference(x, wt, bt, (2, 3), (1, 0), (1, 2), (1, 2), 2),
                               ref.numpy(), atol=1e-12)
