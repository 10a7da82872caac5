"""The first layer's filters as a picture: early filters of a trained CNN are edge, stripe and colour-blob detectors.

    weight, name = first_conv_weight(model)          # (out, in, kH, kW) of the first Conv2d
    grid = filter_grid(weight)                        # one tile per filter (RGB when in == 3), scaled per tile
    plot_filters(model, "filters.png")
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

__all__ = ["first_conv_weight", "filter_grid", "plot_filters"]


def first_conv_weight(model) -> tuple[np.ndarray, str]:
    """(weight array, layer name) of the model's first ``Conv2d`` in registration order."""
    from ..nn import Conv2d

    for name, module in model.named_modules():
        if isinstance(module, Conv2d):
            return module.weight.data.copy(), name
    raise InputError(f"{type(model).__name__} has no Conv2d layer: there are no filters to show")


def _scale(tile: np.ndarray) -> np.ndarray:
    """A tile mapped to [0, 1] symmetrically around 0.5 (zero weight is mid-grey)."""
    peak = float(np.abs(tile).max())
    return 0.5 + 0.5 * tile / peak if peak > 0 else np.full_like(tile, 0.5)


def filter_grid(weight: np.ndarray, ncols: int | None = None, pad: int = 1, max_tiles: int = 64) -> np.ndarray:
    """Tiles of a conv weight (out, in, kH, kW): one RGB tile per filter when ``in == 3``, else one grey tile per
    (filter, input channel) pair; each tile scaled so zero is mid-grey. Returns (H, W) or (H, W, 3) in [0, 1]
    with ``pad`` pixels of white between tiles; at most ``max_tiles`` tiles."""
    w = np.asarray(weight, dtype=np.float64)
    if w.ndim != 4:
        raise InputError(f"filter_grid: expected a conv weight (out, in, kH, kW), got shape {w.shape}")
    rgb = w.shape[1] == 3
    tiles = [_scale(f).transpose(1, 2, 0) for f in w] if rgb else [_scale(c) for f in w for c in f]
    tiles = tiles[:max_tiles]
    n = len(tiles)
    ncols = ncols or int(np.ceil(np.sqrt(n)))
    nrows = -(-n // ncols)
    kh, kw = w.shape[2:]
    shape = (nrows * (kh + pad) + pad, ncols * (kw + pad) + pad) + ((3,) if rgb else ())
    grid = np.ones(shape)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, ncols)
        grid[pad + r * (kh + pad): pad + r * (kh + pad) + kh, pad + c * (kw + pad): pad + c * (kw + pad) + kw] = tile
    return grid


def plot_filters(model_or_weight, path, title: str | None = None):
    """Write the first conv layer's filters (or a given weight array) as a grid picture."""
    from .plots import _pyplot, _save

    if isinstance(model_or_weight, np.ndarray):
        weight, name = model_or_weight, "weight"
    else:
        weight, name = first_conv_weight(model_or_weight)
    grid = filter_grid(weight)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.imshow(grid, cmap=None if grid.ndim == 3 else "gray", vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    out, cin, kh, kw = weight.shape
    tiles = out if cin == 3 else out * cin
    ax.set_title(title or f"{name}: {out} filters {cin}x{kh}x{kw}"
                 + (f" (first {min(tiles, 64)} of {tiles} tiles)" if tiles > 64 else "")
                 + "\ngrey = 0, light = positive, dark = negative")
    return _save(fig, path)
