"""Learning-rate schedulers against torch.optim.lr_scheduler, epoch by epoch."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from oracle import requires_torch, torch

import cnnkit as ck
from cnnkit import optim
from cnnkit.optim import lr_scheduler as sched

LRS = (0.1, 0.05)


def make_ours(cls=optim.SGD, **kwargs):
    params = [ck.tensor(np.ones(2), requires_grad=True), ck.tensor(np.ones(3), requires_grad=True)]
    return cls([{"params": params[:1], "lr": LRS[0]}, {"params": params[1:], "lr": LRS[1]}], **kwargs)


def make_torch(cls_name="SGD", **kwargs):
    params = [torch.ones(2, requires_grad=True), torch.ones(3, requires_grad=True)]
    cls = getattr(torch.optim, cls_name)
    return cls([{"params": params[:1], "lr": LRS[0]}, {"params": params[1:], "lr": LRS[1]}], **kwargs)


def assert_lrs_equal(ours, theirs, what, rel=1e-12):
    assert len(ours) == len(theirs), what
    for a, b in zip(ours, theirs, strict=True):
        assert abs(a - b) <= rel * abs(b), f"{what}: {a!r} != {b!r}"


def build(module, opt, spec):
    """spec: (name, args, kwargs); SequentialLR's scheduler list is given as nested specs."""
    name, args, kwargs = spec
    if name == "SequentialLR":
        inner = [build(module, opt, s) for s in args[0]]
        return module.SequentialLR(opt, inner, milestones=args[1], **kwargs)
    return getattr(module, name)(opt, *args, **kwargs)


SPECS = [
    ("StepLR", (7,), {}),
    ("StepLR", (3,), {"gamma": 0.5}),
    ("MultiStepLR", ([5, 12, 12, 30],), {"gamma": 0.3}),
    ("MultiStepLR", ([2, 20],), {}),
    ("ExponentialLR", (0.9,), {}),
    ("CosineAnnealingLR", (10,), {}),
    ("CosineAnnealingLR", (7,), {"eta_min": 0.001}),
    ("LinearLR", (), {}),
    ("LinearLR", (), {"start_factor": 0.1, "end_factor": 0.8, "total_iters": 8}),
    ("LinearLR", (), {"start_factor": 1.0, "end_factor": 0.0, "total_iters": 20}),
    ("ConstantLR", (), {"factor": 0.5, "total_iters": 4}),
    ("SequentialLR", ([("LinearLR", (), {"start_factor": 0.1, "total_iters": 5}),
                       ("CosineAnnealingLR", (30,), {"eta_min": 1e-4})], [5]), {}),
    ("SequentialLR", ([("ConstantLR", (), {"factor": 0.2, "total_iters": 3}),
                       ("StepLR", (4,), {"gamma": 0.5}), ("ExponentialLR", (0.95,), {})], [3, 15]), {}),
]


@requires_torch
@pytest.mark.parametrize("spec", SPECS, ids=[f"{s[0]}-{i}" for i, s in enumerate(SPECS)])
def test_matches_torch_epoch_by_epoch(spec):
    opt, topt = make_ours(), make_torch()
    ours, theirs = build(sched, opt, spec), build(torch.optim.lr_scheduler, topt, spec)
    assert_lrs_equal(ours.get_last_lr(), theirs.get_last_lr(), "epoch 0")
    for epoch in range(1, 41):
        opt.step()
        topt.step()
        ours.step()
        theirs.step()
        assert_lrs_equal(ours.get_last_lr(), theirs.get_last_lr(), f"{spec[0]} epoch {epoch}")
        assert_lrs_equal([g["lr"] for g in opt.param_groups], [g["lr"] for g in topt.param_groups], "group lr")
        assert ours.last_epoch == theirs.last_epoch


