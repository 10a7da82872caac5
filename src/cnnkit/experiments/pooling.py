"""``cnnkit experiment pooling``: max against average pooling. A real photograph (Grace Hopper, public domain, from
matplotlib's sample data) pooled 2x2 again and again: max pooling keeps the strongest response in each window, so
bright edges and thin strokes survive; average pooling is a blur followed by subsampling, so edges fade. The
picture's edge strength (mean absolute difference between neighbouring pixels, relative to the image's contrast)
is measured at each level. Then the same small CNN with max and with average pooling on the digits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._common import digits_arrays, fit, loaders_from, test_scores
from ._nets import SmallConvNet


def sample_image(size: int = 256) -> np.ndarray:
    """matplotlib's bundled photograph of Grace Hopper as a grey (size, size) array in [0, 1]."""
    from matplotlib import cbook
    from PIL import Image

    with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as im:
        grey = im.convert("L")
        side = min(grey.size)
        grey = grey.crop((0, 0, side, side)).resize((size, size), Image.BILINEAR)
        return np.asarray(grey, dtype=np.float32) / 255.0


def edge_strength(image: np.ndarray) -> float:
    """Mean absolute difference between horizontally and vertically neighbouring pixels over the image's standard
    deviation (a scale-free measure of how much edge the picture keeps)."""
    dx = np.abs(np.diff(image, axis=1)).mean()
    dy = np.abs(np.diff(image, axis=0)).mean()
    return float((dx + dy) / 2 / max(image.std(), 1e-12))


def pool_levels(image: np.ndarray, levels: int) -> dict:
    """{"max": [...], "average": [...]}: the image pooled 2x2 (stride 2) 1..levels times by cnnkit's ops."""
    import cnnkit as ck
    import cnnkit.nn.functional as F

    out = {"max": [], "average": []}
    for kind, op in (("max", F.max_pool2d), ("average", F.avg_pool2d)):
        x = ck.tensor(image[None, None])
        for _ in range(levels):
            x = op(x, 2)
            out[kind].append(x.numpy()[0, 0].copy())
    return out


def run(out: Path, epochs: int = 15, seed: int = 0, levels: int = 3, image_size: int = 256, width: int = 8,
        n_train: int | None = None, n_val: int = 300, lr: float = 3e-3) -> dict:
    """Pool the photograph ``levels`` times each way and measure its edges; train :class:`SmallConvNet` with each
    pooling on the digits (Adam at ``lr``, ``epochs`` epochs, same initial weights)."""
    import cnnkit as ck

    from .. import viz

    image = sample_image(image_size)
    pooled = pool_levels(image, levels)
    edges = {kind: [edge_strength(image)] + [edge_strength(p) for p in images] for kind, images in pooled.items()}
    rows = {kind: [("original", image)] + [(f"{2 ** (i + 1)}x smaller, edges {edges[kind][i + 1]:.3f}", p)
                                          for i, p in enumerate(images)] for kind, images in pooled.items()}
    viz.plot_image_rows(rows, out / "pooling_image.png",
                        title=f"2x2 pooling applied {levels} times (edge strength of the original "
                              f"{edges['max'][0]:.3f})")
    arrays = digits_arrays(n_train, n_val, seed)
    loaders = loaders_from(arrays, batch_size=32)
    runs = {}
    for kind in ("max", "avg"):
        ck.manual_seed(seed)
        model = SmallConvNet(width, pool=kind)
        ck.manual_seed(seed + 1)
        runs[kind] = fit(model, loaders, "adam", lr, epochs)
        runs[kind].update(test_scores(model, arrays))
    viz.plot_series({f"{k} pooling": r["val_accuracy"] for k, r in runs.items()}, out / "pooling_accuracy.png",
                    ylabel="validation accuracy", title="The same small CNN with max vs average pooling (digits)")
    return {"experiment": "pooling", "epochs": epochs, "seed": seed, "edge_strength": edges,
            "pooled_mean": {k: [float(p.mean()) for p in v] for k, v in pooled.items()}, "runs": runs,
            "files": ["pooling_image.png", "pooling_accuracy.png", "pooling.json"],
            "message": (f"pooling: edge strength after {levels} poolings max {edges['max'][-1]:.3f} vs average "
                        f"{edges['average'][-1]:.3f} (original {edges['max'][0]:.3f}); digits test accuracy max "
                        f"{runs['max']['test_accuracy']:.1%}, average {runs['avg']['test_accuracy']:.1%}; plots in "
                        f"{out}")}
