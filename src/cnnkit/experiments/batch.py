"""``cnnkit experiment batch``: full-batch gradient descent against mini-batch SGD. The same small CNN from the same
initial weights, plain SGD at the same learning rate, with the whole training set per step and with mini-batches
of several sizes: the training loss per epoch and per CPU second, and the final accuracy.

An epoch costs about the same arithmetic whatever the batch size, but full-batch descent takes ONE step per epoch
while batches of 32 take dozens: per epoch (and per second) small batches get much further. Their gradients are
noisy estimates, and the noise is cheap; very small batches pay in per-step overhead instead.
"""

from __future__ import annotations

from pathlib import Path

from ._common import digits_arrays, fit, loaders_from, test_scores
from ._nets import SmallConvNet


def run(out: Path, epochs: int = 15, seed: int = 0, batch_sizes=(8, 32, 128), width: int = 8,
        n_train: int | None = None, n_val: int = 300, lr: float = 0.1) -> dict:
    """Train with each of ``batch_sizes`` and with the full training set per step (plain SGD at ``lr``)."""
    import cnnkit as ck

    from .. import viz

    arrays = digits_arrays(n_train, n_val, seed)
    n = len(arrays["train"][1])
    runs = {}
    for batch in (*batch_sizes, n):
        name = f"full batch ({n})" if batch == n else f"batch {batch}"
        loaders = loaders_from(arrays, batch_size=batch)
        ck.manual_seed(seed)
        model = SmallConvNet(width)
        ck.manual_seed(seed + 1)
        runs[name] = fit(model, loaders, "sgd", lr, epochs)
        runs[name].update(batch_size=batch, steps_per_epoch=len(loaders[0]), **test_scores(model, arrays))
    viz.plot_xy({"per epoch": {"xlabel": "epoch", "ylabel": "training loss",
                               "series": {k: (list(range(1, epochs + 1)), r["loss"]) for k, r in runs.items()}},
                 "per CPU second": {"xlabel": "CPU seconds (cumulative)", "ylabel": "training loss",
                                    "series": {k: (r["cpu_seconds"], r["loss"]) for k, r in runs.items()}}},
                out / "batch.png", title=f"Plain SGD, lr {lr}, same model and initial weights: batch size")
    summary = "; ".join(f"{k}: {r['steps_per_epoch']} steps/epoch, final loss {r['loss'][-1]:.3f}, test acc "
                        f"{r['test_accuracy']:.1%}, {r['cpu_seconds'][-1]:.1f} CPU s" for k, r in runs.items())
    return {"experiment": "batch", "epochs": epochs, "seed": seed, "lr": lr, "runs": runs,
            "files": ["batch.png", "batch.json"], "message": f"batch: {summary}; plot in {out}"}
