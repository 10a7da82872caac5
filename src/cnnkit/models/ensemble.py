"""Ensembles of classifiers: probability averaging and (weighted) majority vote, plus the classic ways of building
the members — bagging, boosting (multi-class AdaBoost, SAMME) and stacking — and snapshot ensembles (one run, a
checkpoint per learning-rate cycle: see :mod:`cnnkit.training.snapshots`).

    ens = Ensemble([m1, m2, m3], mode="mean")           # or mode="vote", weights=[...]
    log_probs = ens(x)                                   # F.cross_entropy(ens(x), y) is the ensemble's NLL
    ens = bagging(make_model, X, y, n_models=5)          # bootstrap-resampled training sets
    ens = boosting(make_model, X, y, num_classes=10)     # SAMME: re-weighted data, weighted vote
    stack = stacking(members, X_holdout, y_holdout)      # a meta-classifier on the members' probabilities

Why they help: averaging independent models' probabilities lowers the variance of the prediction (bagging adds
variety through resampled data); boosting fits weak models one after another to the examples the previous ones
got wrong, lowering the bias; stacking learns how much to trust each member.

Members are any classifiers ``model(x) -> logits (N, classes)``; the builders take ``make_model(i)`` (a fresh
member) and a ``fit(model, X, y, sample_weight)`` function (default :func:`train_classifier`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from .. import nn
from ..autograd import Tensor, no_grad
from ..errors import InputError

__all__ = ["Ensemble", "Stacking", "predict_proba", "combine", "ensemble_report", "train_classifier",
           "bootstrap_indices", "bagging", "boosting", "stacking", "MODES"]

MODES = ("mean", "vote")
TIE_BREAK = 1e-6  # a vote's share gets this much of the mean probability, so ties go to the more confident class


def _check_weights(weights, n: int) -> np.ndarray:
    if weights is None:
        return np.ones(n)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise InputError(f"ensemble: weights must be {n} finite non-negative numbers with a positive sum, got "
                         f"{weights!r}", field="weights")
    return w


def combine(probs, mode: str = "mean", weights=None) -> np.ndarray:
    """Combine member probabilities ``probs`` (M, N, C) into (N, C): ``mean`` the weighted average, ``vote`` each
    class's weighted share of the members' votes (ties broken by the mean probability)."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 3:
        raise InputError(f"ensemble: expected member probabilities (members, N, classes), got {probs.shape}")
    if mode not in MODES:
        raise InputError(f"ensemble: mode must be one of {', '.join(MODES)}, got {mode!r}", field="mode")
    w = _check_weights(weights, len(probs))
    w = w / w.sum()
    mean = np.tensordot(w, probs, axes=1)
    if mode == "mean":
        return mean
    votes = np.zeros_like(mean)
    n = np.arange(probs.shape[1])
    for wk, p in zip(w, probs, strict=True):
        votes[n, p.argmax(axis=1)] += wk
    share = votes + TIE_BREAK * mean
    return share / share.sum(axis=1, keepdims=True)


class Ensemble(nn.Module):
    """Several classifiers as one. ``forward`` returns log-probabilities (N, C): with ``mode="mean"`` the log of
    the (weighted) average of the members' softmax probabilities — differentiable, and ``cross_entropy`` of it is
    the ensemble's negative log-likelihood; with ``mode="vote"`` the log of each class's weighted share of the
    members' votes (argmax = the majority; not a calibrated probability). ``weights`` weight the members (default
    equal)."""

    def __init__(self, models, mode: str = "mean", weights=None):
        super().__init__()
        models = list(models)
        if not models:
            raise InputError("Ensemble: needs at least one model")
        if mode not in MODES:
            raise InputError(f"Ensemble: mode must be one of {', '.join(MODES)}, got {mode!r}", field="mode")
        self.members = nn.ModuleList(models)
        self.mode = mode
        self.weights = _check_weights(weights, len(models))

    def member_probabilities(self, x) -> np.ndarray:
        """Each member's softmax probabilities (M, N, C) (no gradients)."""
        from ..functional import softmax

        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float32))
        with no_grad():
            return np.stack([softmax(m(x), dim=1).data for m in self.members])

    def forward(self, x):
        from ..functional import softmax

        if self.mode == "vote":
            return Tensor(np.log(combine(self.member_probabilities(x), "vote", self.weights)).astype(np.float32))
        w = self.weights / self.weights.sum()
        total = None
        for wk, m in zip(w, self.members, strict=True):
            p = softmax(m(x), dim=1) * float(wk)
            total = p if total is None else total + p
        return total.clamp(min=1e-12).log()

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, members={len(self.members)}"


