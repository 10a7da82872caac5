"""Losses: torch parity (forward and backward, float32 and float64), finite-difference gradchecks, edge cases
(ignored targets, label smoothing, probability targets, extreme logits) and the error messages."""

import numpy as np
import pytest
from oracle import assert_close, compare_with_torch, gradcheck, rand, requires_torch, torch

import cnnkit as ck
import cnnkit.functional as F

if torch is not None:
    import torch.nn.functional as TF

DTYPES = [np.float32, np.float64]
REDUCTIONS = ["mean", "sum", "none"]
# logits shape; the index target has shape (N, d1, ...) or () for the unbatched (C,) input
CLASS_SHAPES = [(5, 4), (2, 3, 4, 5), (3, 4, 5), (4,)]


def _classes(shape):
    return shape[0] if len(shape) == 1 else shape[1]


def _index_target(shape, seed=0, ignore=False, ignore_index=-100):
    tshape = () if len(shape) == 1 else (shape[0],) + shape[2:]
    t = np.random.default_rng(seed).integers(0, _classes(shape), tshape)
    if ignore and t.ndim:
        t.flat[::3] = ignore_index
    return t


def _probs(shape, dtype, seed=0):
    return rand(*shape, dtype=dtype, seed=seed, low=0)


def _t(a):
    return None if a is None else torch.tensor(a)


# ------------------------------------------------------------------------------ cross_entropy, class indices


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", CLASS_SHAPES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True], ids=["", "weight"])
@pytest.mark.parametrize("eps", [0.0, 0.25], ids=["", "smooth"])
@pytest.mark.parametrize("ignore", [False, True], ids=["", "ignore"])
def test_cross_entropy_indices_matches_torch(shape, reduction, dtype, weighted, eps, ignore):
    weight = rand(_classes(shape), dtype=dtype, seed=5, low=0.5) if weighted else None
    t = _index_target(shape, ignore=ignore)
    compare_with_torch(
        lambda x: F.cross_entropy(x, t, weight=weight, reduction=reduction, label_smoothing=eps),
        lambda x: TF.cross_entropy(x, torch.tensor(t), weight=_t(weight), reduction=reduction, label_smoothing=eps),
        [rand(*shape, dtype=dtype)], what="cross_entropy")


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("eps", [0.0, 0.1])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_ignore_index_inside_class_range(dtype, eps, weighted):
    t = np.array([0, 1, 2, 1, 3])
    weight = rand(4, dtype=dtype, low=0.5) if weighted else None
    compare_with_torch(
        lambda x: F.cross_entropy(x, t, weight=weight, ignore_index=1, label_smoothing=eps),
        lambda x: TF.cross_entropy(x, torch.tensor(t), weight=_t(weight), ignore_index=1, label_smoothing=eps),
        [rand(5, 4, dtype=dtype)], what="cross_entropy ignore_index=1")


