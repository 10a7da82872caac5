"""The lessons as runnable experiments (``cnnkit experiment optimizers | overfitting``).

Each trains real models on the bundled digits, writes a PNG of what it measured and a JSON of the same numbers,
and returns those numbers; the plotted series ARE the trained histories.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .atomic import write_text
from .errors import InputError

OPTIMIZERS = {  # name -> (optimizer key, learning rate)
    "SGD": ("sgd", 0.05),
    "Momentum": ("momentum", 0.05),
    "AdaGrad": ("adagrad", 0.05),
    "RMSprop": ("rmsprop", 1e-3),
    "Adam": ("adam", 3e-3),
}


def _digits_subset(n_train: int, n_val: int, seed: int):
    from .data import ArrayDataset, DataLoader, Digits

    images, labels = Digits(train=True).arrays()
    order = np.random.default_rng(seed).permutation(len(labels))
    tr, va = order[:n_train], order[n_train:n_train + n_val]
    train = DataLoader(ArrayDataset(images[tr], labels[tr]), batch_size=32, shuffle=True)
    val = DataLoader(ArrayDataset(images[va], labels[va]), batch_size=256)
    return train, val


def _train(model_kwargs: dict, optimizer: str, lr: float, epochs: int, seed: int, loaders, weight_decay=0.0):
    """Train a fresh SmallCNN from the seed's initial weights; the same seed gives the same batch order."""
    import cnnkit as ck

    from .models.small import small_cnn
    from .optim.factory import make_optimizer
    from .training import Trainer

    ck.manual_seed(seed)
    model = small_cnn(num_classes=10, in_channels=1, input_size=8, **model_kwargs)
    optimizer = make_optimizer(optimizer, model.parameters(), lr=lr, weight_decay=weight_decay)
    history = Trainer(model, optimizer).fit(loaders[0], loaders[1], epochs=epochs)
    return {key: [float(v) for v in history[key]] for key in ("loss", "accuracy", "val_loss", "val_accuracy")}


def valley(x, y):
    """The ill-conditioned bowl f(x, y) = x^2 / 20 + y^2 used to show how optimizers move."""
    return x * x / 20.0 + y * y


def optimizer_paths(steps: int = 40, start=(-7.0, 2.0)) -> dict:
    """Each optimizer's path minimising :func:`valley` from ``start`` (the classic 2-D picture)."""
    import cnnkit as ck

    from . import optim

    settings = {  # name -> (optimizer class, keyword arguments)
        "SGD": (optim.SGD, {"lr": 0.95}), "Momentum": (optim.SGD, {"lr": 0.1, "momentum": 0.9}),
        "AdaGrad": (optim.Adagrad, {"lr": 1.5}), "RMSprop": (optim.RMSprop, {"lr": 0.15}),
        "Adam": (optim.Adam, {"lr": 0.3}),
    }
    paths = {}
    for name, (cls, kwargs) in settings.items():
        p = ck.tensor(np.array(start, dtype=np.float64), requires_grad=True)
        opt = cls([p], **kwargs)
        points = [p.data.copy()]
        for _ in range(steps):
            opt.zero_grad()
            valley(p[0], p[1]).backward()
            opt.step()
            points.append(p.data.copy())
        paths[name] = np.stack(points).tolist()
    return paths


def run_optimizers(out: Path, epochs: int = 8, seed: int = 0, n_train: int = 600, n_val: int = 300) -> dict:
    """Train the same CNN from the same initial weights with each optimizer; plot the loss curves."""
    from . import viz

    loaders = _digits_subset(n_train, n_val, seed)
    runs = {name: _train({}, key, lr, epochs, seed, loaders) for name, (key, lr) in OPTIMIZERS.items()}
    paths = optimizer_paths()
    viz.plot_series({name: r["loss"] for name, r in runs.items()}, out / "optimizers.png", ylabel="training loss",
                    title=f"Same CNN, same initial weights, {n_train} digits: training loss per optimizer",
                    log_y=True)
    viz.plot_paths_2d(lambda x, y: valley(x, y), paths, out / "optimizer_paths.png", extent=(-10, 10, -5, 5),
                      title="Paths on f(x, y) = x^2/20 + y^2 from (-7, 2)")
    final = {name: r["val_accuracy"][-1] for name, r in runs.items()}
    best = max(final, key=final.get)
    return {"experiment": "optimizers", "epochs": epochs, "seed": seed, "learning_rates":
            {n: lr for n, (_, lr) in OPTIMIZERS.items()}, "runs": runs, "paths": paths,
            "files": ["optimizers.png", "optimizer_paths.png", "optimizers.json"],
            "message": f"optimizers: best final validation accuracy {final[best]:.1%} with {best}; "
                       f"plots in {out}"}


REGULARIZERS = {  # name -> (model kwargs, weight decay)
    "no regularization": ({"dropout": 0.0, "batch_norm": False}, 0.0),
    "L2 (weight decay 1e-2)": ({"dropout": 0.0, "batch_norm": False}, 1e-2),
    "dropout 0.5": ({"dropout": 0.5, "batch_norm": False}, 0.0),
    "batch norm": ({"dropout": 0.0, "batch_norm": True}, 0.0),
}


def run_overfitting(out: Path, epochs: int = 30, seed: int = 0, n_train: int = 150, n_val: int = 500) -> dict:
    """Train on few images so the plain model over-fits, then with L2, dropout and batch norm."""
    from . import viz
    from .training import History, diagnose

    loaders = _digits_subset(n_train, n_val, seed)
    runs = {}
    for name, (kwargs, wd) in REGULARIZERS.items():
        runs[name] = _train(kwargs, "adam", 3e-3, epochs, seed, loaders, weight_decay=wd)
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


def run_experiment(name: str, out=None, epochs: int | None = None, seed: int = 0) -> dict:
    """Run an experiment by name, write its PNG(s) and JSON into ``out``, return the numbers."""
    out = Path(out or f"runs/experiment-{name}")
    out.mkdir(parents=True, exist_ok=True)
    if name == "optimizers":
        result = run_optimizers(out, **({"epochs": epochs} if epochs else {}), seed=seed)
    elif name == "overfitting":
        result = run_overfitting(out, **({"epochs": epochs} if epochs else {}), seed=seed)
    else:
        raise InputError(f"experiment: unknown experiment {name!r}; expected 'optimizers' or 'overfitting'")
    write_text(out / f"{name}.json", json.dumps(result, indent=2))
    result["out"] = str(out)
    return result