def predict_proba(model, X, batch_size: int = 256) -> np.ndarray:
    """Softmax probabilities (N, C) of a classifier on an array of images (eval mode, no gradients)."""
    from ..functional import softmax

    X = np.asarray(X, dtype=np.float32)
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            return np.concatenate([softmax(model(Tensor(X[i:i + batch_size])), dim=1).data
                                   for i in range(0, len(X), batch_size)])
    finally:
        model.train(was_training)


def _nll(probs: np.ndarray, y: np.ndarray) -> float:
    return float(-np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, None)).mean())


def ensemble_report(probs, labels, weights=None) -> dict:
    """Test accuracy and loss (negative log-likelihood) of each member (``probs`` (M, N, C)) and of the ensemble by
    averaging (accuracy and loss) and by voting (accuracy)."""
    probs = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    members = [{"test_accuracy": float((p.argmax(1) == y).mean()), "test_loss": _nll(p, y)} for p in probs]
    mean = combine(probs, "mean", weights)
    vote = combine(probs, "vote", weights)
    best = min(range(len(members)), key=lambda i: members[i]["test_loss"])
    return {"members": members, "best_member": best,
            "mean": {"test_accuracy": float((mean.argmax(1) == y).mean()), "test_loss": _nll(mean, y)},
            "vote": {"test_accuracy": float((vote.argmax(1) == y).mean())}}


# ---------------------------------------------------------------------------------------------------- building
def train_classifier(model, X, y, sample_weight=None, epochs: int = 10, lr: float = 3e-3, batch_size: int = 32,
                     seed: int = 0, weight_decay: float = 0.0):
    """A plain training loop (Adam, shuffled mini-batches) on arrays; ``sample_weight`` (N,) weights each example's
    cross-entropy (the mean over a batch of weight x loss, weights scaled to mean 1). Returns the model."""
    from ..functional import cross_entropy
    from ..optim import Adam

    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)
    w = None
    if sample_weight is not None:
        w = np.asarray(sample_weight, dtype=np.float64)
        w = (w * len(w) / w.sum()).astype(np.float32)
    rng = np.random.default_rng(seed)
    opt = Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    model.train()
    for _ in range(epochs):
        order = rng.permutation(len(X))
        for i in range(0, len(X), batch_size):
            idx = order[i:i + batch_size]
            out = model(Tensor(X[idx]))
            if w is None:
                loss = cross_entropy(out, Tensor(y[idx]))
            else:
                loss = (cross_entropy(out, Tensor(y[idx]), reduction="none") * Tensor(w[idx])).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    return model