@requires_torch
@pytest.mark.parametrize("eps", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_all_ignored_like_torch(eps, weighted):
    x = rand(3, 4)
    t = np.full(3, -100)
    w = rand(4, low=0.5) if weighted else None
    for reduction in REDUCTIONS:
        ours = ck.tensor(x, requires_grad=True)
        theirs = torch.tensor(x, requires_grad=True)
        out = F.cross_entropy(ours, t, weight=w, reduction=reduction, label_smoothing=eps)
        ref = TF.cross_entropy(theirs, torch.tensor(t), weight=_t(w), reduction=reduction, label_smoothing=eps)
        if reduction == "mean":
            assert np.isnan(out.item()) and torch.isnan(ref)
        else:
            assert_close(out, ref)
        out.sum().backward()
        ref.sum().backward()
        assert_close(ours.grad, theirs.grad, "all-ignored gradient")
        assert np.all(ours.grad.data == 0)


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_cross_entropy_extreme_logits_stable(dtype, eps):
    x = rand(6, 5, dtype=dtype) * 1e4
    x[0] = [1e4, -1e4, 0, 1e4, -1e4]
    t = np.array([1, 0, 2, 3, 4, 0])
    out, _ = compare_with_torch(lambda a: F.cross_entropy(a, t, label_smoothing=eps),
                                lambda a: TF.cross_entropy(a, torch.tensor(t), label_smoothing=eps), [x])
    assert np.isfinite(out.item())
    compare_with_torch(lambda a, b: F.cross_entropy(a, b, label_smoothing=eps),
                       lambda a, b: TF.cross_entropy(a, b, label_smoothing=eps), [x, _probs((6, 5), dtype)])


def test_cross_entropy_float32_stays_float32():
    x = ck.tensor(rand(8, 10, dtype=np.float32), requires_grad=True)
    t = _index_target((8, 10))
    w = rand(10, dtype=np.float64, low=0.5)  # a float64 weight does not upcast float32 logits
    for kwargs in ({}, {"weight": w, "label_smoothing": 0.1}, {"reduction": "sum"}):
        loss = F.cross_entropy(x, t, **kwargs)
        assert loss.dtype == np.float32 and loss.shape == ()
        x.grad = None
        loss.backward()
        assert x.grad.dtype == np.float32
    t_ign = t.copy()
    t_ign[:3] = -100
    assert F.cross_entropy(x, t_ign).dtype == np.float32
    assert F.cross_entropy(x, _probs((8, 10), np.float32), label_smoothing=0.1).dtype == np.float32
    assert F.nll_loss(x, t).dtype == np.float32


def test_cross_entropy_unbatched_and_target_kinds():
    x = rand(5)
    assert F.cross_entropy(ck.tensor(x), 2, reduction="none").shape == ()
    assert F.cross_entropy(ck.tensor(x), _probs((5,), np.float64), reduction="none").shape == ()
    # any integer dtype works as class indices; lists too
    x2 = ck.tensor(rand(3, 5))
    ref = F.cross_entropy(x2, np.array([0, 4, 2])).item()
    for t in (np.array([0, 4, 2], dtype=np.uint8), np.array([0, 4, 2], dtype=np.int32), [0, 4, 2],
              ck.tensor(np.array([0, 4, 2]))):
        assert F.cross_entropy(x2, t).item() == pytest.approx(ref, rel=1e-12)


def test_cross_entropy_records_its_attributes():
    x = ck.tensor(rand(3, 5), requires_grad=True)
    loss = F.cross_entropy(x, [0, 1, 2], ignore_index=4, reduction="sum", label_smoothing=0.1)
    assert type(loss.grad_fn).__name__ == "CrossEntropy"
    assert loss.grad_fn.attrs == {"reduction": "sum", "ignore_index": 4, "label_smoothing": 0.1}


@requires_torch
def test_cross_entropy_empty_batch_is_nan_like_torch():
    x = np.zeros((0, 4))
    assert np.isnan(F.cross_entropy(ck.tensor(x), np.zeros(0, dtype=np.int64)).item())
    assert np.isnan(F.cross_entropy(ck.tensor(x), np.zeros((0, 4))).item())
    assert torch.isnan(TF.cross_entropy(torch.tensor(x), torch.zeros(0, dtype=torch.long)))


def test_cross_entropy_gradcheck():
    w = rand(3, low=0.5)
    t = _index_target((2, 3, 2, 2), ignore=True)
    for kwargs in ({}, {"weight": w, "label_smoothing": 0.3}, {"weight": w, "reduction": "none"}):
        assert gradcheck(lambda x, kw=kwargs: F.cross_entropy(x, t, **kw), [rand(2, 3, 2, 2)])
    assert gradcheck(lambda x: F.cross_entropy(x, 1), [rand(4)])


# ------------------------------------------------------------------------------ cross_entropy, probabilities


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", CLASS_SHAPES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True], ids=["", "weight"])
@pytest.mark.parametrize("eps", [0.0, 0.25], ids=["", "smooth"])
def test_cross_entropy_probabilities_matches_torch(shape, reduction, dtype, weighted, eps):
    weight = rand(_classes(shape), dtype=dtype, seed=5, low=0.5) if weighted else None
    # gradients flow to the logits and to the target, as in torch
    compare_with_torch(
        lambda x, p: F.cross_entropy(x, p, weight=weight, reduction=reduction, label_smoothing=eps),
        lambda x, p: TF.cross_entropy(x, p, weight=_t(weight), reduction=reduction, label_smoothing=eps),
        [rand(*shape, dtype=dtype), _probs(shape, dtype, seed=3)], what="soft cross_entropy")


def test_cross_entropy_probabilities_gradcheck():
    w = rand(4, low=0.5)
    for kwargs in ({}, {"weight": w, "label_smoothing": 0.2, "reduction": "none"}):
        assert gradcheck(lambda x, p, kw=kwargs: F.cross_entropy(x, p, **kw),
                         [rand(2, 4, 3), _probs((2, 4, 3), np.float64)])


def test_one_hot_probabilities_equal_indices():
    x = ck.tensor(rand(6, 5))
    t = _index_target((6, 5))
    for eps in (0.0, 0.3):
        a = F.cross_entropy(x, t, label_smoothing=eps).item()
        b = F.cross_entropy(x, np.eye(5)[t], label_smoothing=eps).item()
        assert a == pytest.approx(b, rel=1e-12)


# ------------------------------------------------------------------------------ nll_loss


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", CLASS_SHAPES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True], ids=["", "weight"])
@pytest.mark.parametrize("ignore", [False, True], ids=["", "ignore"])
def test_nll_loss_matches_torch(shape, reduction, dtype, weighted, ignore):
    weight = rand(_classes(shape), dtype=dtype, seed=5, low=0.5) if weighted else None
    t = _index_target(shape, ignore=ignore)
    compare_with_torch(lambda x: F.nll_loss(x, t, weight=weight, reduction=reduction),
                       lambda x: TF.nll_loss(x, torch.tensor(t), weight=_t(weight), reduction=reduction),
                       [rand(*shape, dtype=dtype)], what="nll_loss")


@requires_torch
def test_nll_loss_all_ignored_and_gradcheck():
    t = np.full(3, 2)
    assert np.isnan(F.nll_loss(ck.tensor(rand(3, 4)), t, ignore_index=2).item())
    assert torch.isnan(TF.nll_loss(torch.tensor(rand(3, 4)), torch.tensor(t), ignore_index=2))
    w = rand(4, low=0.5)
    assert gradcheck(lambda x: F.nll_loss(x, _index_target((3, 4, 2), ignore=True), weight=w), [rand(3, 4, 2)])


def test_nll_of_log_softmax_is_cross_entropy():
    x = rand(4, 6)
    t = _index_target((4, 6))
    logp = x - np.log(np.exp(x).sum(1, keepdims=True))
    assert F.nll_loss(ck.tensor(logp), t).item() == pytest.approx(F.cross_entropy(ck.tensor(x), t).item(), rel=1e-12)


# ------------------------------------------------------------------------------ regression losses

REGRESSION = [
    ("mse_loss", {}),
    ("l1_loss", {}),
    ("smooth_l1_loss", {"beta": 1.0}),
    ("smooth_l1_loss", {"beta": 0.4}),
    ("smooth_l1_loss", {"beta": 0.0}),
    ("huber_loss", {"delta": 1.0}),
    ("huber_loss", {"delta": 0.3}),
]
WEIGHTED = ["mse_loss", "l1_loss", "huber_loss"]


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,kwargs", REGRESSION, ids=[f"{n}{k}" for n, k in REGRESSION])
def test_regression_matches_torch(name, kwargs, reduction, dtype):
    ours, theirs = getattr(F, name), getattr(TF, name)
    x, y = rand(3, 4, 5, dtype=dtype), rand(3, 4, 5, dtype=dtype, seed=1)
    x.flat[:3] = y.flat[:3]  # d = 0 exactly: torch's subgradient there is 0
    # gradients flow to the input and to the target
    compare_with_torch(lambda a, b: ours(a, b, reduction=reduction, **kwargs),
                       lambda a, b: theirs(a, b, reduction=reduction, **kwargs), [x, y], what=name)
    if name in WEIGHTED:  # the per-element weight is differentiable too
        w = rand(3, 4, 5, dtype=dtype, seed=2, low=0.1)
        compare_with_torch(lambda a, b, c: ours(a, b, reduction=reduction, weight=c, **kwargs),
                           lambda a, b, c: theirs(a, b, reduction=reduction, weight=c, **kwargs), [x, y, w],
                           what=f"weighted {name}")


@pytest.mark.parametrize("name,kwargs", REGRESSION, ids=[f"{n}{k}" for n, k in REGRESSION])
def test_regression_gradcheck(name, kwargs):
    fn = getattr(F, name)
    x, y = rand(3, 4), rand(3, 4, seed=1) * 2
    assert gradcheck(lambda a, b: fn(a, b, **kwargs), [x, y])
    assert gradcheck(lambda a, b: fn(a, b, reduction="none", **kwargs), [x, y])
    if name in WEIGHTED:
        assert gradcheck(lambda a, b, c: fn(a, b, weight=c, **kwargs), [x, y, rand(3, 4, seed=2, low=0.1)])


def test_regression_dtypes_and_plain_targets():
    x = ck.tensor(rand(4, 3, dtype=np.float32), requires_grad=True)
    for name in ("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"):
        fn = getattr(F, name)
        for target in (rand(4, 3, dtype=np.float64), np.ones((4, 3), dtype=np.int64), np.zeros((4, 3), dtype=bool)):
            loss = fn(x, target)
            assert loss.dtype == np.float32 and loss.shape == ()
        x.grad = None
        fn(x, ck.tensor(rand(4, 3, dtype=np.float32))).backward()
        assert x.grad.dtype == np.float32
    assert F.smooth_l1_loss(ck.tensor(rand(5)), ck.tensor(rand(5, seed=1)), beta=0).item() == pytest.approx(
        F.l1_loss(ck.tensor(rand(5)), ck.tensor(rand(5, seed=1))).item(), rel=1e-12)


# ------------------------------------------------------------------------------ binary cross-entropy


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight_shape", [None, (5,), (4, 1)], ids=str)
def test_binary_cross_entropy_matches_torch(reduction, dtype, weight_shape):
    x = np.clip(_probs((4, 5), dtype), 0.01, 0.99)
    y = _probs((4, 5), dtype, seed=1)
    y[0] = [0, 1, 0, 1, 0.5]
    weight = None if weight_shape is None else rand(*weight_shape, dtype=dtype, low=0.5, seed=2)
    compare_with_torch(lambda a, b: F.binary_cross_entropy(a, b, weight=weight, reduction=reduction),
                       lambda a, b: TF.binary_cross_entropy(a, b, weight=_t(weight), reduction=reduction),
                       [x, y], what="binary_cross_entropy")


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_cross_entropy_clamps_log_at_minus_100(dtype):
    x = np.array([0.0, 1.0, 0.0, 1.0, 1e-30, 0.5], dtype=dtype)
    y = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 0.5], dtype=dtype)
    for reduction in REDUCTIONS:
        out = F.binary_cross_entropy(ck.tensor(x), y, reduction=reduction)
        ref = TF.binary_cross_entropy(torch.tensor(x), torch.tensor(y), reduction=reduction)
        assert_close(out, ref)
    ours = ck.tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    F.binary_cross_entropy(ours, y).backward()
    TF.binary_cross_entropy(theirs, torch.tensor(y)).backward()
    assert np.all(np.isfinite(ours.grad.data))
    assert_close(ours.grad, theirs.grad, "gradient at the clamp")


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shapes", [(None, None), ((5,), None), (None, (5,)), ((4, 5), (4, 1))], ids=str)
def test_binary_cross_entropy_with_logits_matches_torch(reduction, dtype, shapes):
    x = rand(4, 5, dtype=dtype) * 3
    y = _probs((4, 5), dtype, seed=1)
    weight, pos_weight = (None if s is None else rand(*s, dtype=dtype, low=0.5, seed=i) for i, s in enumerate(shapes))
    compare_with_torch(
        lambda a, b: F.binary_cross_entropy_with_logits(a, b, weight=weight, reduction=reduction,
                                                        pos_weight=pos_weight),
        lambda a, b: TF.binary_cross_entropy_with_logits(a, b, weight=_t(weight), reduction=reduction,
                                                         pos_weight=_t(pos_weight)),
        [x, y], what="binary_cross_entropy_with_logits")


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pos", [None, 2.5])
def test_binary_cross_entropy_with_logits_extreme_logits(dtype, pos):
    x = np.array([1e4, -1e4, 1e4, -1e4, 50.0, -50.0, 0.0], dtype=dtype)
    y = np.array([1.0, 0.0, 0.0, 1.0, 0.3, 0.7, 0.5], dtype=dtype)
    pos_weight = None if pos is None else np.full(7, pos, dtype=dtype)
    out, _ = compare_with_torch(
        lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction="none", pos_weight=pos_weight),
        lambda a, b: TF.binary_cross_entropy_with_logits(a, b, reduction="none", pos_weight=_t(pos_weight)),
        [x, y])
    assert np.all(np.isfinite(out.data))


