"""Activations: torch parity (forward and backward, float32 and float64), gradchecks, extreme-input
stability, dtype preservation and error messages."""

import math
import warnings

import numpy as np
import pytest
from oracle import assert_close, compare_with_torch, gradcheck, per_backend, rand, requires_torch, torch

import cnnkit as ck
import cnnkit.functional as F
from cnnkit.functional.activation import erf

if torch is not None:
    import torch.nn.functional as TF

# (name, ours, theirs): theirs is only called when torch is present
CASES = [
    ("sigmoid", F.sigmoid, lambda x: torch.sigmoid(x)),
    ("tanh", F.tanh, lambda x: torch.tanh(x)),
    ("relu", F.relu, lambda x: TF.relu(x)),
    ("relu6", F.relu6, lambda x: TF.relu6(x)),
    ("hardtanh", lambda x: F.hardtanh(x, -0.5, 2.0), lambda x: TF.hardtanh(x, -0.5, 2.0)),
    ("leaky_relu", F.leaky_relu, lambda x: TF.leaky_relu(x)),
    ("leaky_relu_0.2", lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2)),
    ("elu", F.elu, lambda x: TF.elu(x)),
    ("elu_1.7", lambda x: F.elu(x, alpha=1.7), lambda x: TF.elu(x, alpha=1.7)),
    ("gelu", F.gelu, lambda x: TF.gelu(x)),
    ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), lambda x: TF.gelu(x, approximate="tanh")),
    ("softmax_last", lambda x: F.softmax(x, dim=-1), lambda x: TF.softmax(x, dim=-1)),
    ("softmax_0", lambda x: F.softmax(x, dim=0), lambda x: TF.softmax(x, dim=0)),
    ("softmax_1", lambda x: F.softmax(x, 1), lambda x: TF.softmax(x, 1)),
    ("log_softmax_last", lambda x: F.log_softmax(x, dim=-1), lambda x: TF.log_softmax(x, dim=-1)),
    ("log_softmax_-2", lambda x: F.log_softmax(x, dim=-2), lambda x: TF.log_softmax(x, dim=-2)),
    ("log_softmax_0", lambda x: F.log_softmax(x, 0), lambda x: TF.log_softmax(x, 0)),
]
IDS = [c[0] for c in CASES]


def _input(shape, dtype, seed=0):
    """Spread-out values that also hit the special points 0 and 6 (kinks of relu/relu6)."""
    x = rand(*shape, dtype=dtype, seed=seed) * 3
    x.flat[0] = 0.0
    if x.size > 1:
        x.flat[1] = 6.0
    return x


@requires_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 4, 5), (2, 7), (6, 1, 3)], ids=str)
@pytest.mark.parametrize("name,ours,theirs", CASES, ids=IDS)
def test_matches_torch(name, ours, theirs, shape, dtype):
    compare_with_torch(ours, theirs, [_input(shape, dtype)], what=name)


@per_backend
@requires_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,layout", [((3, 4, 5), "contiguous"), ((2, 7), "contiguous"),
                                          ((2, 3, 5, 4), "contiguous"), ((2, 3, 5, 4), "channels_last"),
                                          ((0, 3, 2, 2), "contiguous")], ids=str)
def test_relu_matches_torch(shape, layout, dtype, backend):
    """relu is a backend op: its parity runs on every backend, on channels-last memory (what convolutions
    return) too, keeping the layout."""
    x = _input(shape, dtype) if 0 not in shape else np.zeros(shape, dtype)
    if layout == "channels_last":
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    out, _ = compare_with_torch(F.relu, lambda t: TF.relu(t), [x], what=f"relu on {backend}")
    if layout == "channels_last":
        assert out.data.transpose(0, 2, 3, 1).flags.c_contiguous


@pytest.mark.parametrize("name,ours,theirs", CASES, ids=IDS)
def test_gradcheck(name, ours, theirs):
    x = rand(3, 4, seed=3) * 2  # no value within 1e-6 of a kink
    assert gradcheck(ours, [x])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,ours,theirs", CASES, ids=IDS)
