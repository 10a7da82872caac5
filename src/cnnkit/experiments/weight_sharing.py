"""``cnnkit experiment weight-sharing``: what convolution buys. A fully connected network and a CNN with about the
same number of parameters, trained the same way on the digits. The CNN reuses each small filter at every position
(weight sharing) and looks at neighbouring pixels together (locality), so for the same parameters it computes far
more features, learns better, and is less thrown by a digit moved by a pixel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._common import digits_arrays, fit, loaders_from
from ._nets import SmallConvNet, count_parameters


def mlp(hidden: int, inputs: int = 64, classes: int = 10):
    from .. import nn

    return nn.Sequential(nn.Flatten(), nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, classes))


def shifted(images: np.ndarray, seed: int) -> np.ndarray:
    """Each image moved by one pixel in a random direction (up, down, left or right; zeros come in)."""
    rng = np.random.default_rng(seed)
    out = np.zeros_like(images)
    for i, d in enumerate(rng.integers(0, 4, len(images))):
        dy, dx = ((-1, 0), (1, 0), (0, -1), (0, 1))[d]
        src = images[i, :, max(0, -dy):8 - max(0, dy), max(0, -dx):8 - max(0, dx)]
        out[i, :, max(0, dy):max(0, dy) + src.shape[1], max(0, dx):max(0, dx) + src.shape[2]] = src
    return out


def _macs(model, size=(1, 1, 8, 8)) -> int:
    from ..analysis.summary import summary

    return int(summary(model, size).totals.total_macs)


def run(out: Path, epochs: int = 15, seed: int = 0, width: int = 8, n_train: int | None = None,
        n_val: int = 300, lr: float = 3e-3) -> dict:
    """Train the CNN (:class:`SmallConvNet` of ``width``) and an MLP whose hidden layer makes its parameter count
    the closest to the CNN's, with Adam at ``lr``; test them on the test digits and on the same digits shifted by
    one pixel."""
    import cnnkit as ck

    from .. import viz
    from ..models.ensemble import predict_proba

    arrays = digits_arrays(n_train, n_val, seed)
    loaders = loaders_from(arrays, batch_size=32)
    ck.manual_seed(seed)
    cnn = SmallConvNet(width)
    target = count_parameters(cnn)
    hidden = max(1, round((target - 10) / 75))  # 64*h + h + 10*h + 10 parameters
    ck.manual_seed(seed)
    dense = mlp(hidden)
    runs = {}
    test_x, test_y = arrays["test"]
    moved = shifted(test_x, seed)
    for name, model in ((f"fully connected (64-{hidden}-10)", dense), (f"CNN (width {width})", cnn)):
        ck.manual_seed(seed + 1)
        runs[name] = fit(model, loaders, "adam", lr, epochs)
        runs[name].update(parameters=count_parameters(model), macs=_macs(model),
                          test_accuracy=float((predict_proba(model, test_x).argmax(1) == test_y).mean()),
                          shifted_test_accuracy=float((predict_proba(model, moved).argmax(1) == test_y).mean()))
    viz.plot_series({f"{n} val": r["val_accuracy"] for n, r in runs.items()}, out / "weight_sharing.png",
                    ylabel="validation accuracy",
                    title="About the same number of parameters: fully connected vs convolutional")
    summary = "; ".join(f"{n}: {r['parameters']:,} parameters, {r['macs']:,} MACs, test acc {r['test_accuracy']:.1%}, "
                        f"shifted by 1 pixel {r['shifted_test_accuracy']:.1%}" for n, r in runs.items())
    return {"experiment": "weight-sharing", "epochs": epochs, "seed": seed, "runs": runs,
            "files": ["weight_sharing.png", "weight-sharing.json"],
            "message": f"weight-sharing: {summary}; plot in {out}"}