ONE_CYCLE = [
    ("SGD", {"momentum": 0.9}, {"max_lr": 0.5, "total_steps": 40}),
    ("SGD", {"momentum": 0.9, "nesterov": True}, {"max_lr": [0.5, 0.2], "epochs": 4, "steps_per_epoch": 9,
                                                   "anneal_strategy": "linear"}),
    ("SGD", {}, {"max_lr": 1.0, "total_steps": 35, "three_phase": True, "pct_start": 0.25, "div_factor": 10.0}),
    ("Adam", {}, {"max_lr": 0.01, "total_steps": 30, "base_momentum": 0.8, "max_momentum": 0.9}),
    ("Adagrad", {}, {"max_lr": 0.3, "total_steps": 31, "cycle_momentum": False, "final_div_factor": 100.0}),
]


@requires_torch
@pytest.mark.parametrize("name,opt_kwargs,kwargs", ONE_CYCLE, ids=[f"{c[0]}-{i}" for i, c in enumerate(ONE_CYCLE)])
def test_one_cycle_matches_torch(name, opt_kwargs, kwargs):
    opt, topt = make_ours(getattr(optim, name), **opt_kwargs), make_torch(name, **opt_kwargs)
    ours, theirs = sched.OneCycleLR(opt, **kwargs), torch.optim.lr_scheduler.OneCycleLR(topt, **kwargs)
    total = kwargs.get("total_steps") or kwargs["epochs"] * kwargs["steps_per_epoch"]
    for step in range(total):
        assert_lrs_equal(ours.get_last_lr(), theirs.get_last_lr(), f"step {step}")
        for g, tg in zip(opt.param_groups, topt.param_groups, strict=True):
            if "momentum" in g and kwargs.get("cycle_momentum", True):
                assert g["momentum"] == pytest.approx(tg["momentum"], rel=1e-12, abs=0)
            if "betas" in g:
                assert g["betas"][0] == pytest.approx(tg["betas"][0], rel=1e-12, abs=0)
                assert g["betas"][1] == tg["betas"][1]
        if step < total - 1:
            opt.step()
            topt.step()
            ours.step()
            theirs.step()
    peak = max(kwargs["max_lr"]) if isinstance(kwargs["max_lr"], list) else kwargs["max_lr"]
    assert max(ours.get_last_lr()) < peak / 100  # ends near min_lr


def test_one_cycle_drives_an_adam_training_run_with_momentum_cycling():
    w = ck.tensor(np.array([2.0, -1.0]), requires_grad=True)
    opt = optim.Adam([w], lr=0.1)
    schedule = sched.OneCycleLR(opt, max_lr=0.2, total_steps=50)
    betas = []
    for _ in range(49):
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()
        schedule.step()
        betas.append(opt.param_groups[0]["betas"][0])
    assert min(betas) == pytest.approx(0.85, abs=1e-3) and betas[-1] == pytest.approx(0.95, abs=1e-3)
    assert np.all(np.abs(w.data) < 0.5)
    with pytest.raises(ValueError, match="OneCycleLR: stepped 51 times but total_steps is 50"):
        schedule.step()
        schedule.step()


PLATEAU = [
    {},
    {"patience": 2, "factor": 0.5},
    {"mode": "max", "patience": 1, "threshold": 0.05},
    {"threshold_mode": "abs", "threshold": 0.1, "patience": 0, "cooldown": 2, "factor": 0.3},
    {"mode": "max", "threshold_mode": "abs", "patience": 3, "min_lr": [0.02, 0.001], "factor": 0.2},
    {"patience": 0, "min_lr": 0.01, "eps": 1e-3},
]


@requires_torch
@pytest.mark.parametrize("kwargs", PLATEAU, ids=[str(i) for i in range(len(PLATEAU))])
def test_reduce_on_plateau_matches_torch(kwargs):
    rng = np.random.default_rng(3)
    # improves, then plateaus with noise, improves a little, plateaus again, gets worse
    metrics = np.concatenate([np.linspace(1.0, 0.5, 8), 0.5 + 0.02 * rng.standard_normal(12),
                              np.linspace(0.49, 0.45, 4), np.full(10, 0.45), np.linspace(0.46, 0.8, 10)])
    opt, topt = make_ours(), make_torch()
    ours = sched.ReduceLROnPlateau(opt, **kwargs)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    reductions = 0
    for epoch, metric in enumerate(metrics):
        before = ours.get_last_lr()
        ours.step(metric)
        theirs.step(float(metric))
        assert_lrs_equal(ours.get_last_lr(), theirs.get_last_lr(), f"epoch {epoch}", rel=0)
        assert (ours.num_bad_epochs, ours.cooldown_counter, ours.best) == (
            theirs.num_bad_epochs, theirs.cooldown_counter, theirs.best)
        reductions += ours.get_last_lr() != before
    assert reductions >= 1


