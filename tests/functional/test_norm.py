"""batch_norm and local_response_norm: torch parity (forward, backward and running statistics, float32 and
float64), gradchecks, dtype preservation and error messages."""

import numpy as np
import pytest
from oracle import assert_close, gradcheck, per_backend, rand, requires_torch, torch

import cnnkit as ck
import cnnkit.functional as F

if torch is not None:
    import torch.nn.functional as TF

SHAPES = [(5, 3), (4, 3, 6), (2, 3, 4, 5), (1, 4, 3, 1), (2, 2, 2, 3, 2)]


def _bn_arrays(shape, dtype, seed=0):
    c = shape[1]
    x = rand(*shape, dtype=dtype, seed=seed) * 2 + 0.5
    weight = rand(c, dtype=dtype, seed=seed + 1)
    bias = rand(c, dtype=dtype, seed=seed + 2)
    running_mean = rand(c, dtype=dtype, seed=seed + 3)
    running_var = rand(c, dtype=dtype, seed=seed + 4, low=0.5)
    return x, weight, bias, running_mean, running_var


@per_backend
@requires_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
@pytest.mark.parametrize("training,stats", [(True, True), (True, False), (False, True)],
                         ids=["train-stats", "train-nostats", "eval"])  # inference needs running statistics
def test_batch_norm_matches_torch(training, stats, affine, shape, dtype, backend):
    x, w, b, rm, rv = _bn_arrays(shape, dtype)
    ours_rm, ours_rv = (rm.copy(), rv.copy()) if stats else (None, None)
    theirs_rm, theirs_rv = (torch.tensor(rm), torch.tensor(rv)) if stats else (None, None)
    xo = ck.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    wo, bo = (ck.tensor(w, requires_grad=True), ck.tensor(b, requires_grad=True)) if affine else (None, None)
    wt, bt = (torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)) if affine else (None, None)
    for step in range(3):  # running statistics after several calls
        xo.grad = None
        xt.grad = None
        y = F.batch_norm(xo, ours_rm, ours_rv, wo, bo, training=training, momentum=0.3, eps=1e-3)
        ref = TF.batch_norm(xt, theirs_rm, theirs_rv, wt, bt, training=training, momentum=0.3, eps=1e-3)
        assert y.dtype == dtype
        assert_close(y, ref, f"batch_norm forward (step {step})")
        g = rand(*shape, dtype=dtype, seed=10 + step)
        y.backward(g)
        ref.backward(torch.tensor(g))
        assert xo.grad.dtype == dtype
        assert_close(xo.grad, xt.grad, f"batch_norm grad input (step {step})")
        if stats:
            assert_close(ours_rm, theirs_rm, f"running_mean after {step + 1} calls")
            assert_close(ours_rv, theirs_rv, f"running_var after {step + 1} calls")
    if affine:  # accumulated over the three calls
        assert wo.grad.dtype == dtype
        assert_close(wo.grad, wt.grad, "batch_norm grad weight")
        assert_close(bo.grad, bt.grad, "batch_norm grad bias")


@requires_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_running_stats_as_tensors_and_defaults(dtype):
    x, w, b, rm, rv = _bn_arrays((6, 4, 3, 3), dtype)
    rm_t, rv_t = ck.tensor(rm), ck.tensor(rv)
    rm_torch, rv_torch = torch.tensor(rm), torch.tensor(rv)
    for seed in range(4):
        batch = rand(6, 4, 3, 3, dtype=dtype, seed=seed) * 3 - 1
        F.batch_norm(ck.tensor(batch), rm_t, rv_t, training=True)
        TF.batch_norm(torch.tensor(batch), rm_torch, rv_torch, training=True)
    assert rm_t.dtype == dtype and rv_t.dtype == dtype
    assert_close(rm_t, rm_torch, "running_mean")
    assert_close(rv_t, rv_torch, "running_var")
    y = F.batch_norm(ck.tensor(x), rm_t, rv_t, ck.tensor(w), ck.tensor(b))  # training=False by default
    assert_close(y, TF.batch_norm(torch.tensor(x), rm_torch, rv_torch, torch.tensor(w), torch.tensor(b)), "eval")


