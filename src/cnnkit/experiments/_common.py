"""Shared by the experiments: a seeded subset of the bundled digits and one training run of the small CNN."""

from __future__ import annotations

import time

import numpy as np

from ..training.callbacks import Callback


def digits_subset(n_train: int, n_val: int, seed: int):
    from ..data import ArrayDataset, DataLoader, Digits

    images, labels = Digits(train=True).arrays()
    order = np.random.default_rng(seed).permutation(len(labels))
    tr, va = order[:n_train], order[n_train:n_train + n_val]
    train = DataLoader(ArrayDataset(images[tr], labels[tr]), batch_size=32, shuffle=True)
    val = DataLoader(ArrayDataset(images[va], labels[va]), batch_size=256)
    return train, val


def train_small_cnn(model_kwargs: dict, optimizer: str, lr: float, epochs: int, seed: int, loaders, weight_decay=0.0):
    """Train a fresh SmallCNN from the seed's initial weights; the same seed gives the same batch order."""
    import cnnkit as ck

    from ..models.small import small_cnn
    from ..optim.factory import make_optimizer
    from ..training import Trainer

    ck.manual_seed(seed)
    model = small_cnn(num_classes=10, in_channels=1, input_size=8, **model_kwargs)
    optimizer = make_optimizer(optimizer, model.parameters(), lr=lr, weight_decay=weight_decay)
    history = Trainer(model, optimizer).fit(loaders[0], loaders[1], epochs=epochs)
    return {key: [float(v) for v in history[key]] for key in ("loss", "accuracy", "val_loss", "val_accuracy")}


def digits_arrays(n_train: int | None = None, n_val: int = 0, seed: int = 0):
    """Seeded (train, validation) arrays from the bundled digits' training split and the fixed test split:
    ``{"train": (X, y), "val": (X, y), "test": (X, y)}``; ``n_train`` None takes all that the validation leaves."""
    from ..data import Digits

    images, labels = Digits(train=True).arrays()
    order = np.random.default_rng(seed).permutation(len(labels))
    va = order[:n_val]
    tr = order[n_val:] if n_train is None else order[n_val:n_val + n_train]
    test_x, test_y = Digits(train=False).arrays()
    return {"train": (images[tr], labels[tr]), "val": (images[va], labels[va]), "test": (test_x, test_y)}


def loaders_from(arrays: dict, batch_size: int = 32):
    """(train, validation) DataLoaders of :func:`digits_arrays`' output (validation None when empty)."""
    from ..data import ArrayDataset, DataLoader

    train = DataLoader(ArrayDataset(*arrays["train"]), batch_size=batch_size, shuffle=True)
    val = DataLoader(ArrayDataset(*arrays["val"]), batch_size=256) if len(arrays["val"][1]) else None
    return train, val


class CPUClock(Callback):
    """A callback that records the cumulative CPU and wall seconds at the end of each epoch."""

    def __init__(self):
        self.cpu, self.wall = [], []

    def on_train_begin(self, trainer, logs):
        self._cpu0, self._wall0 = time.process_time(), time.perf_counter()

    def on_epoch_end(self, trainer, logs):
        self.cpu.append(time.process_time() - self._cpu0)
        self.wall.append(time.perf_counter() - self._wall0)


def fit(model, loaders, optimizer: str = "adam", lr: float = 3e-3, epochs: int = 5, momentum=None, weight_decay=0.0,
        callbacks=(), keys=("loss", "accuracy", "val_loss", "val_accuracy"), task="classification") -> dict:
    """Train ``model`` with a named optimizer on ``task``; returns the per-epoch ``keys`` plus ``cpu_seconds`` and
    ``wall_seconds`` (cumulative at each epoch's end)."""
    from ..optim.factory import make_optimizer
    from ..training import Trainer

    opt = make_optimizer(optimizer, model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    clock = CPUClock()
    history = Trainer(model, opt, task=task, callbacks=[clock, *callbacks]).fit(loaders[0], loaders[1], epochs=epochs)
    out = {key: [float(v) for v in history[key]] for key in keys if key in history.keys()}
    out.update(cpu_seconds=clock.cpu, wall_seconds=clock.wall)
    return out


def test_scores(model, arrays: dict) -> dict:
    """Test accuracy and loss (mean cross-entropy) of a classifier on ``arrays["test"]``."""
    from ..models.ensemble import predict_proba

    x, y = arrays["test"]
    p = predict_proba(model, x)
    return {"test_accuracy": float((p.argmax(1) == y).mean()),
            "test_loss": float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None)).mean())}