def test_reduce_on_plateau_rules():
    opt = make_ours()
    plateau = sched.ReduceLROnPlateau(opt, patience=2, factor=0.5, min_lr=0.03)
    for metric in (1.0, 1.0, 1.0):
        plateau.step(metric)
    assert plateau.get_last_lr() == [0.1, 0.05]  # two bad epochs: patience not exceeded
    plateau.step(ck.tensor(1.0))  # a scalar Tensor is accepted as the metric
    assert plateau.get_last_lr() == [0.05, 0.03]  # the second group is clipped at min_lr
    for _ in range(3):
        plateau.step(1.0)
    assert plateau.get_last_lr() == [0.03, 0.03]


@pytest.mark.parametrize("spec", SPECS, ids=[f"{s[0]}-{i}" for i, s in enumerate(SPECS)])
def test_state_dict_round_trip(spec):
    """Stop at epoch 12, rebuild optimizer and scheduler from saved (JSON) state, continue: same rates."""
    opt = make_ours()
    straight = build(sched, opt, spec)
    expected = []
    for _ in range(30):
        opt.step()
        straight.step()
        expected.append(straight.get_last_lr())

    opt = make_ours()
    first = build(sched, opt, spec)
    for _ in range(12):
        opt.step()
        first.step()
    opt_state = opt.state_dict()
    sched_state = json.loads(json.dumps(first.state_dict()))

    resumed_opt = make_ours()
    resumed = build(sched, resumed_opt, spec)
    resumed_opt.load_state_dict(opt_state)
    resumed.load_state_dict(sched_state)
    for epoch in range(12, 30):
        resumed_opt.step()
        resumed.step()
        assert resumed.get_last_lr() == expected[epoch], f"epoch {epoch + 1}"


def test_plateau_and_one_cycle_state_dict_round_trip():
    opt = make_ours()
    plateau = sched.ReduceLROnPlateau(opt, patience=1, cooldown=1)
    for m in (1.0, 0.9, 0.95, 0.97, 0.99):
        plateau.step(m)
    saved = json.loads(json.dumps(plateau.state_dict()))
    other = sched.ReduceLROnPlateau(make_ours())
    other.load_state_dict(saved)
    assert (other.best, other.num_bad_epochs, other.cooldown_counter, other.patience) == (
        plateau.best, plateau.num_bad_epochs, plateau.cooldown_counter, 1)

    opt = make_ours(momentum=0.9)
    cycle = sched.OneCycleLR(opt, max_lr=0.4, total_steps=20)
    for _ in range(7):
        opt.step()
        cycle.step()
    opt2 = make_ours(momentum=0.9)
    cycle2 = sched.OneCycleLR(opt2, max_lr=0.4, total_steps=20)
    opt2.load_state_dict(opt.state_dict())
    cycle2.load_state_dict(json.loads(json.dumps(cycle.state_dict())))
    for _ in range(12):
        for o, c in ((opt, cycle), (opt2, cycle2)):
            o.step()
            c.step()
        assert cycle2.get_last_lr() == cycle.get_last_lr()
        assert opt2.param_groups[0]["momentum"] == opt.param_groups[0]["momentum"]


@pytest.mark.parametrize("spec", [s for s in SPECS if s[0] != "SequentialLR"], ids=lambda s: s[0])
def test_closed_form_agrees_with_the_recursive_form(spec):
    opt = make_ours()
    s = build(sched, opt, spec)
    for epoch in range(1, 30):
        opt.step()
        s.step()
        recursive = s.get_last_lr()
        s.last_epoch = epoch
        closed = s._get_closed_form_lr()
        for a, b in zip(recursive, closed, strict=True):
            assert a == pytest.approx(b, rel=1e-12, abs=1e-15), f"epoch {epoch}"


