"""``cnnkit experiment ensembles``: several models classify better than one. On the digits, the same small CNN
trained from different seeds, combined by probability averaging and by majority vote; bagging (bootstrap-resampled
training sets: averaging away variance); boosting (multi-class AdaBoost/SAMME over deliberately weak CNNs, each
fitted to the examples the previous ones got wrong: reducing bias); stacking (a logistic-regression meta-classifier
trained on the members' outputs for held-out digits); and a snapshot ensemble (one run, a cyclic cosine learning
rate, a member at the end of each cycle: several models for the price of one). Test accuracy, test loss
(negative log-likelihood) and training cost of each.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ._common import digits_arrays
from ._nets import SmallConvNet, count_parameters


def _nll(p: np.ndarray, y: np.ndarray) -> float:
    return float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None)).mean())


def _scores(p: np.ndarray, y: np.ndarray) -> dict:
    return {"test_accuracy": float((p.argmax(1) == y).mean()), "test_loss": _nll(p, y)}


def _snapshot_members(make, X, y, cycles: int, cycle_epochs: int, lr: float, seed: int):
    """One model trained with Adam under a cyclic cosine rate (restarted ``cycles`` times); a copy of the weights at
    the end of each cycle."""
    import cnnkit as ck

    from ..data import ArrayDataset, DataLoader
    from ..optim import Adam
    from ..optim.lr_scheduler import CosineAnnealingWarmRestarts
    from ..training import Callback, Trainer

    model = make(seed)
    loader = DataLoader(ArrayDataset(X, y), batch_size=32, shuffle=True)
    opt = Adam(model.parameters(), lr=lr)
    sched = CosineAnnealingWarmRestarts(opt, T_0=cycle_epochs * len(loader))
    states = []

    class Snapshot(Callback):
        def on_epoch_end(self, trainer, logs):
            if logs["epoch"] % cycle_epochs == 0:
                states.append(trainer.model.state_dict())

    ck.manual_seed(seed)
    Trainer(model, opt, scheduler=sched, scheduler_per_batch=True, callbacks=[Snapshot()]).fit(
        loader, None, epochs=cycles * cycle_epochs)
    members = []
    for state in states:
        m = make(seed)
        m.load_state_dict(state)
        m.eval()
        members.append(m)
    return members


def run(out: Path, epochs: int = 30, seed: int = 0, members: int = 5, width: int = 16, weak_width: int = 2,
        weak_epochs: int = 2, boost_rounds: int = 10, n_train: int | None = None, n_holdout: int = 287,
        lr: float = 3e-3) -> dict:
    """Train and combine the ensembles of the module docstring. Every strong member is :class:`SmallConvNet` of
    ``width`` trained ``epochs`` epochs with Adam at ``lr``; the snapshot ensemble is ONE such model trained for the
    same total (``members`` cycles of ``epochs / members`` epochs, at least 1); boosting uses ``boost_rounds``
    weak members of width ``weak_width`` trained ``weak_epochs`` epochs."""
    import cnnkit as ck

    from .. import viz
    from ..models.ensemble import bagging, boosting, combine, predict_proba, stacking, train_classifier

    data = digits_arrays(n_train, n_holdout, seed)
    (X, y), (Xh, yh), (Xt, yt) = data["train"], data["val"], data["test"]

    def make(i, w=width):
        ck.manual_seed(seed * 1000 + i)
        return SmallConvNet(w)

    def fit_strong(model, Xs, ys, weights, i=0):
        return train_classifier(model, Xs, ys, weights, epochs=epochs, lr=lr, seed=seed * 1000 + i)

    rows, cost = {}, {}
    train_classifier(make(999), X[:32], y[:32], None, epochs=1, lr=lr)  # compile the kernels before any timing
    # independent models: the same network and data, different seeds
    start = time.process_time()
    singles = [fit_strong(make(i), X, y, None, i) for i in range(members)]
    single_cpu = (time.process_time() - start) / members
    test_probs = np.stack([predict_proba(m, Xt) for m in singles])
    hold_probs = np.stack([predict_proba(m, Xh) for m in singles])
    member_scores = [_scores(p, yt) for p in test_probs]
    chosen = int(np.argmin([_nll(p, yh) for p in hold_probs]))  # the best single model, chosen on held-out data
    best_test = int(np.argmin([s["test_loss"] for s in member_scores]))
    rows["best single (held-out choice)"] = member_scores[chosen]
    cost["best single (held-out choice)"] = {"members": 1, "member_epochs": epochs, "cpu_seconds": single_cpu}
    rows["best single (by test loss)"] = member_scores[best_test]
    cost["best single (by test loss)"] = cost["best single (held-out choice)"]
    rows[f"average of {members}"] = _scores(combine(test_probs, "mean"), yt)
    rows[f"vote of {members}"] = {**_scores(combine(test_probs, "mean"), yt),
                                  "test_accuracy": float((combine(test_probs, "vote").argmax(1) == yt).mean())}
    for name in (f"average of {members}", f"vote of {members}"):
        cost[name] = {"members": members, "member_epochs": members * epochs, "cpu_seconds": single_cpu * members}
    # bagging
    start = time.process_time()
    counter = iter(range(100, 200))
    bag = bagging(lambda i: make(100 + i), X, y, n_models=members, seed=seed,
                  fit=lambda m, Xs, ys, w: fit_strong(m, Xs, ys, w, next(counter)))
    cost[f"bagging of {members}"] = {"members": members, "member_epochs": members * epochs,
                                     "cpu_seconds": time.process_time() - start}
    bag_probs = np.stack([predict_proba(m, Xt) for m in bag.members])
    rows[f"bagging of {members}"] = _scores(combine(bag_probs, "mean"), yt)
    # boosting (SAMME) with weak members
    start = time.process_time()
    weak_counter = iter(range(200, 400))
    boost = boosting(lambda i: make(200 + i, weak_width), X, y, num_classes=10, n_models=boost_rounds,
                     fit=lambda m, Xs, ys, w: train_classifier(m, Xs, ys, w, epochs=weak_epochs, lr=lr,
                                                               seed=next(weak_counter)))
    kept = len(boost.members)
    cost[f"boosting (SAMME) of {kept} weak"] = {"members": kept, "member_epochs": len(boost.info) * weak_epochs,
                                                "cpu_seconds": time.process_time() - start}
    weak_probs = np.stack([predict_proba(m, Xt) for m in boost.members])
    weak_scores = [_scores(p, yt) for p in weak_probs]
    rows[f"boosting (SAMME) of {kept} weak"] = {
        **_scores(combine(weak_probs, "mean", boost.weights), yt),
        "test_accuracy": float((combine(weak_probs, "vote", boost.weights).argmax(1) == yt).mean())}
    rows["one weak member"] = weak_scores[0]
    cost["one weak member"] = {"members": 1, "member_epochs": weak_epochs,
                               "cpu_seconds": boost.info[0]["seconds"]}
    # stacking on the independent models
    start = time.process_time()
    stack = stacking(singles, Xh, yh, seed=seed)
    stack_probs = predict_proba(stack, Xt)
    rows[f"stacking of {members}"] = _scores(stack_probs, yt)
    cost[f"stacking of {members}"] = {"members": members, "member_epochs": members * epochs,
                                      "cpu_seconds": single_cpu * members + time.process_time() - start}
    # snapshot ensemble: one run of the same total length as ONE independent model
    cycle_epochs = max(1, epochs // members)
    start = time.process_time()
    snaps = _snapshot_members(lambda i: make(300), X, y, members, cycle_epochs, lr, seed)
    cost[f"snapshot ensemble of {members}"] = {"members": members, "member_epochs": members * cycle_epochs,
                                               "cpu_seconds": time.process_time() - start}
    snap_probs = np.stack([predict_proba(m, Xt) for m in snaps])
    rows[f"snapshot ensemble of {members}"] = _scores(combine(snap_probs, "mean"), yt)
    rows["last snapshot alone"] = _scores(snap_probs[-1], yt)
    cost["last snapshot alone"] = cost[f"snapshot ensemble of {members}"]

    names = list(rows)
    viz.plot_bars({"test accuracy": {n: rows[n]["test_accuracy"] for n in names},
                   "test loss (NLL)": {n: rows[n]["test_loss"] for n in names},
                   "training CPU seconds": {n: cost[n]["cpu_seconds"] for n in names}},
                  out / "ensembles.png", annotate="{:.4g}",
                  title=f"Ensembles on the digits ({len(yt)} test images; vote rows: loss of the averaged "
                        f"probabilities)")
    single = rows["best single (by test loss)"]
    average = rows[f"average of {members}"]
    snapshot = rows[f"snapshot ensemble of {members}"]
    return {"experiment": "ensembles", "epochs": epochs, "seed": seed, "members": members, "width": width,
            "parameters_per_member": count_parameters(singles[0]),
            "weak_parameters": count_parameters(boost.members[0]), "results": rows, "cost": cost,
            "member_test_scores": member_scores, "weak_member_test_scores": weak_scores, "boosting": boost.info,
            "bagging": bag.info, "chosen_single": chosen,
            "ensemble_beats_best_single_loss": average["test_loss"] < single["test_loss"],
            "files": ["ensembles.png", "ensembles.json"],
            "message": (f"ensembles: best single model test accuracy {single['test_accuracy']:.2%}, loss "
                        f"{single['test_loss']:.4f}; average of {members}: {average['test_accuracy']:.2%}, "
                        f"{average['test_loss']:.4f}; snapshot ensemble of {members}: "
                        f"{snapshot['test_accuracy']:.2%}, {snapshot['test_loss']:.4f}; all rows in "
                        f"{out / 'ensembles.json'}, plot in {out}")}
