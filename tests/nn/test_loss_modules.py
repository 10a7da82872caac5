"""Loss modules against PyTorch's: forward value and input gradient for every reduction, class weights
stored as buffers (in state_dict, cast with the model) and option validation."""

import numpy as np
import pytest
from oracle import assert_close, rand, requires_torch, torch

import cnnkit as ck
import cnnkit.nn as nn

DTYPES = [np.float32, np.float64]


def compare(ours, theirs, inputs, targets, dtype, what):
    """Forward value and gradient w.r.t. the input of a loss module and its torch twin."""
    xo, xt = ck.tensor(inputs, requires_grad=True), torch.tensor(inputs, requires_grad=True)
    to = ck.tensor(targets)
    tt = torch.tensor(targets)
    lo, lt = ours(xo, to), theirs(xt, tt)
    assert lo.dtype == dtype, f"{what}: loss dtype {lo.dtype}"
    assert_close(lo, lt, f"{what} value")
    g = rand(*lt.shape, dtype=dtype, seed=7)
    lo.backward(g)
    lt.backward(torch.tensor(g))
    assert_close(xo.grad, xt.grad, f"{what} input grad")


def _weights(dtype):
    return np.array([0.2, 1.0, 2.5, 0.7], dtype=dtype)


CLASS_CASES = [
    dict(),
    dict(reduction="sum"),
    dict(reduction="none"),
    dict(weight=True),
    dict(weight=True, ignore_index=1),
    dict(ignore_index=2, reduction="sum"),
]


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", range(len(CLASS_CASES)))
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_loss(case, smoothing, dtype):
    kwargs = dict(CLASS_CASES[case], label_smoothing=smoothing)
    w = kwargs.pop("weight", None)
    ours = nn.CrossEntropyLoss(weight=_weights(dtype) if w else None, **kwargs)
    theirs = torch.nn.CrossEntropyLoss(weight=torch.tensor(_weights(dtype)) if w else None, **kwargs)
    x = rand(6, 4, dtype=dtype, seed=case) * 3
    y = np.array([0, 1, 2, 3, 1, 2], dtype=np.int64)
    compare(ours, theirs, x, y, dtype, f"CrossEntropyLoss({kwargs}, weight={w})")
    x4 = rand(2, 4, 3, 2, dtype=dtype, seed=case)  # (N, C, H, W) logits, per-pixel targets
    y4 = np.random.default_rng(case).integers(0, 4, (2, 3, 2))
    compare(ours, theirs, x4, y4, dtype, f"CrossEntropyLoss 4-D ({kwargs}, weight={w})")


@requires_torch
def test_cross_entropy_loss_probability_targets():
    x = rand(5, 3) * 2
    p = np.random.default_rng(1).dirichlet(np.ones(3), size=5)
    compare(nn.CrossEntropyLoss(label_smoothing=0.2), torch.nn.CrossEntropyLoss(label_smoothing=0.2), x, p,
            np.float64, "CrossEntropyLoss(probabilities)")


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", range(len(CLASS_CASES)))
def test_nll_loss(case, dtype):
    kwargs = dict(CLASS_CASES[case])
    w = kwargs.pop("weight", None)
    ours = nn.NLLLoss(weight=_weights(dtype) if w else None, **kwargs)
    theirs = torch.nn.NLLLoss(weight=torch.tensor(_weights(dtype)) if w else None, **kwargs)
    x = np.log(np.random.default_rng(case).dirichlet(np.ones(4), size=6)).astype(dtype)
    y = np.array([0, 1, 2, 3, 1, 2], dtype=np.int64)
    compare(ours, theirs, x, y, dtype, f"NLLLoss({kwargs}, weight={w})")


REGRESSION = [("MSELoss", "mse_loss", {}), ("L1Loss", "l1_loss", {}), ("SmoothL1Loss", "smooth_l1_loss", {}),
              ("SmoothL1Loss", "smooth_l1_loss", dict(beta=0.5))]


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", range(len(REGRESSION)))
def test_regression_losses(case, reduction, dtype):
    name, _, kwargs = REGRESSION[case]
    x, t = rand(3, 5, dtype=dtype, seed=1), rand(3, 5, dtype=dtype, seed=2)
    compare(getattr(nn, name)(reduction=reduction, **kwargs), getattr(torch.nn, name)(reduction=reduction, **kwargs),
            x, t, dtype, f"{name}({reduction}, {kwargs})")


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_losses(weighted, reduction, dtype):
    x = rand(4, 3, dtype=dtype, seed=3) * 2
    t = (np.random.default_rng(4).random((4, 3)) > 0.5).astype(dtype)
    w = np.array([0.5, 1.0, 2.0], dtype=dtype) if weighted else None
    pw = np.array([3.0, 1.0, 0.25], dtype=dtype) if weighted else None
    tw = torch.tensor(w) if weighted else None
    tpw = torch.tensor(pw) if weighted else None
    probs = (1 / (1 + np.exp(-x))).astype(dtype)
    compare(nn.BCELoss(weight=w, reduction=reduction), torch.nn.BCELoss(weight=tw, reduction=reduction),
            probs, t, dtype, f"BCELoss({reduction}, weighted={weighted})")
    compare(nn.BCEWithLogitsLoss(weight=w, reduction=reduction, pos_weight=pw),
            torch.nn.BCEWithLogitsLoss(weight=tw, reduction=reduction, pos_weight=tpw),
            x, t, dtype, f"BCEWithLogitsLoss({reduction}, weighted={weighted})")


def test_weights_are_buffers():
    w = np.array([1.0, 2.0], dtype=np.float32)
    ce = nn.CrossEntropyLoss(weight=w)
    assert list(ce.state_dict()) == ["weight"] and np.array_equal(ce.state_dict()["weight"], w)
    assert list(nn.CrossEntropyLoss().state_dict()) == []
    assert list(nn.BCEWithLogitsLoss(pos_weight=w).state_dict()) == ["pos_weight"]
    assert list(nn.NLLLoss(weight=ck.tensor(w)).state_dict()) == ["weight"]
    ce.double()
    assert ce.weight.dtype == np.float64
    assert repr(ce) == "CrossEntropyLoss()"
    if torch is not None:
        assert list(nn.BCEWithLogitsLoss(weight=w, pos_weight=w).state_dict()) == list(
            torch.nn.BCEWithLogitsLoss(weight=torch.tensor(w), pos_weight=torch.tensor(w)).state_dict())


def test_loss_option_checks():
    with pytest.raises(ValueError, match="reduction must be one of"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        nn.CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(TypeError, match="buffer 'weight'"):
        nn.CrossEntropyLoss(weight=[1.0, 2.0])
    with pytest.warns(UserWarning, match="deprecated"):
        assert nn.MSELoss(size_average=False).reduction == "sum"
    with pytest.warns(UserWarning):
        assert nn.L1Loss(reduce=False).reduction == "none"


def test_loss_module_trains_a_linear_layer():
    ck.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    x = ck.randn(12, 4)
    y = ck.tensor(np.arange(12) % 3)
    loss_fn = nn.CrossEntropyLoss()
    first = None
    for _ in range(60):
        loss = loss_fn(model(x), y)
        first = first if first is not None else loss.item()
        model.zero_grad()
        loss.backward()
        with ck.no_grad():
            for p in model.parameters():
                p.data -= 0.2 * p.grad.data
    assert loss.item() < 0.5 * first