def test_step_with_an_epoch_jumps_with_the_closed_form():
    opt = make_ours()
    s = sched.StepLR(opt, step_size=5, gamma=0.5)
    opt.step()
    with pytest.warns(UserWarning, match="step\\(epoch\\) is deprecated"):
        s.step(12)
    assert s.get_last_lr() == [0.1 * 0.25, 0.05 * 0.25] and s.last_epoch == 12


def test_warns_when_stepped_before_the_optimizer():
    opt = make_ours()
    s = sched.ExponentialLR(opt, gamma=0.5)
    with pytest.warns(UserWarning, match="ExponentialLR: scheduler.step\\(\\) was called before optimizer.step\\(\\)"):
        s.step()
    opt2 = make_ours()
    s2 = sched.ExponentialLR(opt2, gamma=0.5)
    opt2.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s2.step()


@requires_torch
def test_schedulers_record_initial_lr_and_resume_with_last_epoch():
    opt, topt = make_ours(), make_torch()
    sched.CosineAnnealingLR(opt, T_max=10)
    torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=10)
    assert [g["initial_lr"] for g in opt.param_groups] == list(LRS)
    # resuming at epoch 3 keeps the optimizer's (restored) rate and carries on from it, as torch does
    opt.param_groups[0]["lr"] = topt.param_groups[0]["lr"] = 0.07
    resumed = sched.CosineAnnealingLR(opt, T_max=10, last_epoch=3)
    theirs = torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=10, last_epoch=3)
    assert resumed.base_lrs == list(LRS) and resumed.last_epoch == 4
    for _ in range(8):
        assert_lrs_equal(resumed.get_last_lr(), theirs.get_last_lr(), "resumed")
        opt.step()
        topt.step()
        resumed.step()
        theirs.step()
    with pytest.raises(KeyError, match="StepLR: resuming with last_epoch=5 needs 'initial_lr' in param_groups\\[0\\]"):
        sched.StepLR(make_ours(), step_size=2, last_epoch=5)


@pytest.mark.parametrize("make,error,message", [
    (lambda: sched.StepLR("sgd", 3), TypeError, "StepLR: expected an Optimizer, got str"),
    (lambda: sched.StepLR(make_ours(), 0), ValueError, "StepLR: invalid step_size 0 (expected >= 1)"),
    (lambda: sched.StepLR(make_ours(), 2.5), TypeError, "StepLR: step_size must be an integer, got float"),
    (lambda: sched.MultiStepLR(make_ours(), [3, -1]), ValueError, "MultiStepLR: invalid milestone -1"),
    (lambda: sched.CosineAnnealingLR(make_ours(), 0), ValueError, "CosineAnnealingLR: invalid T_max 0"),
    (lambda: sched.LinearLR(make_ours(), start_factor=0), ValueError, "LinearLR: invalid start_factor 0 "
                                                                      "(expected > 0 and <= 1)"),
    (lambda: sched.LinearLR(make_ours(), end_factor=1.5), ValueError, "LinearLR: invalid end_factor 1.5"),
    (lambda: sched.ConstantLR(make_ours(), factor=2), ValueError, "ConstantLR: invalid factor 2"),
    (lambda: sched.OneCycleLR(make_ours(), 0.1), ValueError, "OneCycleLR: give either total_steps or both epochs"),
    (lambda: sched.OneCycleLR(make_ours(), 0.1, total_steps=0), ValueError, "OneCycleLR: invalid total_steps 0"),
    (lambda: sched.OneCycleLR(make_ours(), 0.1, 10, pct_start=1.5), ValueError, "OneCycleLR: invalid pct_start"),
    (lambda: sched.OneCycleLR(make_ours(), 0.1, 10, anneal_strategy="exp"), ValueError, "anneal_strategy must be"),
    (lambda: sched.OneCycleLR(make_ours(), [0.1], 10), ValueError, "OneCycleLR: max_lr has 1 values but the "
                                                                   "optimizer has 2 parameter groups"),
    (lambda: sched.OneCycleLR(make_ours(optim.Adagrad), 0.1, 10), ValueError, "OneCycleLR: cycle_momentum needs an "
                                                                              "optimizer with momentum or betas"),
    (lambda: sched.ReduceLROnPlateau(make_ours(), factor=1.0), ValueError, "ReduceLROnPlateau: invalid factor 1.0 "
                                                                           "(expected < 1)"),
    (lambda: sched.ReduceLROnPlateau(make_ours(), mode="low"), ValueError, "mode must be 'min' or 'max', got 'low'"),
    (lambda: sched.ReduceLROnPlateau(make_ours(), threshold_mode="x"), ValueError, "threshold_mode must be"),
    (lambda: sched.ReduceLROnPlateau(make_ours(), min_lr=[0.1]), ValueError, "expected 2 values of min_lr"),
    (lambda: sched.SequentialLR(make_ours(), [], []), ValueError, "SequentialLR: expected at least one scheduler"),
])
def test_errors(make, error, message):
    with pytest.raises(error) as info:
        make()
    assert message in str(info.value)