def bootstrap_indices(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` indices drawn with replacement from ``range(n)`` (about 63% distinct)."""
    return rng.integers(0, n, size=n)


def bagging(make_model: Callable, X, y, n_models: int = 5, fit: Callable | None = None, seed: int = 0,
            mode: str = "mean") -> Ensemble:
    """Bootstrap aggregating: member i is ``make_model(i)`` trained by ``fit(model, X[idx], y[idx], None)`` on a
    bootstrap resample ``idx`` of the training set; the ensemble averages (or votes). ``ensemble.info`` records
    each member's resample size, distinct examples and training seconds."""
    fit = fit or train_classifier
    X, y = np.asarray(X), np.asarray(y)
    rng = np.random.default_rng(seed)
    members, info = [], []
    for i in range(n_models):
        idx = bootstrap_indices(len(X), rng)
        start = time.perf_counter()
        members.append(fit(make_model(i), X[idx], y[idx], None))
        info.append({"distinct": int(np.unique(idx).size), "seconds": time.perf_counter() - start})
    ens = Ensemble(members, mode=mode)
    ens.info = info
    return ens


def boosting(make_model: Callable, X, y, num_classes: int, n_models: int = 5, fit: Callable | None = None,
             learning_rate: float = 1.0) -> Ensemble:
    """Multi-class AdaBoost, SAMME (Zhu, Zou, Rosset & Hastie, 2009). Start with equal example weights; for each
    member: train ``make_model(m)`` on the weighted data (``fit(model, X, y, weights)``), its weighted error
    ``err``, its say ``alpha = learning_rate * (log((1 - err) / err) + log(K - 1))``, then multiply the weights of
    the examples it got wrong by ``exp(alpha)`` and renormalise. A member no better than chance (``err >= 1 - 1/K``)
    is dropped and boosting stops. The result votes with the alphas as weights; ``ensemble.info`` has each
    member's error and alpha."""
    fit = fit or train_classifier
    X, y = np.asarray(X), np.asarray(y, dtype=np.int64)
    k = int(num_classes)
    if k < 2:
        raise InputError(f"boosting: needs at least 2 classes, got {num_classes}", field="num_classes")
    w = np.full(len(X), 1.0 / len(X))
    members, alphas, info = [], [], []
    for m in range(n_models):
        start = time.perf_counter()
        model = fit(make_model(m), X, y, w)
        wrong = predict_proba(model, X).argmax(axis=1) != y
        err = float(np.clip(w[wrong].sum() / w.sum(), 1e-10, None))
        if err >= 1 - 1 / k:
            info.append({"error": err, "alpha": None, "seconds": time.perf_counter() - start, "kept": False})
            break
        alpha = learning_rate * (math.log((1 - err) / err) + math.log(k - 1))
        w = w * np.exp(alpha * wrong)
        w /= w.sum()
        members.append(model)
        alphas.append(alpha)
        info.append({"error": err, "alpha": alpha, "seconds": time.perf_counter() - start, "kept": True})
    if not members:
        raise InputError("boosting: the first member was no better than chance; use a stronger weak learner or "
                         "train it longer")
    ens = Ensemble(members, mode="vote", weights=alphas)
    ens.info = info
    return ens


class Stacking(nn.Module):
    """Members' softmax probabilities, concatenated, into a meta-classifier ``meta`` (a Linear layer: multinomial
    logistic regression). ``forward`` returns the meta-classifier's logits."""

    def __init__(self, members, meta):
        super().__init__()
        self.members = nn.ModuleList(list(members))
        self.meta = meta

    def features(self, x) -> Tensor:
        """The meta-classifier's input: the members' probabilities side by side (N, M * C), no gradients."""
        from ..functional import softmax

        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float32))
        with no_grad():
            return Tensor(np.concatenate([softmax(m(x), dim=1).data for m in self.members], axis=1))

    def forward(self, x):
        return self.meta(self.features(x))


def stacking(members, X_holdout, y_holdout, num_classes: int | None = None, epochs: int = 300, lr: float = 0.05,
             weight_decay: float = 1e-3, seed: int = 0) -> Stacking:
    """Stacked generalisation (Wolpert, 1992): a multinomial logistic regression trained (full batch, Adam) on the
    members' probabilities for held-out examples the members did not train on, to predict the label."""
    import cnnkit as ck

    from ..functional import cross_entropy
    from ..optim import Adam

    members = list(members)
    for m in members:
        m.eval()
    y = np.asarray(y_holdout, dtype=np.int64)
    probs = np.concatenate([predict_proba(m, X_holdout) for m in members], axis=1).astype(np.float32)
    k = num_classes or probs.shape[1] // len(members)
    ck.manual_seed(seed)
    meta = nn.Linear(probs.shape[1], k)
    opt = Adam(meta.parameters(), lr=lr, weight_decay=weight_decay)
    features, target = Tensor(probs), Tensor(y)
    for _ in range(epochs):
        loss = cross_entropy(meta(features), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    stack = Stacking(members, meta)
    stack.eval()
    return stack
