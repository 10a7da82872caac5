"""Feature maps: what a named layer outputs for an input, captured by a forward hook.

    maps = feature_maps(model, image, "features.3")    # (C, h, w) for one image
    plot_feature_maps(maps, "maps.png", image=image)
"""

from __future__ import annotations

import numpy as np

from ..autograd import Tensor, no_grad
from ..errors import InputError
from ._hooks import as_batch, capture

__all__ = ["feature_maps", "plot_feature_maps"]


def feature_maps(model, image, layer: str) -> np.ndarray:
    """The output of layer ``layer`` for ``image`` (C, H, W) — (C', h, w) — or for a batch — (N, C', h, w) —
    in eval mode."""
    batch = as_batch(image)
    was_training = model.training
    model.eval()
    try:
        with no_grad(), capture(model, layer) as outputs:
            model(Tensor(batch))
    finally:
        model.train(was_training)
    if layer not in outputs:
        raise InputError(f"layer {layer!r} was not used by the model's forward pass", field="layer")
    out = np.asarray(outputs[layer])
    if out.ndim != 4:
        raise InputError(f"layer {layer!r} outputs shape {out.shape}, not a feature map (N, C, H, W); choose a "
                         f"convolutional layer", field="layer")
    return out[0] if np.asarray(image.data if isinstance(image, Tensor) else image).ndim == 3 else out


def plot_feature_maps(maps: np.ndarray, path, image: np.ndarray | None = None, title: str = "",
                      max_maps: int = 32):
    """A grid of the first ``max_maps`` channels of (C, h, w) feature maps (each scaled to its own range), the input
    image first when given."""
    from .plots import _pyplot, _save

    maps = np.asarray(maps)
    shown = maps[:max_maps]
    n = len(shown) + (image is not None)
    ncols = min(8, n)
    nrows = -(-n // ncols)
    plt = _pyplot()
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.6 * ncols, 1.7 * nrows + 0.6), squeeze=False)
    cells = list(axes.flat)
    if image is not None:
        img = np.asarray(image)
        cells[0].imshow(img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0), cmap="gray")
        cells[0].set_title("input", fontsize=8)
        cells = cells[1:]
    for i, (ax, m) in enumerate(zip(cells, shown, strict=False)):
        ax.imshow(m, cmap="viridis", interpolation="nearest")
        ax.set_title(f"ch {i}: max {m.max():.2g}", fontsize=7)
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle(title or f"{len(shown)} of {len(maps)} feature maps, {maps.shape[1]}x{maps.shape[2]} each")
    return _save(fig, path)