def test_sequential_errors():
    opt, other = make_ours(), make_ours()
    a, b = sched.LinearLR(opt), sched.ExponentialLR(opt, 0.9)
    with pytest.raises(ValueError, match="SequentialLR: expected 1 milestones for 2 schedulers, got 2"):
        sched.SequentialLR(opt, [a, b], milestones=[3, 4])
    with pytest.raises(ValueError, match="SequentialLR: scheduler 1 \\(StepLR\\) wraps a different optimizer"):
        sched.SequentialLR(opt, [a, sched.StepLR(other, 2)], milestones=[3])
    with pytest.raises(ValueError, match="SequentialLR: ReduceLROnPlateau \\(scheduler 0\\) cannot be sequenced"):
        sched.SequentialLR(opt, [sched.ReduceLROnPlateau(opt), b], milestones=[3])


@requires_torch
@pytest.mark.parametrize("t_mult", [1, 2])
def test_cosine_warm_restarts_matches_pytorch(t_mult):
    from cnnkit.optim.lr_scheduler import CosineAnnealingWarmRestarts

    p = ck.tensor(np.zeros(2, np.float32), requires_grad=True)
    opt = ck.optim.SGD([p], lr=0.1)
    sched = CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=t_mult, eta_min=0.01)
    tp = torch.zeros(2, requires_grad=True)
    topt = torch.optim.SGD([tp], lr=0.1)
    tsched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(topt, T_0=3, T_mult=t_mult, eta_min=0.01)
    ours, theirs = [], []
    for _ in range(20):
        opt.step(), sched.step(), topt.step(), tsched.step()
        ours.append(opt.param_groups[0]["lr"])
        theirs.append(topt.param_groups[0]["lr"])
    assert ours == pytest.approx(theirs, abs=1e-12)
    state = sched.state_dict()
    again = CosineAnnealingWarmRestarts(ck.optim.SGD([p], lr=0.1), T_0=3, T_mult=t_mult, eta_min=0.01)
    again.load_state_dict(state)
    again.step(), sched.step()
    assert again.get_last_lr() == sched.get_last_lr()


def test_cyclic_schedule_by_name():
    from cnnkit.optim.factory import make_schedule

    p = ck.tensor(np.zeros(2, np.float32), requires_grad=True)
    opt = ck.optim.SGD([p], lr=0.1)
    sched, per_batch = make_schedule("cyclic", opt, epochs=6, steps_per_epoch=5, cycles=3)
    assert per_batch and sched.T_0 == 10
    lrs = []
    for _ in range(30):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs[9] == pytest.approx(0.1) and lrs[8] < 0.01 and lrs[19] == pytest.approx(0.1)  # restarts
    with pytest.raises(ck.InputError, match="cannot be split into 4 cycles"):
        make_schedule("cyclic", opt, epochs=6, steps_per_epoch=5, cycles=4)
