"""``cnnkit experiment overfitting``: few training images make a plain CNN over-fit; L2, dropout and batch norm
against it, train vs validation loss side by side."""

from __future__ import annotations

from pathlib import Path

from ._common import digits_subset, train_small_cnn

REGULARIZERS = {  # name -> (model kwargs, weight decay)
    "no regularization": ({"dropout": 0.0, "batch_norm": False}, 0.0),
    "L2 (weight decay 1e-2)": ({"dropout": 0.0, "batch_norm": False}, 1e-2),
    "dropout 0.5": ({"dropout": 0.5, "batch_norm": False}, 0.0),
    "batch norm": ({"dropout": 0.0, "batch_norm": True}, 0.0),
}


def run(out: Path, epochs: int = 30, seed: int = 0, n_train: int = 150, n_val: int = 500) -> dict:
    """Train on few images so the plain model over-fits, then with L2, dropout and batch norm."""
    from .. import viz
    from ..training import History, diagnose

    loaders = digits_subset(n_train, n_val, seed)
    runs = {}
    for name, (kwargs, wd) in REGULARIZERS.items():
        runs[name] = train_small_cnn(kwargs, "adam", 3e-3, epochs, seed, loaders, weight_decay=wd)
        h = History([{"epoch": i + 1, **{k: v[i] for k, v in runs[name].items()}} for i in range(epochs)])
        runs[name]["diagnosis"] = diagnose(h)["verdict"]
    viz.plot_panels({name: {"train loss": r["loss"], "val loss": r["val_loss"]} for name, r in runs.items()},
                    out / "overfitting.png",
                    title=f"Train vs validation loss, {n_train} training digits: the gap is over-fitting")
    gaps = {name: r["accuracy"][-1] - r["val_accuracy"][-1] for name, r in runs.items()}
    summary = ", ".join(f"{name}: val loss {r['val_loss'][-1]:.3f}, val acc {r['val_accuracy'][-1]:.1%}, "
                        f"gap {gaps[name]:+.1%}" for name, r in runs.items())
    return {"experiment": "overfitting", "epochs": epochs, "seed": seed, "n_train": n_train, "runs": runs,
            "final_gap": gaps, "files": ["overfitting.png", "overfitting.json"],
            "message": f"overfitting (final epoch; gap = train - validation accuracy): {summary}; plot in {out}"}