def test_keeps_dtype(name, ours, theirs, dtype):
    x = ck.tensor(_input((2, 3), dtype), requires_grad=True)
    y = ours(x)
    assert y.dtype == dtype
    y.backward(np.ones(y.shape, dtype=dtype))
    assert x.grad.dtype == dtype


# ------------------------------------------------------------------------------ numerical stability

EXTREME = [[1e4, -1e4, 0.0, 3.0], [-1e4, -1e4, -1e4, -1e4], [1e4, 1e4, -1e4, 1e4]]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax], ids=["softmax", "log_softmax"])
def test_softmax_extreme_logits_finite(fn, dtype):
    x = ck.tensor(np.array(EXTREME, dtype=dtype), requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = fn(x, dim=1)
        y.backward(rand(*y.shape, dtype=dtype, seed=2))
    assert np.all(np.isfinite(y.data)) and np.all(np.isfinite(x.grad.data))


def test_extreme_logits_values():
    x = ck.tensor(np.array(EXTREME, dtype=np.float32))
    ls = F.log_softmax(x, dim=-1).data
    np.testing.assert_allclose(ls[0], [0.0, -2e4, -1e4, -1e4 + 3.0], rtol=1e-6)
    np.testing.assert_allclose(ls[1], [-math.log(4)] * 4, rtol=1e-6)
    sm = F.softmax(x, dim=-1).data
    np.testing.assert_allclose(sm[0], [1, 0, 0, 0], atol=0)
    np.testing.assert_allclose(sm[2], [1 / 3, 1 / 3, 0, 1 / 3], rtol=1e-6)
    np.testing.assert_allclose(sm.sum(axis=-1), 1, rtol=1e-6)


@requires_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_extreme_logits_match_torch(dtype, dim):
    arr = np.array(EXTREME, dtype=dtype)
    compare_with_torch(lambda x: F.softmax(x, dim), lambda x: TF.softmax(x, dim), [arr], what="softmax")
    compare_with_torch(lambda x: F.log_softmax(x, dim), lambda x: TF.log_softmax(x, dim), [arr], what="log_softmax")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_no_overflow(dtype):
    values = np.array([-1e4, -1000.0, -100.0, -88.8, -50.0, 0.0, 50.0, 88.8, 100.0, 1000.0, 1e4], dtype=dtype)
    x = ck.tensor(values, requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = F.sigmoid(x)
        y.backward(np.ones_like(values))
    assert np.all(np.isfinite(y.data)) and np.all(np.isfinite(x.grad.data))
    assert y.data[0] == 0 and y.data[-1] == 1 and y.data[5] == 0.5
    assert x.grad.data[0] == 0 and x.grad.data[-1] == 0 and x.grad.data[5] == 0.25
    # tiny values keep their relative accuracy (no 1 - (1 - tiny) cancellation)
    expect = 1 / (1 + math.exp(50.0))
    assert abs(float(y.data[4]) - expect) <= 1e-6 * expect


@requires_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_large_inputs_match_torch(dtype):
    values = np.array([-1e4, -100.0, -30.0, -5.0, 5.0, 30.0, 100.0, 1e4], dtype=dtype)
    compare_with_torch(F.sigmoid, torch.sigmoid, [values], what="sigmoid")
    compare_with_torch(F.tanh, torch.tanh, [values], what="tanh")
    compare_with_torch(F.elu, TF.elu, [values], what="elu")
    compare_with_torch(F.gelu, TF.gelu, [values], what="gelu")
    compare_with_torch(lambda x: F.gelu(x, approximate="tanh"), lambda x: TF.gelu(x, approximate="tanh"),
                       [values / 100], what="gelu_tanh")


# ------------------------------------------------------------------------------ details of the definitions


def test_kink_gradients_follow_torch_convention():
    x = ck.tensor(np.array([-1.0, 0.0, 3.0, 6.0, 7.0]), requires_grad=True)
    F.relu6(x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0, 0, 1, 0, 0])
    x.grad = None
    F.relu(x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0, 0, 1, 1, 1])
    x.grad = None
    F.leaky_relu(x, 0.1).sum().backward()
    np.testing.assert_allclose(x.grad.data, [0.1, 0.1, 1, 1, 1])
    x.grad = None
    F.elu(x, alpha=2.0).sum().backward()
    np.testing.assert_allclose(x.grad.data, [2 * math.exp(-1), 2.0, 1, 1, 1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_erf_matches_math(dtype):
    x = np.linspace(-7, 7, 301).astype(dtype)
    got = erf(x)
    assert got.dtype == dtype
    expect = np.array([math.erf(float(v)) for v in x])
    tol = 1e-6 if dtype == np.float32 else 1e-15
    assert np.max(np.abs(got - expect)) <= tol


def test_inplace_flag_leaves_input_unchanged():
    arr = np.array([-1.0, 2.0], dtype=np.float32)
    x = ck.tensor(arr)
    y = F.relu(x, inplace=True)
    np.testing.assert_array_equal(y.data, [0.0, 2.0])
    np.testing.assert_array_equal(x.data, arr)
    assert F.leaky_relu(x, 0.5, True).data[0] == -0.5 and F.elu(x, 1.0, True).data[1] == 2.0


def test_softmax_rows_and_dtype_argument():
    x = ck.tensor(rand(3, 5, dtype=np.float32), requires_grad=True)
    y = F.softmax(x, dim=1, dtype=ck.float64)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y.data.sum(axis=1), 1.0, rtol=1e-12)
    y.backward(np.ones(y.shape))
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.data, 0.0, atol=1e-6)  # rows sum to 1: constant objective
    ls = F.log_softmax(x, -1, dtype="float64")
    assert ls.dtype == np.float64


