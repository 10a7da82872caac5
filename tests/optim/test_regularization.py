"""L1/L2 penalties: the loss-term form and the optimizer form give the same parameter trajectory."""

from __future__ import annotations

import numpy as np
import pytest
from oracle import requires_torch, torch

import cnnkit as ck
from cnnkit import optim
from cnnkit.optim import l1_penalty, l2_penalty

SHAPES = [(4, 3), (3,), (2, 2, 2)]


def arrays(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    out = [np.asarray(rng.standard_normal(s), dtype=dtype) for s in SHAPES]
    out[1][0] = 0.0  # an exact zero: sign(0) = 0 in both forms
    return out


def quadratic_loss(params, targets, scales):
    """A fixed loss with different curvature per tensor: sum_i c_i * sum (p_i - t_i)^2."""
    total = None
    for p, t, c in zip(params, targets, scales, strict=True):
        d = p - ck.Tensor(t)
        term = (d * d).sum() * c
        total = term if total is None else total + term
    return total


def trajectory(cls, kwargs, penalty=None, steps=25, dtype=np.float64):
    params = [ck.tensor(a, requires_grad=True) for a in arrays(dtype)]
    targets = [a + 1.5 for a in arrays(dtype, seed=1)]
    scales = [0.5, 1.0, 2.0]
    opt = cls(params, **kwargs)
    history = []
    for _ in range(steps):
        opt.zero_grad()
        loss = quadratic_loss(params, targets, scales)
        if penalty is not None:
            loss = loss + penalty(params)
        loss.backward()
        opt.step()
        history.append([p.data.copy() for p in params])
    return history


def assert_same_trajectory(a, b, rtol):
    for step, (xs, ys) in enumerate(zip(a, b, strict=True)):
        for x, y in zip(xs, ys, strict=True):
            np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol, err_msg=f"step {step + 1}")


