"""Pictures that compare settings side by side: per-layer profiles, bar charts, histograms and image strips."""

from __future__ import annotations

import numpy as np

__all__ = ["plot_layer_profiles", "plot_bars", "plot_histogram_grid", "plot_image_rows", "plot_xy", "plot_image_grid",
           "plot_codes_2d",
           "plot_scatter"]


def plot_layer_profiles(panels: dict, path, ylabel: str = "gradient norm", title: str = "", log_y: bool = True):
    """``panels[panel][name]`` is a list of per-layer values (first layer first); one panel each, one line per name
    against the layer's depth."""
    from .plots import _pyplot, _save

    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.6 * len(panels), 4.2), squeeze=False, layout="constrained")
    for ax, (panel, profiles) in zip(axes[0], panels.items(), strict=True):
        for name, values in profiles.items():
            ax.plot(np.arange(1, len(values) + 1), values, "o-", markersize=3, label=name)
        ax.set_xlabel("layer (1 = nearest the input)")
        ax.set_ylabel(ylabel)
        if log_y:
            ax.set_yscale("log")
        ax.set_title(panel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)


def plot_bars(panels: dict, path, title: str = "", annotate: str = "{:.3f}"):
    """``panels[panel][name]`` is one number; one horizontal bar chart per panel (e.g. accuracy, loss, cost per
    method), each bar labelled with its value."""
    from .plots import _pyplot, _save

    plt = _pyplot()
    names = list(next(iter(panels.values())))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 0.45 * len(names) + 1.6), squeeze=False,
                             layout="constrained")
    for i, (ax, (panel, values)) in enumerate(zip(axes[0], panels.items(), strict=True)):
        v = [values[n] for n in names]
        ax.barh(np.arange(len(names)), v, color=plt.get_cmap("tab10")(np.arange(len(names)) % 10))
        ax.set_yticks(np.arange(len(names)), names if i == 0 else [""] * len(names))
        ax.invert_yaxis()
        for j, value in enumerate(v):
            ax.text(value, j, " " + annotate.format(value), va="center", fontsize=7)
        ax.set_title(panel)
        ax.grid(alpha=0.3, axis="x")
        finite = [x for x in v if np.isfinite(x)]
        if finite:
            lo, hi = min(finite), max(finite)
            ax.set_xlim(min(0, lo), hi * 1.25 if hi > 0 else 1)
    fig.suptitle(title)
    return _save(fig, path)


def plot_histogram_grid(cells: dict, path, title: str = "", bins: int = 60, xlabel: str = "activation"):
    """``cells[row][column][label]`` is an array of values; a grid of panels (rows x columns), each overlaying the
    histograms of its labelled arrays (e.g. the activations of a few layers per initialisation)."""
    from .plots import _pyplot, _save

    plt = _pyplot()
    rows = list(cells)
    cols = list(next(iter(cells.values())))
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(4.6 * len(cols), 2.5 * len(rows)), squeeze=False,
                             layout="constrained")
    for r, row in enumerate(rows):
        for c, col in enumerate(cols):
            ax = axes[r, c]
            for label, values in cells[row][col].items():
                values = np.asarray(values).ravel()
                spread = float(values.max() - values.min()) if values.size else 0.0
                ax.hist(values, bins=bins if spread > 0 else 1, histtype="step", density=True, label=label)
            ax.set_title(f"{row} — {col}", fontsize=9)
            ax.set_yscale("log")
            if r == len(rows) - 1:
                ax.set_xlabel(xlabel)
            ax.legend(fontsize=6)
    fig.suptitle(title)
    return _save(fig, path)


