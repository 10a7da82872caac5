"""Normalisation kernels against naive loop references: batch norm (training/inference, forward/backward),
the channel window sum and local response norm; float32 stays float32 and inputs are never modified."""

import numpy as np
import pytest
from oracle import assert_close, rand

from cnnkit.kernels import norm as K

# ------------------------------------------------------------------------------ naive references (float64 loops)


def ref_bn_train(x, w, b, eps):
    n, c, l_ = x.shape
    y = np.empty(x.shape)
    stats = []
    for ch in range(c):
        vals = [float(x[i, ch, j]) for i in range(n) for j in range(l_)]
        mean = sum(vals) / len(vals)
        var = sum((v - mean) ** 2 for v in vals) / len(vals)
        stats.append((mean, var))
        for i in range(n):
            for j in range(l_):
                y[i, ch, j] = (x[i, ch, j] - mean) / np.sqrt(var + eps) * w[ch] + b[ch]
    return y, np.array([s[0] for s in stats]), np.array([s[1] for s in stats])


def ref_bn_train_backward(g, x, w, eps):
    """The Jacobian-vector product written out per element: dy_k/dx_i summed over k."""
    n, c, l_ = x.shape
    m = n * l_
    dx, dw, db = np.zeros(x.shape), np.zeros(c), np.zeros(c)
    for ch in range(c):
        xs = x[:, ch, :].astype(np.float64).ravel()
        gs = g[:, ch, :].astype(np.float64).ravel()
        mean, var = xs.mean(), xs.var()
        s = 1 / np.sqrt(var + eps)
        xhat = (xs - mean) * s
        jac = np.empty((m, m))  # d xhat_k / d x_i
        for k in range(m):
            for i in range(m):
                jac[k, i] = s * ((k == i) - 1 / m - xhat[k] * xhat[i] / m)
        dx[:, ch, :] = (w[ch] * gs @ jac).reshape(n, l_)
        dw[ch] = np.sum(gs * xhat)
        db[ch] = np.sum(gs)
    return dx, dw, db


def ref_window_sum(a, before, after):
    out = np.zeros(a.shape)
    c = a.shape[1]
    for ch in range(c):
        for j in range(ch - before, ch + after + 1):
            if 0 <= j < c:
                out[:, ch] += a[:, j]
    return out


def ref_lrn(x, size, alpha, beta, k):
    d = k + alpha / size * ref_window_sum(x.astype(np.float64) ** 2, size // 2, (size - 1) // 2)
    return x / d ** beta


# ------------------------------------------------------------------------------ tests


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(4, 3, 1), (2, 3, 5), (3, 2, 4)], ids=str)
def test_bn_train_forward_and_backward(shape, dtype):
    x = rand(*shape, dtype=dtype) * 3 + 1
    w, b = rand(shape[1], dtype=dtype, seed=1), rand(shape[1], dtype=dtype, seed=2)
    g = rand(*shape, dtype=dtype, seed=3)
    x0, g0 = x.copy(), g.copy()
    y, mean, var, invstd = K.batch_norm_train_forward(x, w, b, 1e-5)
    ry, rmean, rvar = ref_bn_train(x, w, b, 1e-5)
    assert y.dtype == mean.dtype == var.dtype == invstd.dtype == dtype
    assert_close(y, ry.astype(dtype), "forward")
    assert_close(mean, rmean.astype(dtype), "mean")
    assert_close(var, rvar.astype(dtype), "var")
    assert_close(invstd, (1 / np.sqrt(rvar + 1e-5)).astype(dtype), "invstd")
    dx, dw, db = K.batch_norm_train_backward(g, x, mean, invstd, w)
    rdx, rdw, rdb = ref_bn_train_backward(g, x, w, 1e-5)
    assert dx.dtype == dw.dtype == db.dtype == dtype
    assert_close(dx, rdx.astype(dtype), "dx")
    assert_close(dw, rdw.astype(dtype), "dw")
    assert_close(db, rdb.astype(dtype), "db")
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(g, g0)