@requires_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_only_weight_grad(dtype):
    x, w, b, rm, rv = _bn_arrays((3, 2, 4), dtype)
    for training in (True, False):
        wo = ck.tensor(w, requires_grad=True)
        wt = torch.tensor(w, requires_grad=True)
        y = F.batch_norm(ck.tensor(x), rm.copy(), rv.copy(), wo, ck.tensor(b), training=training)
        ref = TF.batch_norm(torch.tensor(x), torch.tensor(rm), torch.tensor(rv), wt, torch.tensor(b), training=training)
        g = rand(*x.shape, dtype=dtype, seed=4)
        y.backward(g)
        ref.backward(torch.tensor(g))
        assert_close(wo.grad, wt.grad, f"weight grad (training={training})")


def test_batch_norm_running_update_rule():
    x = rand(8, 3, 5, seed=2)
    rm, rv = np.full(3, 0.5), np.full(3, 2.0)
    F.batch_norm(ck.tensor(x), rm, rv, training=True, momentum=0.25)
    mean = x.mean(axis=(0, 2))
    unbiased = x.var(axis=(0, 2), ddof=1)
    np.testing.assert_allclose(rm, 0.75 * 0.5 + 0.25 * mean, rtol=1e-12)
    np.testing.assert_allclose(rv, 0.75 * 2.0 + 0.25 * unbiased, rtol=1e-12)
    F.batch_norm(ck.tensor(x), rm, rv, training=True, momentum=1.0)
    np.testing.assert_allclose(rm, mean, rtol=1e-12)
    np.testing.assert_allclose(rv, unbiased, rtol=1e-12)
    before = (rm.copy(), rv.copy())
    F.batch_norm(ck.tensor(x), rm, rv, training=False)
    F.batch_norm(ck.tensor(x), rm, rv, training=True, momentum=0.0)
    np.testing.assert_array_equal(rm, before[0])
    np.testing.assert_array_equal(rv, before[1])


def test_batch_norm_training_normalises():
    x = rand(16, 3, 4, 4, seed=1) * 5 + 2
    y = F.batch_norm(ck.tensor(x), None, None, training=True, eps=1e-12).data
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, rtol=1e-9)