def test_binary_losses_gradcheck():
    x = np.clip(_probs((3, 4), np.float64), 0.05, 0.95)
    y = _probs((3, 4), np.float64, seed=1)
    w = rand(4, low=0.5)
    assert gradcheck(lambda a, b: F.binary_cross_entropy(a, b, weight=w), [x, y])
    assert gradcheck(lambda a, b: F.binary_cross_entropy(a, b, reduction="none"), [x, y])
    z = rand(3, 4) * 2
    assert gradcheck(lambda a, b: F.binary_cross_entropy_with_logits(a, b, weight=w, pos_weight=w * 2), [z, y])
    assert gradcheck(lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction="sum"), [z, y])


def test_binary_losses_float32_stays_float32():
    x = ck.tensor(rand(4, 3, dtype=np.float32), requires_grad=True)
    y = _probs((4, 3), np.float64)
    w = rand(3, low=0.5)
    for loss in (F.binary_cross_entropy_with_logits(x, y, weight=w, pos_weight=w),
                 F.binary_cross_entropy(ck.tensor(_probs((4, 3), np.float32)), y, weight=w)):
        assert loss.dtype == np.float32 and loss.shape == ()
    F.binary_cross_entropy_with_logits(x, y, pos_weight=w).backward()
    assert x.grad.dtype == np.float32