def plot_image_rows(rows: dict, path, title: str = "", cmap: str = "gray"):
    """``rows[row]`` is a list of (caption, 2-D image); one row of images each (e.g. an image max- vs
    average-pooled again and again)."""
    from .plots import _pyplot, _save

    plt = _pyplot()
    ncols = max(len(v) for v in rows.values())
    fig, axes = plt.subplots(len(rows), ncols, figsize=(2.8 * ncols, 3.0 * len(rows)), squeeze=False,
                             layout="constrained")
    for r, (row, images) in enumerate(rows.items()):
        for c in range(ncols):
            ax = axes[r, c]
            ax.axis("off")
            if c < len(images):
                caption, image = images[c]
                ax.imshow(image, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
                ax.set_title(f"{row}: {caption}", fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)


def plot_xy(panels: dict, path, title: str = "", log_y: bool = True):
    """``panels[panel] = {"xlabel": ..., "ylabel": ..., "series": {name: (xs, ys)}}``; one panel each, one line per
    series (e.g. loss against epochs and against seconds)."""
    from .plots import _pyplot, _save

    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.6 * len(panels), 4.2), squeeze=False, layout="constrained")
    for ax, (panel, spec) in zip(axes[0], panels.items(), strict=True):
        for name, (xs, ys) in spec["series"].items():
            ax.plot(xs, ys, "o-", markersize=3, label=name)
        ax.set_xlabel(spec.get("xlabel", ""))
        ax.set_ylabel(spec.get("ylabel", ""))
        if log_y and spec.get("log_y", True):
            ax.set_yscale("log")
        ax.set_title(panel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)


def plot_image_grid(rows: dict, path, title: str = "", cmap: str = "gray"):
    """``rows[name]`` is an array of images (N, H, W) or (N, C, H, W) in [0, 1]; one compact row per name (named on
    the left), the same N columns in each (e.g. originals and their reconstructions by several methods)."""
    from .plots import _pyplot, _save

    plt = _pyplot()
    ncols = max(len(v) for v in rows.values())
    fig, axes = plt.subplots(len(rows), ncols, figsize=(0.95 * ncols + 1.6, 1.0 * len(rows) + 0.6), squeeze=False,
                             layout="constrained")
    for r, (name, images) in enumerate(rows.items()):
        images = np.asarray(images)
        for c in range(ncols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(images):
                img = images[c]
                if img.ndim == 3:
                    img = img[0] if img.shape[0] == 1 else np.clip(img.transpose(1, 2, 0), 0, 1)
                ax.imshow(img, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
            else:
                ax.axis("off")
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)


def plot_codes_2d(panels: dict, labels, path, title: str = ""):
    """``panels[name]`` is an (N, 2) array of 2-D codes; one scatter panel each, points coloured by ``labels``
    (N,) with a legend of the label values."""
    from .plots import _pyplot, _save

    plt = _pyplot()
    labels = np.asarray(labels)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 4.2), squeeze=False, layout="constrained")
    cmap = plt.get_cmap("tab10")
    for ax, (name, codes) in zip(axes[0], panels.items(), strict=True):
        codes = np.asarray(codes)
        for i, value in enumerate(np.unique(labels)):
            pick = labels == value
            ax.scatter(codes[pick, 0], codes[pick, 1], s=6, color=cmap(i % 10), label=str(value))
        ax.set_title(name)
        ax.set_xlabel("code 1")
        ax.set_ylabel("code 2")
        ax.grid(alpha=0.3)
    axes[0, -1].legend(fontsize=7, markerscale=2, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(title)
    return _save(fig, path)


def plot_scatter(points: dict, path, xlabel: str = "", ylabel: str = "", title: str = "", log_x: bool = True):
    """``points[name] = (x, y)``: one labelled point per name (e.g. seconds per image against accuracy)."""
    from .plots import _pyplot, _save

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.6), layout="constrained")
    colours = plt.get_cmap("tab10")(np.arange(len(points)) % 10)
    for colour, (name, (x, y)) in zip(colours, points.items(), strict=True):
        ax.scatter([x], [y], s=60, color=colour)
        ax.annotate(f" {name}", (x, y), fontsize=9, va="center")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if log_x and all(x > 0 for x, _ in points.values()):
        ax.set_xscale("log")
    ax.grid(alpha=0.3, which="both")
    ax.set_title(title)
    return _save(fig, path)
