"""The training diagnostics' picture: per-layer numbers per epoch, one panel per statistic."""

from __future__ import annotations

import numpy as np

__all__ = ["plot_layer_stats"]

LOG_SCALE = ("grad_norm", "weight_norm")


def plot_layer_stats(series: dict, path, title: str = "Per-layer statistics per epoch"):
    """``series[stat][layer]`` is a list of per-epoch values; one panel per statistic, one line per layer coloured
    from the first layer (dark) to the last (light). Norms are drawn on a log scale."""
    from matplotlib.ticker import MaxNLocator

    from .plots import _pyplot, _save

    plt = _pyplot()
    stats = [s for s in series if series[s]]
    ncols = min(3, max(1, len(stats)))
    nrows = -(-max(1, len(stats)) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 3.8 * nrows), squeeze=False, layout="constrained")
    for ax, stat in zip(axes.flat, stats, strict=False):
        layers = list(series[stat])
        colours = plt.get_cmap("viridis")(np.linspace(0, 0.9, max(1, len(layers))))
        for colour, layer in zip(colours, layers, strict=True):
            values = series[stat][layer]
            ax.plot(np.arange(1, len(values) + 1), values, "o-", markersize=3, color=colour, label=layer)
        if stat in LOG_SCALE:
            ax.set_yscale("log")
        ax.set_title(stat.replace("_", " "))
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, ncol=1 + len(layers) // 8)
    for ax in list(axes.flat)[len(stats):]:
        ax.axis("off")
    fig.suptitle(title)
    return _save(fig, path)
