"""Plots written to PNG files with matplotlib's Agg backend (no display needed).

Every function takes the numbers to draw and a path, writes the figure atomically and returns the path.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..atomic import atomic_write


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    with atomic_write(path) as f:
        f.write(buffer.getvalue())
    return Path(path)


def plot_curves(history, path, title: str = "Training curves", keys=("loss", "accuracy")) -> Path:
    """One panel per logged value in ``keys`` (those the history has), per epoch, train (solid) vs validation
    (dashed): the gap shows over-/under-fitting. A logged learning rate (``lr``) gets a panel of its own."""
    plt = _pyplot()
    epochs = history["epoch"]
    logged = history.keys()
    panels = [(key, key.replace("_", " ").capitalize().replace("iou", "IoU").replace("Psnr", "PSNR"))
              for key in keys if key in logged or f"val_{key}" in logged]
    with_lr = "lr" in logged and "lr" not in keys
    columns = len(panels) + with_lr
    fig, axes = plt.subplots(1, columns, figsize=(5.5 * columns, 4), squeeze=False, layout="constrained")
    if with_lr:
        ax, rates = axes[0][-1], [float(v) for v in history["lr"]]
        ax.plot(epochs, rates, "o-", color="tab:green", label="learning rate (end of epoch)")
        positive = [r for r in rates if r > 0]
        if positive and max(positive) / min(positive) > 100 and len(positive) == len(rates):
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("learning rate")
        ax.set_title("Learning rate")
        ax.grid(alpha=0.3)
        ax.legend()
    for ax, (key, label) in zip(axes[0][:len(panels)], panels, strict=True):
        if key in logged:  # some values are measured on validation data only (a detector's mAP)
            ax.plot(epochs, history[key], "o-", label=f"train {key}")
        if f"val_{key}" in history.keys():
            ax.plot(epochs, history[f"val_{key}"], "s--", label=f"validation {key}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    return _save(fig, path)


def plot_confusion(cm: np.ndarray, path, classes=None, title: str = "Confusion matrix (test set)") -> Path:
    """Counts of true class (rows) vs predicted class (columns), with the count in each cell."""
    plt = _pyplot()
    n = cm.shape[0]
    classes = [str(c) for c in (classes if classes is not None else range(n))]
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * n, 0.8 + 0.55 * n))
    im = ax.imshow(cm, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_xticks(range(n), classes, rotation=45 if max(map(len, classes)) > 2 else 0)
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    threshold = cm.max() / 2 if cm.size else 0
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if cm[i, j] > threshold else "black")
    accuracy = np.trace(cm) / max(cm.sum(), 1)
    ax.set_title(f"{title}\naccuracy {accuracy:.2%}")
    return _save(fig, path)


def plot_series(series: dict, path, xlabel: str = "epoch", ylabel: str = "loss", title: str = "",
                log_y: bool = False) -> Path:
    """Several named curves on one axis (e.g. the loss of each optimizer)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for name, values in series.items():
        ax.plot(np.arange(1, len(values) + 1), values, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if log_y:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def plot_paths_2d(fn, paths: dict, path, extent=(-2.0, 2.0, -1.0, 3.0), title: str = "", ncols: int = 3) -> Path:
    """Each optimizer's trajectory over the contours of a 2-D function ``fn(x, y)``, one panel per optimizer."""
    plt = _pyplot()
    xs = np.linspace(extent[0], extent[1], 200)
    ys = np.linspace(extent[2], extent[3], 200)
    X, Y = np.meshgrid(xs, ys)
    Z = fn(X, Y)
    nrows = -(-len(paths) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows), squeeze=False, layout="constrained")
    for ax, (name, points) in zip(axes.flat, paths.items(), strict=False):
        points = np.asarray(points)
        ax.contour(X, Y, np.log1p(Z - Z.min()), levels=20, cmap="Greys", linewidths=0.6)
        ax.plot(points[:, 0], points[:, 1], "o-", color="tab:red", markersize=2, linewidth=1)
        ax.plot([0], [0], "+", color="black", markersize=10)
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
        ax.set_title(f"{name}: {len(points) - 1} steps")
    for ax in list(axes.flat)[len(paths):]:
        ax.axis("off")
    fig.suptitle(title)
    return _save(fig, path)


def plot_panels(panels: dict, path, ncols: int = 2, ylabel: str = "loss", title: str = "") -> Path:
    """A grid of small plots, each a dict of named curves (e.g. train vs validation per regularizer)."""
    plt = _pyplot()
    n = len(panels)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 3.6 * nrows), squeeze=False,
                             layout="constrained")
    for ax, (name, series) in zip(axes.flat, panels.items(), strict=False):
        for label, values in series.items():
            ax.plot(np.arange(1, len(values) + 1), values, "--" if label.startswith("val") else "-", label=label)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(title)
    return _save(fig, path)