# ------------------------------------------------------------------------------ errors


def _raises(exc, match, fn, *args, **kwargs):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)


def test_class_loss_errors():
    x = ck.tensor(rand(4, 10))
    t = _index_target((4, 10))
    for fn, op in ((F.cross_entropy, "cross_entropy"), (F.nll_loss, "nll_loss")):
        _raises(ValueError, rf"^{op}: target has shape \(8,\) but the input of shape \(4, 10\) needs a target of "
                r"shape \(4,\)", fn, x, np.zeros(8, dtype=np.int64))
        _raises(ValueError, rf"^{op}: target index 10 is out of range for 10 classes", fn, x, np.array([0, 10, 1, 2]))
        _raises(ValueError, rf"^{op}: target index -1 is out of range for 10 classes", fn, x, np.array([0, -1, 1, 2]))
        _raises(TypeError, rf"^{op}: expected a floating-point input.*, got dtype int64", fn, ck.tensor(np.ones((4, 10), int)), t)
        _raises(TypeError, rf"^{op}: expected a floating-point input.*, got dtype bool", fn, np.ones((4, 10), bool), t)
        _raises(ValueError, rf"^{op}: reduction must be 'mean', 'sum' or 'none', got 'avg'", fn, x, t,
                reduction="avg")
        _raises(ValueError, rf"^{op}: weight has shape \(9,\) but the input of shape \(4, 10\) has 10 classes", fn,
                x, t, weight=np.ones(9))
        _raises(ValueError, rf"^{op}: the loss is not differentiable with respect to weight", fn, x, t,
                weight=ck.tensor(np.ones(10), requires_grad=True))
        _raises(ValueError, rf"^{op}: expected .* of shape \(C,\), \(N, C\) or \(N, C, d1, ...\), got a 0-d", fn,
                ck.tensor(np.float64(1.0)), t)
    _raises(TypeError, r"^nll_loss: expected integer class indices as target, got float64", F.nll_loss, x,
            t.astype(float))
    _raises(TypeError, r"^cross_entropy: expected integer class indices as target, got float64", F.cross_entropy, x,
            t.astype(float))
    _raises(TypeError, r"^cross_entropy: a target of the input's shape \(4, 10\) holds class probabilities and "
            r"must be floating-point, got int64", F.cross_entropy, x, np.zeros((4, 10), dtype=np.int64))
    _raises(ValueError, r"^cross_entropy: target has shape \(4, 3\) but the input of shape \(4, 10\) needs a target "
            r"of shape \(4,\) \(class indices\) or \(4, 10\) \(class probabilities\)", F.cross_entropy, x,
            np.zeros((4, 3)))
    _raises(ValueError, r"^cross_entropy: label_smoothing must be in \[0.0, 1.0\], got 1.5", F.cross_entropy, x, t,
            label_smoothing=1.5)
    _raises(ValueError, r"^cross_entropy: ignore_index is not supported with class-probability targets",
            F.cross_entropy, x, np.zeros((4, 10)), ignore_index=0)
    for target in (t, np.zeros((4, 10))):
        _raises(TypeError, r"^cross_entropy: ignore_index must be an int, got 1.5", F.cross_entropy, x, target,
                ignore_index=1.5)
    _raises(TypeError, r"^nll_loss: ignore_index must be an int, got None", F.nll_loss, x, t, ignore_index=None)
    _raises(TypeError, r"^cross_entropy: expected the target to be a Tensor or an array, got str", F.cross_entropy,
            x, "cat")
    _raises(TypeError, r"^cross_entropy: expected a Tensor, got list", F.cross_entropy,
            [[0.1, 0.2]], [0])
    # an ignored target may lie outside [0, C)
    F.cross_entropy(x, np.array([0, -100, 1, 2]))
    F.cross_entropy(x, np.array([0, 11, 1, 2]), ignore_index=11)


