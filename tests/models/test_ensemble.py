"""Ensembles: averaging and voting by hand, weights, the log-probability output, and bagging / boosting (SAMME) /
stacking on a small separable problem."""

import numpy as np
import pytest

import cnnkit as ck
import cnnkit.nn as nn
import cnnkit.nn.functional as F
from cnnkit.models import Ensemble, bagging, boosting, stacking
from cnnkit.models.ensemble import combine, ensemble_report, predict_proba, train_classifier


class Fixed(nn.Module):
    """A 'model' returning fixed logits, whatever the input."""

    def __init__(self, logits):
        super().__init__()
        self.logits = np.asarray(logits, np.float32)

    def forward(self, x):
        return ck.tensor(self.logits)


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_mean_and_vote_by_hand():
    logits = np.array([[[2.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]], [[0.0, 1.5, 0.0]]])
    probs = _softmax(logits.reshape(3, 3)).reshape(3, 1, 3)
    x = ck.zeros((1, 1))
    mean = Ensemble([Fixed(z) for z in logits])(x).numpy()
    np.testing.assert_allclose(np.exp(mean), probs.mean(axis=0), rtol=1e-5)
    vote = Ensemble([Fixed(z) for z in logits], mode="vote")(x).numpy()
    assert np.exp(vote).argmax() == 1 and np.exp(vote)[0, 1] == pytest.approx(2 / 3, abs=1e-5)
    weighted = Ensemble([Fixed(z) for z in logits], mode="vote", weights=[5, 1, 1])(x).numpy()
    assert weighted.argmax() == 0  # a heavier member outvotes two lighter ones
    np.testing.assert_allclose(combine(probs, "mean", [1, 0, 0]), probs[0])


def test_vote_ties_go_to_the_more_confident_class():
    probs = np.array([[[0.6, 0.4]], [[0.1, 0.9]]])
    assert combine(probs, "vote").argmax() == 1


def test_cross_entropy_of_the_output_is_the_ensemble_nll_and_differentiable():
    ck.manual_seed(0)
    members = [nn.Linear(4, 3) for _ in range(3)]
    x = ck.randn(5, 4)
    y = ck.tensor(np.array([0, 1, 2, 1, 0]))
    ens = Ensemble(members)
    loss = F.cross_entropy(ens(x), y)
    p = np.mean([_softmax(m(x).numpy()) for m in members], axis=0)
    assert loss.item() == pytest.approx(-np.log(p[np.arange(5), y.numpy()]).mean(), rel=1e-5)
    loss.backward()
    assert all(m.weight.grad is not None for m in members)
    assert len(ens.state_dict()) == 6 and "members.2.bias" in ens.state_dict()


def test_report_and_bad_input():
    probs = np.array([[[0.9, 0.1], [0.4, 0.6]], [[0.6, 0.4], [0.2, 0.8]]])
    report = ensemble_report(probs, [0, 1])
    assert report["members"][1]["test_loss"] == pytest.approx(-(np.log(0.6) + np.log(0.8)) / 2)
    assert report["mean"]["test_loss"] == pytest.approx(-(np.log(0.75) + np.log(0.7)) / 2)
    assert report["best_member"] == 0 and report["vote"]["test_accuracy"] == 1.0
    with pytest.raises(ck.InputError, match="mode"):
        Ensemble([nn.Linear(2, 2)], mode="median")
    with pytest.raises(ck.InputError, match="weights"):
        Ensemble([nn.Linear(2, 2)], weights=[1, 2])


def _blobs(n=120, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centres = np.array([[0, 0], [2.5, 0], [0, 2.5]])
    x = (centres[y] + rng.normal(0, 0.8, (n, 2))).astype(np.float32)
    return x, y


def test_bagging_boosting_stacking_build_working_ensembles():
    x, y = _blobs()
    xt, yt = _blobs(seed=1)

    def make(i):
        ck.manual_seed(i)
        return nn.Linear(2, 3)

    def fit(model, X, Y, w):
        return train_classifier(model, X, Y, w, epochs=15, lr=0.05, batch_size=32)

    bag = bagging(make, x, y, n_models=3, fit=fit)
    assert len(bag.members) == 3 and all(30 < i["distinct"] < 100 for i in bag.info)
    assert (predict_proba(bag, xt).argmax(1) == yt).mean() > 0.8

    def stump(i):  # a deliberately weak learner: it sees only one input feature
        ck.manual_seed(i)
        return nn.Sequential(nn.Linear(2, 1, bias=False), nn.Linear(1, 3))

    boost = boosting(stump, x, y, num_classes=3, n_models=4, fit=fit)
    errors = [i["error"] for i in boost.info if i["kept"]]
    assert boost.mode == "vote" and len(boost.members) >= 2 and errors[0] < 2 / 3
    np.testing.assert_allclose(boost.weights, [i["alpha"] for i in boost.info if i["kept"]])

    stack = stacking(bag.members, xt[:60], yt[:60], epochs=100)
    assert stack(ck.tensor(xt[60:])).shape == (60, 3)
    assert (stack(ck.tensor(xt[60:])).numpy().argmax(1) == yt[60:]).mean() > 0.8


def test_weighted_training_follows_the_weights():
    x, y = _blobs()
    w = np.where(y == 0, 1.0, 1e-6)  # only class 0 matters
    ck.manual_seed(0)
    model = train_classifier(nn.Linear(2, 3), x, y, w, epochs=20, lr=0.05)
    assert (predict_proba(model, x).argmax(1) == 0).mean() > 0.9