def test_bn_train_without_affine_and_partial_grads():
    x, g = rand(3, 2, 4) + 2, rand(3, 2, 4, seed=1)
    ones, zeros = np.ones(2), np.zeros(2)
    y, mean, var, invstd = K.batch_norm_train_forward(x, None, None, 1e-3)
    np.testing.assert_allclose(y, K.batch_norm_train_forward(x, ones, zeros, 1e-3)[0], rtol=1e-14)
    full = K.batch_norm_train_backward(g, x, mean, invstd, ones)
    dx, dw, db = K.batch_norm_train_backward(g, x, mean, invstd, None, need_weight=False, need_bias=False)
    assert dw is None and db is None
    np.testing.assert_allclose(dx, full[0], rtol=1e-14)
    dx, dw, db = K.batch_norm_train_backward(g, x, mean, invstd, None, need_x=False, need_weight=False)
    assert dx is None and dw is None
    np.testing.assert_allclose(db, full[2], rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bn_eval_forward_and_backward(dtype):
    x, g = rand(3, 4, 5, dtype=dtype), rand(3, 4, 5, dtype=dtype, seed=1)
    w, b = rand(4, dtype=dtype, seed=2), rand(4, dtype=dtype, seed=3)
    rm, rv = rand(4, seed=4), rand(4, seed=5, low=0.5)  # float64 statistics must not upcast float32 data
    y = K.batch_norm_eval_forward(x, rm, rv, w, b, 1e-5)
    assert y.dtype == dtype
    c = (slice(None), None)
    ref = (x - rm[c]) / np.sqrt(rv[c] + 1e-5) * w[c] + b[c]
    assert_close(y, ref.astype(dtype), "eval forward")
    dx, dw, db = K.batch_norm_eval_backward(g, x, rm, rv, w, 1e-5)
    assert dx.dtype == dw.dtype == db.dtype == dtype
    assert_close(dx, (g * w[c] / np.sqrt(rv[c] + 1e-5)).astype(dtype), "eval dx")
    assert_close(dw, (g * (x - rm[c]) / np.sqrt(rv[c] + 1e-5)).sum(axis=(0, 2)).astype(dtype), "eval dw")
    assert_close(db, g.sum(axis=(0, 2)), "eval db")


@pytest.mark.parametrize("before,after", [(0, 0), (1, 1), (2, 1), (0, 3), (4, 0), (9, 9)])
@pytest.mark.parametrize("shape", [(2, 5, 3), (1, 1, 2), (2, 4, 2, 2)], ids=str)
def test_channel_window_sum(shape, before, after):
    a = rand(*shape)
    a0 = a.copy()
    np.testing.assert_allclose(K.channel_window_sum(a, before, after), ref_window_sum(a, before, after), rtol=1e-14)
    np.testing.assert_array_equal(a, a0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [1, 2, 3, 5, 12])
def test_lrn_forward_and_backward(size, dtype):
    x = rand(2, 6, 3, dtype=dtype) * 2
    g = rand(2, 6, 3, dtype=dtype, seed=1)
    alpha, beta, k = 0.4, 0.8, 1.3
    y, d = K.lrn_forward(x, size, alpha, beta, k)
    assert y.dtype == d.dtype == dtype
    assert_close(y, ref_lrn(x, size, alpha, beta, k).astype(dtype), "lrn forward")
    dx = K.lrn_backward(g, x, d, size, alpha, beta)
    assert dx.dtype == dtype
    # central differences of sum(g * lrn(x)) in float64
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    num = np.zeros(x.shape)
    eps = 1e-6
    for i in np.ndindex(x.shape):
        xp, xm = x64.copy(), x64.copy()
        xp[i] += eps
        xm[i] -= eps
        num[i] = (np.sum(g64 * ref_lrn(xp, size, alpha, beta, k)) - np.sum(g64 * ref_lrn(xm, size, alpha, beta, k))) / (2 * eps)
    assert_close(dx, num.astype(dtype), "lrn backward", tol=1e-4 if dtype == np.float32 else 1e-8)


# ------------------------------------------------------------------------------ channels-last rows (compiled)


@pytest.fixture(params=[1, 2, 3], ids=lambda t: f"{t}-threads")
def threads(request, monkeypatch):
    """Split even small inputs over ``request.param`` threads."""
    from cnnkit.kernels import _parallel

    monkeypatch.setattr(K, "PARALLEL_MIN_SIZE", 0)
    monkeypatch.setattr(_parallel, "_num_threads", request.param)
    return request.param


def _rows_case(dtype, m=37, c=5, offset=0.0):
    x = rand(m, c, dtype=dtype) * 2 + offset
    w, b = rand(c, dtype=dtype, seed=1), rand(c, dtype=dtype, seed=2)
    g = rand(m, c, dtype=dtype, seed=3)
    return x, w, b, g


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("offset", [0.0, 1e3], ids=["centred", "large-mean"])
def test_bn_rows_match_the_numpy_kernels(threads, dtype, offset):
    """The compiled (M, C) kernels equal the (N, C, L) NumPy ones on the same data seen as (1, C, M)."""
    x, w, b, g = _rows_case(dtype, offset=offset)
    x0, g0 = x.copy(), g.copy()
    y, mean, var, invstd = K.batch_norm_train_forward_rows(x, w, b, 1e-5)
    ry, rmean, rvar, rinvstd = K.batch_norm_train_forward(x.T[None].copy(), w, b, 1e-5)
    assert y.dtype == mean.dtype == var.dtype == invstd.dtype == dtype and y.flags.c_contiguous
    assert_close(y, ry[0].T, "forward")
    assert_close(mean, rmean, "mean")
    assert_close(var, rvar, "var", tol=1e-4 if dtype == np.float32 else 1e-9)
    dx, dw, db = K.batch_norm_train_backward_rows(g, x, mean, invstd, w)
    rdx, rdw, rdb = K.batch_norm_train_backward(g.T[None].copy(), x.T[None].copy(), mean, invstd, w)
    assert dx.dtype == dw.dtype == db.dtype == dtype
    assert_close(dx, rdx[0].T, "dx")
    assert_close(dw, rdw, "dw")
    assert_close(db, rdb, "db")
    rm, rv = rand(5, dtype=dtype, seed=4), rand(5, dtype=dtype, seed=5, low=0.5)
    assert_close(K.batch_norm_eval_forward_rows(x, rm, rv, w, b, 1e-5),
                 K.batch_norm_eval_forward(x.T[None].copy(), rm, rv, w, b, 1e-5)[0].T, "eval forward")
    assert np.array_equal(x, x0) and np.array_equal(g, g0)


def test_bn_rows_against_the_loop_reference(threads):
    x, w, b, g = _rows_case(np.float64, m=6, c=3)
    y, mean, var, invstd = K.batch_norm_train_forward_rows(x, w, b, 1e-5)
    ry, rmean, rvar = ref_bn_train(x.T[None], w, b, 1e-5)
    assert_close(y, ry[0].T, "forward")
    dx, dw, db = K.batch_norm_train_backward_rows(g, x, mean, invstd, w, need_weight=False)
    rdx, _, rdb = ref_bn_train_backward(g.T[None], x.T[None], w, 1e-5)
    assert dw is None
    assert_close(dx, rdx[0].T, "dx")
    assert_close(db, rdb, "db")


def test_channels_last_rows_views():
    a = np.zeros((2, 3, 4, 5), np.float32)
    assert K.channels_last_rows(a) is None
    cl = np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    rows = K.channels_last_rows(cl)
    assert rows.shape == (40, 3) and np.shares_memory(rows, cl)
    assert K.channels_last_rows(np.zeros((4, 3))).shape == (4, 3)
    assert K.channels_last_rows(np.zeros(4)) is None