def test_batch_norm_eval_backward_is_affine():
    x, w, b, rm, rv = _bn_arrays((3, 4, 2, 2), np.float64)
    xt, wt, bt = (ck.tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.batch_norm(xt, rm, rv, wt, bt, training=False, eps=1e-5)
    g = rand(*x.shape, seed=7)
    y.backward(g)
    c = (slice(None), slice(None), None, None)
    invstd = 1 / np.sqrt(rv + 1e-5)
    np.testing.assert_allclose(xt.grad.data, g * (w * invstd)[c[1:]], rtol=1e-12)
    np.testing.assert_allclose(wt.grad.data, (g * (x - rm[c[1:]]) * invstd[c[1:]]).sum(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(bt.grad.data, g.sum(axis=(0, 2, 3)), rtol=1e-12)


@pytest.mark.parametrize("shape", [(4, 3), (3, 2, 3), (2, 2, 2, 3)], ids=str)
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
def test_batch_norm_gradcheck(shape, training, affine):
    x, w, b, rm, rv = _bn_arrays(shape, np.float64)
    if affine:
        def fn(a, weight, bias):
            return F.batch_norm(a, None if training else rm, None if training else rv, weight, bias,
                                training=training)
        assert gradcheck(fn, [x, w, b])
    else:
        assert gradcheck(lambda a: F.batch_norm(a, rm.copy(), rv.copy(), training=training), [x])


def test_batch_norm_errors():
    x = ck.tensor(rand(2, 4, 5, 5, dtype=np.float32))
    c3, c4 = np.zeros(3, np.float32), np.ones(4, np.float32)
    with pytest.raises(ValueError, match=r"^batch_norm: running_mean has 3 elements but the input has 4 channels "
                                         r"\(input shape \(2, 4, 5, 5\)\)"):
        F.batch_norm(x, c3, c4)
    with pytest.raises(ValueError, match=r"^batch_norm: weight has 3 elements but the input has 4 channels"):
        F.batch_norm(x, c4, c4, weight=ck.tensor(c3), training=True)
    with pytest.raises(ValueError, match=r"^batch_norm: expected more than 1 value per channel when training, "
                                         r"got input shape \(1, 3\)"):
        F.batch_norm(ck.tensor(rand(1, 3, dtype=np.float32)), None, None, training=True)
    with pytest.raises(ValueError, match=r"^batch_norm: expected more than 1 value per channel when training"):
        F.batch_norm(ck.tensor(rand(1, 3, 1, 1, dtype=np.float32)), c3.copy(), c3 + 1, training=True)
    F.batch_norm(ck.tensor(rand(1, 3, dtype=np.float32)), c3, c3 + 1, training=False)  # fine in eval
    with pytest.raises(ValueError, match=r"^batch_norm: running_mean and running_var are required when training=False"):
        F.batch_norm(x, None, None)
    with pytest.raises(ValueError, match=r"^batch_norm: running_mean and running_var must be given together"):
        F.batch_norm(x, c4, None, training=True)
    with pytest.raises(ValueError, match=r"^batch_norm: expected an input \(N, C, \.\.\.\) with at least 2 dimensions, "
                                         r"got shape \(4,\)"):
        F.batch_norm(ck.tensor(c4), c4, c4)
    with pytest.raises(TypeError, match=r"^batch_norm: input and weight must have the same dtype, got input float32 and weight float64"):
        F.batch_norm(x, c4, c4, weight=ck.tensor(np.ones(4)))
    with pytest.raises(TypeError, match=r"^batch_norm: expected a floating-point input, got dtype int64"):
        F.batch_norm(ck.tensor(np.ones((2, 4), dtype=np.int64)), c4, c4)
    with pytest.raises(TypeError, match=r"^batch_norm: running_var must be floating point, got dtype int64"):
        F.batch_norm(x, c4, np.ones(4, dtype=np.int64))
    with pytest.raises(ValueError, match=r"^batch_norm: eps must be positive when training, got 0"):
        F.batch_norm(x, None, None, training=True, eps=0)
    with pytest.raises(TypeError, match=r"^batch_norm: momentum must be a real number, got None"):
        F.batch_norm(x, c4, c4, training=True, momentum=None)
    with pytest.raises(TypeError, match=r"^batch_norm: running_mean must be a Tensor or ndarray, got list"):
        F.batch_norm(x, [0.0] * 4, c4)


# ------------------------------------------------------------------------------ local response norm

LRN_CASES = [((2, 7, 3, 4), 5, 1e-4, 0.75, 1.0), ((2, 7, 3, 4), 3, 0.5, 0.9, 2.0), ((3, 6, 5), 2, 0.3, 0.6, 1.5),
             ((1, 4, 2, 3), 1, 0.2, 0.75, 1.0), ((2, 3, 2, 2), 8, 0.7, 1.2, 0.5), ((1, 5, 2, 2, 2), 4, 0.4, 0.75, 1.0)]


@requires_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", LRN_CASES, ids=str)
def test_local_response_norm_matches_torch(case, dtype):
    shape, size, alpha, beta, k = case
    x = rand(*shape, dtype=dtype) * 2
    xo, xt = ck.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y = F.local_response_norm(xo, size, alpha=alpha, beta=beta, k=k)
    ref = TF.local_response_norm(xt, size, alpha=alpha, beta=beta, k=k)
    assert y.dtype == dtype
    assert_close(y, ref, "local_response_norm forward")
    g = rand(*shape, dtype=dtype, seed=2)
    y.backward(g)
    ref.backward(torch.tensor(g))
    assert xo.grad.dtype == dtype
    assert_close(xo.grad, xt.grad, "local_response_norm backward")


@pytest.mark.parametrize("case", LRN_CASES, ids=str)
def test_local_response_norm_gradcheck(case):
    shape, size, alpha, beta, k = case
    shape = (1,) + shape[1:3] + (1,) * (len(shape) - 3)  # keep the finite differences cheap
    assert gradcheck(lambda a: F.local_response_norm(a, size, alpha, beta, k), [rand(*shape) * 2])


def test_local_response_norm_defaults_and_empty():
    x = rand(1, 5, 2, 2, dtype=np.float32)
    y = F.local_response_norm(ck.tensor(x), 3)
    sq = np.pad(x * x, ((0, 0), (1, 1), (0, 0), (0, 0)))
    div = (1.0 + 1e-4 / 3 * (sq[:, :-2] + sq[:, 1:-1] + sq[:, 2:])) ** 0.75
    np.testing.assert_allclose(y.data, x / div, rtol=1e-6)
    empty = ck.tensor(np.zeros((0, 3, 2), dtype=np.float32))
    assert F.local_response_norm(empty, 2) is empty


def test_local_response_norm_errors():
    x = ck.tensor(rand(2, 3, dtype=np.float32))
    with pytest.raises(ValueError, match=r"^local_response_norm: expected an input with at least 3 dimensions "
                                         r"\(N, C, \.\.\.\), got shape \(2, 3\)"):
        F.local_response_norm(x, 2)
    x3 = ck.tensor(rand(2, 3, 4, dtype=np.float32))
    with pytest.raises(ValueError, match=r"^local_response_norm: size must be at least 1, got 0"):
        F.local_response_norm(x3, 0)
    with pytest.raises(TypeError, match=r"^local_response_norm: size must be an int, got 2.5"):
        F.local_response_norm(x3, 2.5)
    with pytest.raises(TypeError, match=r"^local_response_norm: beta must be a real number, got None"):
        F.local_response_norm(x3, 2, beta=None)
    with pytest.raises(TypeError, match=r"^local_response_norm: expected a floating-point input, got dtype int64"):
        F.local_response_norm(ck.tensor(np.ones((1, 2, 3), dtype=np.int64)), 2)


def _channels_last(a):
    return np.ascontiguousarray(np.moveaxis(a, 1, -1)).transpose(0, a.ndim - 1, *range(1, a.ndim - 1))


@per_backend
@requires_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (16, 8, 12, 12), (3, 4, 2, 3, 2)], ids=str)
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("grad_layout", ["channels_last", "contiguous"])
def test_batch_norm_channels_last_input_matches_torch(training, shape, dtype, grad_layout, backend):
    """Channels-last memory (what convolutions return) takes the compiled row kernels: same results, and the
    output and input gradient keep that layout."""
    x, w, b, rm, rv = _bn_arrays(shape, dtype)
    xo = ck.Tensor(_channels_last(x), requires_grad=True)
    wo, bo = ck.tensor(w, requires_grad=True), ck.tensor(b, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    wt, bt = torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)
    ours_rm, ours_rv, theirs_rm, theirs_rv = rm.copy(), rv.copy(), torch.tensor(rm), torch.tensor(rv)
    y = F.batch_norm(xo, ours_rm, ours_rv, wo, bo, training=training, momentum=0.2, eps=1e-4)
    ref = TF.batch_norm(xt, theirs_rm, theirs_rv, wt, bt, training=training, momentum=0.2, eps=1e-4)
    assert y.dtype == dtype and np.moveaxis(y.data, 1, -1).flags.c_contiguous
    assert_close(y, ref, "forward")
    assert_close(ours_rm, theirs_rm, "running_mean")
    assert_close(ours_rv, theirs_rv, "running_var")
    g = rand(*shape, dtype=dtype, seed=5)
    y.backward(_channels_last(g) if grad_layout == "channels_last" else g)
    ref.backward(torch.tensor(g))
    assert_close(xo.grad, xt.grad, "grad input")
    assert_close(wo.grad, wt.grad, "grad weight")
    assert_close(bo.grad, bt.grad, "grad bias")