def test_softmax_of_scalar():
    assert F.softmax(ck.tensor(2.0), dim=0).item() == 1.0
    assert F.log_softmax(ck.tensor(2.0), dim=-1).item() == 0.0


def test_softmax_implicit_dim_warns_like_torch():
    x = ck.tensor(rand(2, 3, dtype=np.float32))
    with pytest.warns(UserWarning, match="softmax: implicit dimension"):
        y = F.softmax(x)
    np.testing.assert_allclose(y.data, F.softmax(x, dim=1).data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.log_softmax(x, dim=0)


# ------------------------------------------------------------------------------ errors


def test_errors():
    x = ck.tensor(rand(2, 3, dtype=np.float32))
    with pytest.raises(ValueError, match=r"^softmax: dim 2 is out of range for a tensor with 2 dimensions \(expected -2..1\)"):
        F.softmax(x, dim=2)
    with pytest.raises(ValueError, match=r"^log_softmax: dim -3 is out of range"):
        F.log_softmax(x, dim=-3)
    with pytest.raises(TypeError, match=r"^softmax: dim must be an int, got 1.5"):
        F.softmax(x, dim=1.5)
    with pytest.raises(TypeError, match=r"^softmax: dtype must be a floating-point type, got int64"):
        F.softmax(x, dim=1, dtype="int64")
    with pytest.raises(ValueError, match=r"^gelu: approximate must be 'none' or 'tanh', got 'erf'"):
        F.gelu(x, approximate="erf")
    with pytest.raises(TypeError, match=r"^relu: expected a floating-point input, got dtype int64"):
        F.relu(ck.tensor([1, 2]))
    with pytest.raises(TypeError, match=r"^sigmoid: expected a Tensor, got list"):
        F.sigmoid([1.0, 2.0])
    with pytest.raises(TypeError, match=r"^leaky_relu: negative_slope must be a real number, got '0.1'"):
        F.leaky_relu(x, "0.1")
    with pytest.raises(TypeError, match=r"^elu: alpha must be a real number, got None"):
        F.elu(x, None)
    with pytest.raises(ValueError, match=r"^hardtanh: min_val must not exceed max_val"):
        F.hardtanh(x, 1.0, -1.0)


def test_ndarray_input_is_accepted():
    arr = rand(2, 3, dtype=np.float32)
    y = F.tanh(arr)
    assert isinstance(y, ck.Tensor)
    assert_close(y, np.tanh(arr))
