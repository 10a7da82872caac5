"""``cnnkit experiment optimizers``: SGD, Momentum, AdaGrad, RMSprop and Adam train the same CNN from the same
initial weights; their loss curves on one plot, and their paths on a 2-D test function."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._common import digits_subset, train_small_cnn

OPTIMIZERS = {  # name -> (optimizer key, learning rate)
    "SGD": ("sgd", 0.05),
    "Momentum": ("momentum", 0.05),
    "AdaGrad": ("adagrad", 0.05),
    "RMSprop": ("rmsprop", 1e-3),
    "Adam": ("adam", 3e-3),
}


def valley(x, y):
    """The ill-conditioned bowl f(x, y) = x^2 / 20 + y^2 used to show how optimizers move."""
    return x * x / 20.0 + y * y


def optimizer_paths(steps: int = 40, start=(-7.0, 2.0)) -> dict:
    """Each optimizer's path minimising :func:`valley` from ``start`` (the classic 2-D picture)."""
    import cnnkit as ck

    from .. import optim

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


def run(out: Path, epochs: int = 8, seed: int = 0, n_train: int = 600, n_val: int = 300) -> dict:
    """Train the same CNN from the same initial weights with each optimizer; plot the loss curves."""
    from .. import viz

    loaders = digits_subset(n_train, n_val, seed)
    runs = {name: train_small_cnn({}, key, lr, epochs, seed, loaders) for name, (key, lr) in OPTIMIZERS.items()}
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
