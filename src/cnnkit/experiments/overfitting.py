"""``cnnkit experiment overfitting``: few training images make a plain CNN over-fit; L2, dropout and batch norm
against it, train vs validation loss side by side.

Set-up (from a short sweep; 150 training digits, 1,000 validation digits, 40 epochs, seed 0): SGD with momentum 0.9
at lr 0.05, so that L2 is exactly weight decay (Adam rescales the L2 gradient like any other, which weakened it in
an earlier version of this experiment). Every arm fits the 150 images, so over-fitting shows as the gap between
validation and training loss. Weight decay 1e-2 / 3e-2 / 5e-2 gave a validation loss of 0.32 / 0.68 / 2.31 against
0.56 without (the stronger two no longer fit the training set: under-fitting), hence 1e-2. What the sweep also
showed, and the report says: on these digits L2 shrinks the loss gap (the model's confidence in its wrong answers)
but not the accuracy gap, while dropout and batch norm shrink both.
"""

from __future__ import annotations

from pathlib import Path

from ._common import digits_subset, train_small_cnn

OPTIMIZER, LR = "momentum", 0.05
REGULARIZERS = {  # name -> (model kwargs, weight decay)
    "no regularization": ({"dropout": 0.0, "batch_norm": False}, 0.0),
    "L2 (weight decay 1e-2)": ({"dropout": 0.0, "batch_norm": False}, 1e-2),
    "dropout 0.5": ({"dropout": 0.5, "batch_norm": False}, 0.0),
    "batch norm": ({"dropout": 0.0, "batch_norm": True}, 0.0),
}


def run(out: Path, epochs: int = 40, seed: int = 0, n_train: int = 150, n_val: int = 1000) -> dict:
    """Train on few images so the plain model over-fits, then with L2, dropout and batch norm."""
    from .. import viz
    from ..training import History, diagnose

    loaders = digits_subset(n_train, n_val, seed)
    runs = {}
    for name, (kwargs, wd) in REGULARIZERS.items():
        runs[name] = train_small_cnn(kwargs, OPTIMIZER, LR, epochs, seed, loaders, weight_decay=wd)
        h = History([{"epoch": i + 1, **{k: v[i] for k, v in runs[name].items()}} for i in range(epochs)])
        runs[name]["diagnosis"] = diagnose(h)["verdict"]
    viz.plot_panels({name: {"train loss": r["loss"], "val loss": r["val_loss"]} for name, r in runs.items()},
                    out / "overfitting.png",
                    title=f"Train vs validation loss, {n_train} training digits: the gap is over-fitting")
    gaps = {name: r["accuracy"][-1] - r["val_accuracy"][-1] for name, r in runs.items()}
    loss_gaps = {name: r["val_loss"][-1] - r["loss"][-1] for name, r in runs.items()}
    summary = ", ".join(f"{name}: val loss {r['val_loss'][-1]:.3f} (loss gap {loss_gaps[name]:+.3f}), val acc "
                        f"{r['val_accuracy'][-1]:.1%}, gap {gaps[name]:+.1%}" for name, r in runs.items())
    return {"experiment": "overfitting", "epochs": epochs, "seed": seed, "n_train": n_train, "optimizer": OPTIMIZER,
            "lr": LR, "runs": runs, "final_gap": gaps, "final_loss_gap": loss_gaps,
            "files": ["overfitting.png", "overfitting.json"],
            "message": f"overfitting (final epoch; gap = train - validation accuracy, loss gap = validation - train "
                       f"loss): {summary}; plot in {out}"}
