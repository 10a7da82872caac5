"""Elementwise arithmetic, reductions and matmul: torch parity (forward and backward) and gradchecks."""

import numpy as np
import pytest
from oracle import compare_with_torch, gradcheck, rand, requires_torch

import cnnkit as ck

BINARY = [
    ("add", lambda a, b: a + b),
    ("sub", lambda a, b: a - b),
    ("mul", lambda a, b: a * b),
    ("div", lambda a, b: a / (b * b + 0.5)),
    ("pow", lambda a, b: (a * a + 0.5) ** b),
]
SHAPES = [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 5)), ((5,), (2, 1, 5))]


@pytest.mark.parametrize("name,fn", BINARY, ids=[b[0] for b in BINARY])
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_binary_gradcheck(name, fn, shapes):
    assert gradcheck(fn, [rand(*shapes[0]), rand(*shapes[1], seed=1)])


@requires_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,fn", BINARY, ids=[b[0] for b in BINARY])
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_binary_matches_torch(name, fn, shapes, dtype):
    compare_with_torch(fn, fn, [rand(*shapes[0], dtype=dtype), rand(*shapes[1], dtype=dtype, seed=1)], what=name)


def test_scalar_operands_both_sides():
    x = ck.tensor(rand(3), requires_grad=True)
    for fn in (lambda t: 2 - t, lambda t: 3 / (t * t + 1), lambda t: 2 ** t, lambda t: -t + 1, lambda t: t ** 3):
        assert gradcheck(fn, [rand(3)])
    assert isinstance(2 * x, ck.Tensor) and isinstance(np.float64(2) * x, ck.Tensor)


UNARY = [
    ("exp", lambda t: t.exp(), lambda t: t.exp(), None),
    ("log", lambda t: t.log(), lambda t: t.log(), 0.5),
    ("sqrt", lambda t: t.sqrt(), lambda t: t.sqrt(), 0.5),
    ("abs", lambda t: abs(t), lambda t: t.abs(), None),
    ("neg", lambda t: -t, lambda t: -t, None),
    ("clip", lambda t: t.clip(-0.5, 0.7), lambda t: t.clamp(-0.5, 0.7), None),
]


@requires_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,ours,theirs,low", UNARY, ids=[u[0] for u in UNARY])
def test_unary_matches_torch_and_gradcheck(name, ours, theirs, low, dtype):
    x = rand(4, 5, dtype=dtype, low=low)
    compare_with_torch(ours, theirs, [x], what=name)
    if dtype == np.float64:
        assert gradcheck(ours, [x])


REDUCTIONS = [
    ("sum", {}, lambda t, a, k: t.sum(axis=a, keepdims=k), lambda t, a, k: t.sum(dim=a, keepdim=k)),
    ("mean", {}, lambda t, a, k: t.mean(axis=a, keepdims=k), lambda t, a, k: t.mean(dim=a, keepdim=k)),
    ("max", {}, lambda t, a, k: t.max(axis=a, keepdims=k), lambda t, a, k: t.amax(dim=a, keepdim=k)),
    ("min", {}, lambda t, a, k: t.min(axis=a, keepdims=k), lambda t, a, k: t.amin(dim=a, keepdim=k)),
    ("var", {}, lambda t, a, k: t.var(axis=a, keepdims=k), lambda t, a, k: t.var(dim=a, keepdim=k)),
]


@requires_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2)], ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("name,_,ours,theirs", REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
def test_reductions_match_torch(name, _, ours, theirs, axis, keepdims, dtype):
    x = rand(3, 4, 5, dtype=dtype)
    if axis is None:
        compare_with_torch(lambda t: ours(t, None, False), lambda t: theirs(t, tuple(range(3)), False), [x], what=name)
        return
    compare_with_torch(lambda t: ours(t, axis, keepdims), lambda t: theirs(t, axis, keepdims), [x], what=name)
    if dtype == np.float64:
        assert gradcheck(lambda t: ours(t, axis, keepdims), [x])


def test_max_gradient_is_shared_among_ties():
    x = ck.tensor([1.0, 3.0, 3.0, 2.0], requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0, 0.5, 0.5, 0])


def test_var_correction_and_std():
    x = rand(10)
    t = ck.tensor(x)
    np.testing.assert_allclose(t.var().item(), np.var(x, ddof=1))
    np.testing.assert_allclose(t.var(correction=0).item(), np.var(x))
    np.testing.assert_allclose(ck.std(t, unbiased=False).item(), np.std(x))


def test_argmax_and_comparisons_carry_no_grad():
    x = ck.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 1.0]], requires_grad=True)
    assert x.argmax(axis=1).tolist() == [1, 0] and x.argmax().item() == 3
    assert x.argmin(dim=1).dtype == np.int64
    m = x > 1.5
    assert m.dtype == np.bool_ and not m.requires_grad
    assert (x == x).numpy().all() and not (x != x).numpy().any()


@requires_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sa,sb", [((3, 4), (4, 5)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)),
                                   ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 2)), ((1, 3, 4), (5, 4, 2))], ids=str)
def test_matmul_matches_torch(sa, sb, dtype):
    a, b = rand(*sa, dtype=dtype), rand(*sb, dtype=dtype, seed=1)
    compare_with_torch(lambda x, y: x @ y, lambda x, y: x @ y, [a, b], what="matmul")
    if dtype == np.float64:
        assert gradcheck(lambda x, y: x @ y, [a, b])


def test_matmul_errors_name_shapes():
    with pytest.raises(ValueError, match=r"matmul: inner dimensions differ: \(3, 4\) @ \(5, 2\)"):
        ck.tensor(rand(3, 4)) @ ck.tensor(rand(5, 2))


def test_float32_stays_float32():
    x = ck.tensor(rand(3, 4, dtype=np.float32), requires_grad=True)
    y = ((x * 0.5 + 1) ** 2 / 3).exp().mean(axis=0).sum()
    assert y.dtype == np.float32
    y.backward()
    assert x.grad.dtype == np.float32


def test_reduction_axis_out_of_range():
    with pytest.raises(ValueError, match="axis 3 is out of range"):
        ck.tensor(rand(2, 2)).sum(axis=3)


def test_cast_is_differentiable():
    x = ck.tensor(rand(3), requires_grad=True)
    y = x.float()
    assert y.dtype == np.float32
    (y * 2).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad.numpy(), 2.0)