OPTIMIZERS = [(optim.SGD, {"lr": 0.05}), (optim.SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
              (optim.Adagrad, {"lr": 0.1}), (optim.RMSprop, {"lr": 0.01, "centered": True}),
              (optim.Adam, {"lr": 0.05, "amsgrad": True}), (optim.AdamW, {"lr": 0.05})]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("cls,kwargs", OPTIMIZERS, ids=[f"{c.__name__}-{i}" for i, (c, _) in enumerate(OPTIMIZERS)])
def test_l1_option_equals_l1_loss_term(cls, kwargs, dtype):
    as_option = trajectory(cls, {**kwargs, "l1": 0.3}, dtype=dtype)
    as_loss = trajectory(cls, kwargs, penalty=lambda ps: l1_penalty(ps, 0.3), dtype=dtype)
    assert_same_trajectory(as_option, as_loss, rtol=1e-6 if dtype == np.float32 else 1e-13)
    plain = trajectory(cls, kwargs, dtype=dtype)
    assert not np.allclose(plain[-1][0], as_option[-1][0])  # the penalty does change the trajectory


@pytest.mark.parametrize("cls,kwargs", [(optim.SGD, {"lr": 0.05}), (optim.SGD, {"lr": 0.05, "momentum": 0.9}),
                                        (optim.Adagrad, {"lr": 0.1}), (optim.RMSprop, {"lr": 0.01}),
                                        (optim.Adam, {"lr": 0.05})])
def test_weight_decay_equals_l2_loss_term(cls, kwargs):
    """weight_decay=λ (coupled) is the gradient of (λ/2)·Σw², i.e. l2_penalty(params, λ)."""
    as_option = trajectory(cls, {**kwargs, "weight_decay": 0.2})
    as_loss = trajectory(cls, kwargs, penalty=lambda ps: l2_penalty(ps, 0.2))
    assert_same_trajectory(as_option, as_loss, rtol=1e-13)


def test_both_penalties_together():
    as_option = trajectory(optim.SGD, {"lr": 0.05, "momentum": 0.5, "weight_decay": 0.1, "l1": 0.05})
    as_loss = trajectory(optim.SGD, {"lr": 0.05, "momentum": 0.5},
                         penalty=lambda ps: l2_penalty(ps, 0.1) + l1_penalty(ps, 0.05))
    assert_same_trajectory(as_option, as_loss, rtol=1e-13)


def test_adamw_decay_is_not_an_l2_loss_term():
    decoupled = trajectory(optim.AdamW, {"lr": 0.05, "weight_decay": 0.2})
    coupled = trajectory(optim.Adam, {"lr": 0.05}, penalty=lambda ps: l2_penalty(ps, 0.2))
    assert not np.allclose(decoupled[-1][0], coupled[-1][0], rtol=1e-6)


def test_penalty_values_and_gradients():
    ps = [ck.tensor(a, requires_grad=True) for a in arrays()]
    l1 = l1_penalty(ps, 0.5)
    l2 = l2_penalty(ps, 0.5)
    assert l1.shape == () and l2.shape == ()
    assert float(l1) == pytest.approx(0.5 * sum(np.abs(a).sum() for a in arrays()), rel=1e-14)
    assert float(l2) == pytest.approx(0.25 * sum((a * a).sum() for a in arrays()), rel=1e-14)
    (l1 + l2).backward()
    for p, a in zip(ps, arrays(), strict=True):
        np.testing.assert_allclose(p.grad.data, 0.5 * np.sign(a) + 0.5 * a, rtol=1e-15)
    assert ps[1].grad.data[0] == 0.0


def test_penalties_keep_float32_and_accept_a_module_like_object():
    class Model:
        def __init__(self):
            self.w = ck.tensor(np.full((2, 2), -2.0, np.float32), requires_grad=True)

        def parameters(self):
            return iter([self.w])

    model = Model()
    value = l1_penalty(model, 0.1)
    assert value.dtype == np.float32 and float(value) == pytest.approx(0.8)
    assert l2_penalty(model.w, 1.0).dtype == np.float32


@requires_torch
def test_l1_option_matches_torch_with_an_explicit_penalty():
    """Oracle: torch SGD on loss + λ·Σ|w| equals our SGD(l1=λ) on the loss alone."""
    lam, steps = 0.2, 20
    start = arrays()
    targets = [a + 1.5 for a in arrays(seed=1)]
    theirs = [torch.tensor(a, requires_grad=True) for a in start]
    topt = torch.optim.SGD(theirs, lr=0.05, momentum=0.9)
    ours = trajectory(optim.SGD, {"lr": 0.05, "momentum": 0.9, "l1": lam}, steps=steps)
    for _ in range(steps):
        topt.zero_grad()
        loss = sum(c * ((p - torch.tensor(t)) ** 2).sum() for p, t, c in zip(theirs, targets, [0.5, 1.0, 2.0],
                                                                           strict=True))
        loss = loss + lam * sum(p.abs().sum() for p in theirs)
        loss.backward()
        topt.step()
    for x, t in zip(ours[-1], theirs, strict=True):
        np.testing.assert_allclose(x, t.detach().numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("call,error,message", [
    (lambda: l1_penalty([], 0.1), ValueError, "l1_penalty: got an empty parameter list"),
    (lambda: l2_penalty([ck.tensor(np.ones(2))], -1.0), ValueError, "l2_penalty: invalid weight -1.0 (expected >= 0)"),
    (lambda: l1_penalty([ck.tensor(np.arange(3))], 0.1), TypeError, "l1_penalty: expected floating-point Tensors, "
                                                                    "got dtype int64 (parameter 0)"),
    (lambda: l2_penalty([np.ones(3)], 0.1), TypeError, "l2_penalty: expected floating-point Tensors, got ndarray"),
    (lambda: l1_penalty([ck.tensor(np.ones(2))], "0.1"), TypeError, "l1_penalty: weight must be a real number"),
])
def test_errors(call, error, message):
    with pytest.raises(error) as info:
        call()
    assert message in str(info.value)
