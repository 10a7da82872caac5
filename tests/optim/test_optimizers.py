"""Optimizers against torch.optim: same initial parameters, same gradient sequence, same trajectory."""

from __future__ import annotations

import json

import numpy as np
import pytest
from oracle import requires_torch, torch

import cnnkit as ck
from cnnkit import optim

SHAPES = [(3, 4), (5,), (2, 3, 2), ()]
STEPS = 20
TOL = {np.float32: 1e-6, np.float64: 1e-14}


def initial_arrays(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [np.asarray(rng.standard_normal(s), dtype=dtype) for s in SHAPES]


def gradient_sequence(dtype, steps=STEPS, seed=1):
    """Fixed random gradients; their scale changes from step to step (exercises amsgrad's running max)."""
    rng = np.random.default_rng(seed)
    return [[np.asarray(rng.standard_normal(s) * rng.uniform(0.2, 2.0), dtype=dtype) for s in SHAPES]
            for _ in range(steps)]


def run_ours(cls, kwargs, arrays, grads, params=None):
    params = params or [ck.tensor(a, requires_grad=True) for a in arrays]
    opt = cls(params, **kwargs)
    for step_grads in grads:
        for p, g in zip(params, step_grads, strict=True):
            p.grad = ck.Tensor(g)
        opt.step()
    return params, opt


def run_torch(cls, kwargs, arrays, grads):
    params = [torch.tensor(a, requires_grad=True) for a in arrays]
    opt = cls(params, **kwargs)
    for step_grads in grads:
        for p, g in zip(params, step_grads, strict=True):
            p.grad = torch.tensor(g)
        opt.step()
    return params, opt


def max_rel_error(ours, theirs) -> float:
    worst = 0.0
    for p, t in zip(ours, theirs, strict=True):
        ref = t.detach().numpy().astype(np.float64)
        err = np.max(np.abs(p.data.astype(np.float64) - ref)) / max(1e-30, np.max(np.abs(ref)))
        worst = max(worst, float(err))
    return worst


CONFIGS = [
    ("SGD", {}),
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.05, "momentum": 0.5, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01, "nesterov": True, "maximize": True}),
    ("Adagrad", {}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.05}),
    ("Adagrad", {"lr": 0.1, "initial_accumulator_value": 0.5, "weight_decay": 0.1}),
    ("Adagrad", {"lr": 0.1, "eps": 1e-3, "maximize": True}),
    ("RMSprop", {}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9}),
    ("RMSprop", {"lr": 0.01, "centered": True}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5, "weight_decay": 0.01}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.3, "eps": 1e-4, "maximize": True}),
    ("Adam", {}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.99), "maximize": True}),
    ("Adam", {"lr": 0.01, "betas": (0.3, 0.9), "eps": 1e-3, "amsgrad": True, "weight_decay": 0.05}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("AdamW", {}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    ("AdamW", {"lr": 0.01, "betas": (0.5, 0.9), "maximize": True}),
]


@requires_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)])
def test_matches_torch(name, kwargs, dtype):
    arrays, grads = initial_arrays(dtype), gradient_sequence(dtype)
    ours, opt = run_ours(getattr(optim, name), kwargs, arrays, grads)
    theirs, _ = run_torch(getattr(torch.optim, name), kwargs, arrays, grads)
    err = max_rel_error(ours, theirs)
    assert err <= TOL[dtype], f"{name}{kwargs} {np.dtype(dtype)}: relative error {err:.3e}"
    for p, a in zip(ours, arrays, strict=True):
        assert p.dtype == dtype and not np.array_equal(p.data, a)
    for state in opt.state.values():
        for value in state.values():
            if isinstance(value, np.ndarray):
                assert value.dtype == dtype


