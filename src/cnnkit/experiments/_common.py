"""Shared by the experiments: a seeded subset of the bundled digits and one training run of the small CNN."""

from __future__ import annotations

import numpy as np


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