def test_regression_and_binary_errors():
    x = ck.tensor(rand(4, 3))
    for op in ("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
               "binary_cross_entropy_with_logits"):
        fn = getattr(F, op)
        p = ck.tensor(_probs((4, 3), np.float64))
        _raises(ValueError, rf"^{op}: target has shape \(4,\) but the input has shape \(4, 3\); they must match", fn,
                p, np.zeros(4))
        _raises(TypeError, rf"^{op}: expected a floating-point input.*, got dtype int64", fn, np.ones((4, 3), dtype=np.int64),
                np.zeros((4, 3)))
        _raises(ValueError, rf"^{op}: reduction must be 'mean', 'sum' or 'none', got 'elementwise_mean'", fn, p,
                np.zeros((4, 3)), reduction="elementwise_mean")
    for op in ("mse_loss", "l1_loss", "huber_loss"):
        _raises(ValueError, rf"^{op}: weight has shape \(3,\) but the input has shape \(4, 3\)", getattr(F, op), x,
                np.zeros((4, 3)), weight=np.ones(3))
    _raises(ValueError, r"^smooth_l1_loss: beta must be non-negative, got -1.0", F.smooth_l1_loss, x, x, beta=-1)
    _raises(ValueError, r"^huber_loss: delta must be positive, got 0.0", F.huber_loss, x, x, delta=0)
    p = _probs((4, 3), np.float64)
    _raises(ValueError, r"^binary_cross_entropy: all elements of input should be between 0 and 1, got values in "
            r"\[-0.25, 1.0\]", F.binary_cross_entropy, ck.tensor(np.array([0.5, -0.25, 1.0])), np.zeros(3))
    _raises(ValueError, r"^binary_cross_entropy: all elements of input should be between 0 and 1", F.binary_cross_entropy,
            ck.tensor(np.full((4, 3), np.nan)), p)
    _raises(ValueError, r"^binary_cross_entropy: all elements of target should be between 0 and 1",
            F.binary_cross_entropy, ck.tensor(p), p * 3)
    for op in ("binary_cross_entropy", "binary_cross_entropy_with_logits"):
        fn = getattr(F, op)
        _raises(TypeError, rf"^{op}: expected floating-point probabilities as target, got int64", fn, ck.tensor(p),
                np.ones((4, 3), dtype=np.int64))
        _raises(ValueError, rf"^{op}: weight has shape \(4,\), which does not broadcast to the input shape \(4, 3\)",
                fn, ck.tensor(p), p, weight=np.ones(4))
        _raises(ValueError, rf"^{op}: the loss is not differentiable with respect to weight", fn, ck.tensor(p), p,
                weight=ck.tensor(np.ones(3), requires_grad=True))
    _raises(ValueError, r"^binary_cross_entropy_with_logits: pos_weight has shape \(2,\), which does not broadcast",
            F.binary_cross_entropy_with_logits, x, p, pos_weight=np.ones(2))
