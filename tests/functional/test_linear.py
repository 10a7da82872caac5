"""linear: torch parity (forward and backward, float32 and float64), gradchecks, dtype and error messages."""

import numpy as np
import pytest
from oracle import compare_with_torch, gradcheck, rand, requires_torch, torch

import cnnkit as ck
import cnnkit.functional as F

if torch is not None:
    import torch.nn.functional as TF

# (input shape, weight shape, bias shape or None)
CONFIGS = [
    ((4, 3), (5, 3), (5,)),
    ((4, 3), (5, 3), None),
    ((2, 3, 6), (4, 6), (4,)),
    ((2, 1, 3, 2), (1, 2), (1,)),
    ((3,), (4, 3), (4,)),
    ((1, 7), (2, 7), (1,)),
    ((3, 2), (4, 2), ()),
    ((0, 3), (2, 3), (2,)),
]


def _arrays(cfg, dtype):
    xs, ws, bs = cfg
    arrays = [rand(*xs, dtype=dtype, seed=1), rand(*ws, dtype=dtype, seed=2)]
    if bs is not None:
        arrays.append(rand(*bs, dtype=dtype, seed=3))
    return arrays


@requires_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cfg", CONFIGS, ids=str)
def test_matches_torch(cfg, dtype):
    compare_with_torch(F.linear, TF.linear, _arrays(cfg, dtype), what="linear")


@requires_torch
def test_matches_torch_only_weight_grad():
    x, w, b = _arrays(CONFIGS[0], np.float64)
    compare_with_torch(F.linear, TF.linear, [x, w, b], grad_inputs=[1], what="linear")


@pytest.mark.parametrize("cfg", [c for c in CONFIGS if c[0][0] != 0], ids=str)
def test_gradcheck(cfg):
    assert gradcheck(F.linear, _arrays(cfg, np.float64))


def test_formula_and_dtype():
    x, w, b = rand(4, 3, dtype=np.float32, seed=1), rand(2, 3, dtype=np.float32, seed=2), rand(2, dtype=np.float32)
    xt, wt, bt = (ck.tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.linear(xt, wt, bt)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.data, x @ w.T + b, rtol=1e-6)
    y.backward(np.ones(y.shape, dtype=np.float32))
    assert xt.grad.dtype == wt.grad.dtype == bt.grad.dtype == np.float32
    np.testing.assert_allclose(bt.grad.data, [4.0, 4.0])
    np.testing.assert_allclose(wt.grad.data, np.tile(x.sum(axis=0), (2, 1)), rtol=1e-6)


def test_errors():
    x = ck.tensor(rand(2, 3, dtype=np.float32))
    w = ck.tensor(rand(4, 5, dtype=np.float32))
    with pytest.raises(ValueError, match=r"^linear: input has 3 features \(shape \(2, 3\)\) but weight expects 5 "
                                         r"\(weight shape \(4, 5\)\)"):
        F.linear(x, w)
    with pytest.raises(TypeError, match=r"^linear: input and weight must have the same dtype, got input float32 and weight float64"):
        F.linear(x, ck.tensor(rand(4, 3)))
    with pytest.raises(TypeError, match=r"^linear: input and bias must have the same dtype, got input float32 and bias float64"):
        F.linear(x, ck.tensor(rand(4, 3, dtype=np.float32)), ck.tensor(rand(4)))
    with pytest.raises(TypeError, match=r"^linear: expected a floating-point input, got dtype int64"):
        F.linear(ck.tensor([[1, 2, 3]]), ck.tensor(rand(4, 3, dtype=np.float32)))
    with pytest.raises(ValueError, match=r"^linear: weight must be 2-D \(out_features, in_features\), got shape \(3,\)"):
        F.linear(x, ck.tensor(rand(3, dtype=np.float32)))
    with pytest.raises(ValueError, match=r"^linear: bias of shape \(5,\) does not match the output shape \(2, 4\)"):
        F.linear(x, ck.tensor(rand(4, 3, dtype=np.float32)), ck.tensor(rand(5, dtype=np.float32)))
    with pytest.raises(TypeError, match=r"^linear: weight must be a Tensor or ndarray, got list"):
        F.linear(x, [[1.0, 2.0, 3.0]])