@requires_torch
def test_default_hyperparameters_match_torch():
    import inspect

    for name in ("SGD", "Adagrad", "RMSprop", "Adam", "AdamW"):
        ours = inspect.signature(getattr(optim, name)).parameters
        theirs = inspect.signature(getattr(torch.optim, name)).parameters
        for key, param in ours.items():
            if key in ("params", "l1", "self"):
                continue
            assert key in theirs, f"{name}: {key} is not a torch argument"
            assert param.default == theirs[key].default, f"{name}.{key}: {param.default} != {theirs[key].default}"


@requires_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_param_groups_match_torch(dtype):
    arrays, grads = initial_arrays(dtype), gradient_sequence(dtype)

    def groups(params):
        return [{"params": params[:2], "lr": 0.1},
                {"params": params[2:3], "lr": 0.01, "momentum": 0.5, "nesterov": True},
                {"params": params[3:], "weight_decay": 0.2}]

    ours = [ck.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    opt, topt = optim.SGD(groups(ours), lr=0.03, momentum=0.9), torch.optim.SGD(groups(theirs), lr=0.03, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01, 0.03]
    assert [g["momentum"] for g in opt.param_groups] == [0.9, 0.5, 0.9]
    for step_grads in grads:
        for p, t, g in zip(ours, theirs, step_grads, strict=True):
            p.grad, t.grad = ck.Tensor(g), torch.tensor(g)
        opt.step()
        topt.step()
    assert max_rel_error(ours, theirs) <= TOL[dtype]


@requires_torch
def test_add_param_group_and_adam_groups_match_torch():
    arrays, grads = initial_arrays(np.float64), gradient_sequence(np.float64)
    ours = [ck.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    opt = optim.Adam(ours[:2], lr=0.02)
    topt = torch.optim.Adam(theirs[:2], lr=0.02)
    opt.add_param_group({"params": ours[2:], "betas": (0.5, 0.9), "amsgrad": True})
    topt.add_param_group({"params": theirs[2:], "betas": (0.5, 0.9), "amsgrad": True})
    assert opt.param_groups[1]["lr"] == 0.02 and opt.param_groups[1]["eps"] == 1e-8
    for step_grads in grads:
        for p, t, g in zip(ours, theirs, step_grads, strict=True):
            p.grad, t.grad = ck.Tensor(g), torch.tensor(g)
        opt.step()
        topt.step()
    assert max_rel_error(ours, theirs) <= 1e-12


@requires_torch
@pytest.mark.parametrize("name,kwargs", [("SGD", {"lr": 0.1, "momentum": 0.9}), ("Adagrad", {"lr": 0.1}),
                                         ("RMSprop", {"centered": True, "momentum": 0.5}),
                                         ("Adam", {"amsgrad": True}), ("AdamW", {"lr": 0.01})])
def test_loads_torch_state_dict(name, kwargs):
    """A torch checkpoint (tensors turned into arrays) resumes in cnnkit: the state names and layout agree."""
    arrays, grads = initial_arrays(np.float64), gradient_sequence(np.float64)
    theirs, topt = run_torch(getattr(torch.optim, name), kwargs, arrays, grads[:10])
    saved = topt.state_dict()
    converted = {"param_groups": saved["param_groups"],
                 "state": {k: {f: (v.numpy() if isinstance(v, torch.Tensor) else v) for f, v in s.items()}
                           for k, s in saved["state"].items()}}
    params = [ck.tensor(t.detach().numpy().copy(), requires_grad=True) for t in theirs]
    opt = getattr(optim, name)(params)
    opt.load_state_dict(converted)
    for step_grads in grads[10:]:
        for p, g in zip(params, step_grads, strict=True):
            p.grad = ck.Tensor(g)
        opt.step()
    for step_grads in grads[10:]:
        for t, g in zip(theirs, step_grads, strict=True):
            t.grad = torch.tensor(g)
        topt.step()
    assert max_rel_error(params, theirs) <= 1e-12


STATE_CONFIGS = [("SGD", {"lr": 0.1, "momentum": 0.9}), ("Adagrad", {"lr": 0.1, "lr_decay": 0.01}),
                 ("RMSprop", {"centered": True, "momentum": 0.5}), ("Adam", {"amsgrad": True}),
                 ("AdamW", {"lr": 0.01, "l1": 1e-3})]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("through_json", [False, True], ids=["arrays", "json"])
@pytest.mark.parametrize("name,kwargs", STATE_CONFIGS, ids=[n for n, _ in STATE_CONFIGS])
def test_state_dict_round_trip(name, kwargs, through_json, dtype):
    """Save after 10 steps, load into a fresh optimizer, continue 10 steps: identical to 20 uninterrupted."""
    cls = getattr(optim, name)
    arrays, grads = initial_arrays(dtype), gradient_sequence(dtype)
    straight, _ = run_ours(cls, kwargs, arrays, grads)
    first, opt = run_ours(cls, kwargs, arrays, grads[:10])
    saved = opt.state_dict()
    if through_json:
        text = json.dumps({"param_groups": saved["param_groups"],
                           "state": {k: {f: (v.tolist() if isinstance(v, np.ndarray) else v) for f, v in s.items()}
                                     for k, s in saved["state"].items()}})
        saved = json.loads(text)
    params = [ck.tensor(p.data, requires_grad=True) for p in first]
    fresh = cls(params, lr=0.5)  # the loaded groups bring back the saved hyper-parameters
    fresh.load_state_dict(saved)
    assert fresh.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    for step_grads in grads[10:]:
        for p, g in zip(params, step_grads, strict=True):
            p.grad = ck.Tensor(g)
        fresh.step()
    for p, q in zip(params, straight, strict=True):
        np.testing.assert_array_equal(p.data, q.data)


def test_state_dict_is_a_copy_and_layout():
    params = [ck.tensor(a, requires_grad=True) for a in initial_arrays(np.float64)]
    opt = optim.Adam([{"params": params[:1]}, {"params": params[1:], "lr": 0.1}])
    for p in params:
        p.grad = ck.ones_like(p, dtype=np.float64)
    opt.step()
    saved = opt.state_dict()
    assert [g["params"] for g in saved["param_groups"]] == [[0], [1, 2, 3]]
    assert sorted(saved["state"]) == [0, 1, 2, 3]
    assert set(saved["state"][0]) == {"step", "exp_avg", "exp_avg_sq"} and saved["state"][0]["step"] == 1
    saved["state"][0]["exp_avg"][...] = 123.0
    assert not np.any(opt.state[params[0]]["exp_avg"] == 123.0)
    before = saved["state"][1]["exp_avg"].copy()
    opt.step()
    np.testing.assert_array_equal(saved["state"][1]["exp_avg"], before)


def test_updates_in_place_without_touching_gradients_or_graph():
    arrays = initial_arrays(np.float32)
    params = [ck.tensor(a, requires_grad=True) for a in arrays]
    data_ids = [id(p.data) for p in params]
    shared = ck.Tensor(np.ones((3, 4), np.float32))
    params[0].grad = shared
    for p in params[1:]:
        p.grad = ck.ones_like(p)
    opt = optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=0.1, maximize=True, l1=0.01)
    for _ in range(3):
        opt.step()
    assert [id(p.data) for p in params] == data_ids
    assert all(p.dtype == np.float32 and p.is_leaf and p.requires_grad for p in params)
    np.testing.assert_array_equal(shared.data, np.ones((3, 4), np.float32))
    assert params[0].grad is shared


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW"])
def test_state_arrays_keep_float32_even_with_float64_gradients(name):
    p = ck.tensor(np.ones(4, np.float32), requires_grad=True)
    opt = getattr(optim, name)([p], **({"momentum": 0.9} if name in ("SGD", "RMSprop") else {}))
    p.grad = ck.Tensor(np.full(4, 0.5, np.float64))
    opt.step()
    assert p.dtype == np.float32
    arrays = [v for v in opt.state[p].values() if isinstance(v, np.ndarray)]
    assert arrays and all(a.dtype == np.float32 for a in arrays)


def test_parameters_without_gradient_are_skipped():
    a, b = ck.tensor(np.ones(3), requires_grad=True), ck.tensor(np.ones(2), requires_grad=True)
    opt = optim.Adam([a, b], lr=0.1, weight_decay=0.5)
    a.grad = ck.Tensor(np.ones(3))
    opt.step()
    np.testing.assert_array_equal(b.data, np.ones(2))
    assert all(k is not b for k in opt.state)
    assert opt.state[a]["step"] == 1 and np.all(a.data < 1)


def test_zero_grad():
    a, b = ck.tensor(np.ones(3), requires_grad=True), ck.tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([a, b], lr=0.1)
    (a * 2).sum().backward()
    grad = a.grad
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(a.grad.data, np.zeros(3))
    np.testing.assert_array_equal(grad.data, np.full(3, 2.0))  # the old gradient array was not zeroed in place
    assert b.grad is None
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_step_with_closure_on_a_quadratic():
    w = ck.tensor(np.array([3.0, -2.0]), requires_grad=True)
    target = np.array([1.0, 0.5])
    opt = optim.SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = ((w - ck.Tensor(target)) * (w - ck.Tensor(target))).sum()
        loss.backward()
        return loss

    with ck.no_grad():  # the closure still records its graph
        first = opt.step(closure)
    assert float(first) == pytest.approx(4.0 + 6.25)
    for _ in range(60):
        opt.step(closure)
    np.testing.assert_allclose(w.data, target, atol=1e-12)


def test_named_parameters_are_accepted():
    a, b = ck.tensor(np.ones(3), requires_grad=True), ck.tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([("weight", a), ("bias", b)], lr=0.1)
    assert opt.param_groups[0]["params"][0] is a and opt.param_groups[0]["param_names"] == ["weight", "bias"]
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["weight", "bias"]


def test_repr_lists_groups():
    opt = optim.SGD([ck.tensor(np.ones(2), requires_grad=True)], lr=0.1, momentum=0.9)
    text = repr(opt)
    assert text.startswith("SGD (") and "Parameter Group 0" in text and "momentum: 0.9" in text


# ----------------------------------------------------------------------------------------------------- errors
def _p(n=3, dtype=np.float64):
    return ck.tensor(np.ones(n, dtype), requires_grad=True)


@pytest.mark.parametrize("make,error,message", [
    (lambda: optim.SGD([_p()], lr=-0.1), ValueError, "SGD: invalid learning rate -0.1 (expected >= 0)"),
    (lambda: optim.SGD([_p()], momentum=-1), ValueError, "SGD: invalid momentum -1 (expected >= 0)"),
    (lambda: optim.SGD([_p()], weight_decay=-1e-4), ValueError, "SGD: invalid weight_decay -0.0001"),
    (lambda: optim.SGD([_p()], nesterov=True), ValueError, "SGD: nesterov momentum requires momentum > 0"),
    (lambda: optim.SGD([_p()], momentum=0.9, dampening=0.1, nesterov=True), ValueError, "dampening=0.1"),
    (lambda: optim.SGD([_p()], lr="0.1"), TypeError, "SGD: lr must be a real number, got str"),
    (lambda: optim.SGD([_p()], lr=float("nan")), ValueError, "SGD: invalid learning rate nan"),
    (lambda: optim.Adam([_p()], betas=(1.2, 0.999)), ValueError, "Adam: betas must be in [0, 1), got (1.2, 0.999)"),
    (lambda: optim.AdamW([_p()], betas=(0.9, -0.1)), ValueError, "AdamW: betas must be in [0, 1), got (0.9, -0.1)"),
    (lambda: optim.Adam([_p()], betas=0.9), TypeError, "Adam: betas must be a pair of real numbers, got 0.9"),
    (lambda: optim.Adam([_p()], eps=-1e-8), ValueError, "Adam: invalid epsilon -1e-08"),
    (lambda: optim.Adagrad([_p()], lr_decay=-1), ValueError, "Adagrad: invalid lr_decay -1"),
    (lambda: optim.Adagrad([_p()], initial_accumulator_value=-1), ValueError, "initial_accumulator_value -1"),
    (lambda: optim.RMSprop([_p()], alpha=-0.5), ValueError, "RMSprop: invalid alpha -0.5"),
    (lambda: optim.SGD([_p()], l1=-1), ValueError, "SGD: invalid l1 weight -1"),
    (lambda: optim.SGD([], lr=0.1), ValueError, "SGD: got an empty parameter list"),
    (lambda: optim.Adam(iter([])), ValueError, "Adam: got an empty parameter list"),
    (lambda: optim.SGD(_p()), TypeError, "SGD: params should be an iterable of Tensors or dicts, got a single"),
    (lambda: optim.SGD({_p()}), TypeError, "SGD: params should be an ordered collection"),
    (lambda: optim.SGD(5), TypeError, "SGD: params should be an iterable of Tensors or dicts, got int"),
    (lambda: optim.SGD([_p(), np.ones(3)]), TypeError, "SGD: expected parameters to be Tensors, got ndarray "
                                                        "(parameter 1 of group 0)"),
    (lambda: optim.SGD([ck.tensor(np.arange(3))]), TypeError, "SGD: only floating-point Tensors can be "
                                                              "optimized, got dtype int64"),
    (lambda: optim.SGD([_p() * 2]), ValueError, "SGD: can only optimize leaf Tensors"),
    (lambda: optim.SGD([{"params": [_p()], "lr": -1}]), ValueError, "SGD: invalid learning rate -1 (expected >= 0) "
                                                                    "(group 0)"),
    (lambda: optim.SGD([{"lr": 0.1}]), ValueError, "SGD: a parameter group must have a 'params' entry"),
])
def test_constructor_errors(make, error, message):
    with pytest.raises(error) as info:
        make()
    assert message in str(info.value)


def test_parameter_given_twice():
    a, b = _p(), _p()
    with pytest.raises(ValueError, match=r"Adam: a parameter was given twice \(parameter 2 of group 0"):
        optim.Adam([a, b, a])
    opt = optim.SGD([a], lr=0.1)
    with pytest.raises(ValueError, match=r"SGD: a parameter was given twice \(parameter 1 of group 1"):
        opt.add_param_group({"params": [b, a]})
    assert len(opt.param_groups) == 1
    with pytest.raises(TypeError, match="SGD: a parameter group must be a dict, got list"):
        opt.add_param_group([b])


def test_load_state_dict_errors():
    a, b, c = _p(), _p(2), _p(4)
    opt = optim.Adam([{"params": [a]}, {"params": [b]}])
    saved = opt.state_dict()
    with pytest.raises(ValueError, match="Adam: load_state_dict got 2 parameter groups but the optimizer has 1"):
        optim.Adam([a, b]).load_state_dict(saved)
    with pytest.raises(ValueError, match="group 1 has 1 parameters in the saved state but 2 in the optimizer"):
        optim.Adam([{"params": [a]}, {"params": [b, c]}]).load_state_dict(saved)
    with pytest.raises(ValueError, match="SGD: load_state_dict expected a dict with 'state' and 'param_groups'"):
        optim.SGD([a]).load_state_dict({"state": {}})
    for p in (a, b):
        p.grad = ck.ones_like(p, dtype=np.float64)
    opt.step()
    other = optim.Adam([{"params": [a]}, {"params": [c]}])
    with pytest.raises(ValueError, match=r"state 'exp_avg' of parameter 1 has shape \(2,\) but the parameter has "
                                         r"shape \(4,\)"):
        other.load_state_dict(opt.state_dict())


def test_gradient_shape_mismatch():
    a = _p()
    opt = optim.SGD([a], lr=0.1)
    a.grad = ck.Tensor(np.ones(4))
    with pytest.raises(ValueError, match=r"SGD: a gradient has shape \(4,\) but its parameter has shape \(3,\)"):
        opt.step()
