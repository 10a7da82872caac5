"""``cnnkit experiment pooling``: max against average pooling. A CNN pools feature maps, so the experiment pools
what a first-layer edge detector would see in a real photograph (Grace Hopper, public domain, from matplotlib's
sample data): the map of edge strength (gradient magnitude, as a Sobel filter gives it). Pooled 2x2 again and again,
max pooling keeps the strongest edge in each window, so the edges survive the shrinking; average pooling mixes each
edge with the flat surfaces around it, so it fades. The mean edge response after each level measures that (max: it
rises towards the strongest edges; average: it stays the picture's mean). The photograph itself is pooled both ways
beside it, and the same small CNN is trained with max and with average pooling on the digits.
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


def edge_map(image: np.ndarray) -> np.ndarray:
    """Edge strength of a grey image: the gradient magnitude from 3x3 Sobel differences (borders replicated),
    scaled so the strongest edge is 1."""
    padded = np.pad(image, 1, mode="edge")
    gx = (padded[:-2, 2:] + 2 * padded[1:-1, 2:] + padded[2:, 2:]) - (padded[:-2, :-2] + 2 * padded[1:-1, :-2]
                                                                       + padded[2:, :-2])
    gy = (padded[2:, :-2] + 2 * padded[2:, 1:-1] + padded[2:, 2:]) - (padded[:-2, :-2] + 2 * padded[:-2, 1:-1]
                                                                       + padded[:-2, 2:])
    magnitude = np.hypot(gx, gy)
    return (magnitude / max(float(magnitude.max()), 1e-12)).astype(np.float32)


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
    edges = edge_map(image)
    pooled, pooled_edges = pool_levels(image, levels), pool_levels(edges, levels)
    response = {kind: [float(edges.mean())] + [float(p.mean()) for p in maps] for kind, maps in pooled_edges.items()}
    rows = {}
    for kind in ("max", "average"):
        rows[f"{kind}: photograph"] = [("original", image)] + [(f"{2 ** (i + 1)}x smaller", p)
                                                             for i, p in enumerate(pooled[kind])]
        rows[f"{kind}: edge map"] = [("edges (Sobel)", edges)] + [
            (f"{2 ** (i + 1)}x smaller, mean edge {response[kind][i + 1]:.3f}", p)
            for i, p in enumerate(pooled_edges[kind])]
    viz.plot_image_rows(rows, out / "pooling_image.png",
                        title=f"2x2 pooling applied {levels} times: max keeps each window's strongest edge, average "
                              f"dilutes it (mean edge of the original {response['max'][0]:.3f})")
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
    return {"experiment": "pooling", "epochs": epochs, "seed": seed, "edge_response": response,
            "pooled_mean": {k: [float(p.mean()) for p in v] for k, v in pooled.items()}, "runs": runs,
            "files": ["pooling_image.png", "pooling_accuracy.png", "pooling.json"],
            "message": (f"pooling: mean edge response after {levels} poolings of the photograph's edge map: max "
                        f"{response['max'][-1]:.3f}, average {response['average'][-1]:.3f} (original "
                        f"{response['max'][0]:.3f}); digits test accuracy max "
                        f"{runs['max']['test_accuracy']:.1%}, average {runs['avg']['test_accuracy']:.1%}; plots in "
                        f"{out}")}
