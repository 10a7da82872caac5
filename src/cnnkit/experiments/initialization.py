"""``cnnkit experiment init``: how initialisation and batch norm keep activations healthy. A 10-conv ReLU network
initialised with zeros, small random weights (normal, std 0.01), Xavier (Glorot: variance 2 / (fan_in + fan_out))
and He (Kaiming: variance 2 / fan_in, made for ReLU), each without and with batch norm: the distribution of every
layer's activations at initialisation, and the accuracy after a short training.

Without batch norm the activations' spread is multiplied at every layer by about sqrt(fan_in * var(w) / 2): small
weights make it vanish layer after layer, Xavier shrinks it by about 1/sqrt(2) per ReLU layer, He keeps it
constant. Zero weights make every unit compute the same thing (nothing breaks the symmetry). Batch norm
re-standardises each layer, so any non-zero initialisation trains.

Measured with the defaults (10 epochs, SGD + momentum at lr 0.01, 300 validation digits): without batch norm only
He trains (90.0% validation accuracy; Xavier 13.7%, small random and zero 8.3%, i.e. chance); with batch norm
Xavier reaches 95.0%, He 95.7%, small random 49.0% (still climbing), zero stays at chance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._common import digits_arrays, fit, loaders_from
from ._nets import DeepNet, initialise

INITS = ("zero", "small random", "Xavier", "He")


def activations_per_layer(model, x: np.ndarray) -> list[np.ndarray]:
    """The output of every activation layer (the ReLUs), first to last, for a batch (train mode, as in training)."""
    import cnnkit as ck

    from .. import nn

    outs = []
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    handles = [m.register_forward_hook(lambda mod, args, out: outs.append(out.numpy().copy()) and None)
               for m in relus]
    try:
        with ck.no_grad():
            model(ck.tensor(x))
    finally:
        for h in handles:
            h.remove()
    return outs


def run(out: Path, epochs: int = 10, seed: int = 0, depth: int = 10, width: int = 16, n_train: int | None = None,
        n_val: int = 300, lr: float = 0.01) -> dict:
    """Measure the activations of each layer at initialisation for every scheme, without and with batch norm, on
    256 training digits; then train each for ``epochs`` epochs (SGD + momentum 0.9 at ``lr``)."""
    import cnnkit as ck

    from .. import viz

    arrays = digits_arrays(n_train, n_val, seed)
    loaders = loaders_from(arrays, batch_size=32)
    probe = arrays["train"][0][:256]
    stats, hist, runs = {}, {}, {}
    shown = sorted({0, depth // 2, depth - 1})
    for bn in (False, True):
        column = "with batch norm" if bn else "without batch norm"
        for scheme in INITS:
            name = f"{scheme}, {'BN' if bn else 'no BN'}"
            ck.manual_seed(seed)
            model = DeepNet(depth - 1, width, activation="relu", batch_norm=bn)
            initialise(model, scheme, seed)
            acts = activations_per_layer(model, probe)
            stats[name] = {"mean": [float(a.mean()) for a in acts], "std": [float(a.std()) for a in acts],
                           "zero_fraction": [float((a <= 0).mean()) for a in acts]}
            hist.setdefault(scheme, {})[column] = {f"layer {i + 1}": acts[i] for i in shown}
            ck.manual_seed(seed + 1)
            runs[name] = fit(model, loaders, "momentum", lr, epochs, momentum=0.9)
    std_panels = {col: {s: [max(v, 1e-30) for v in stats[f"{s}, {tag}"]["std"]] for s in INITS}
                  for col, tag in (("without batch norm", "no BN"), ("with batch norm", "BN"))}
    viz.plot_layer_profiles(std_panels, out / "init_std.png", ylabel="std of the ReLU outputs",
                            title=f"{depth}-layer ReLU CNN at initialisation: activation spread per layer")
    viz.plot_histogram_grid(hist, out / "init_histograms.png", xlabel="ReLU output",
                            title="Activation distributions at initialisation (256 digits)")
    final = {n: r["val_accuracy"][-1] for n, r in runs.items()}
    last = {n: s["std"][-1] for n, s in stats.items()}
    summary = "; ".join(f"{n}: last-layer std {last[n]:.2e}, val acc {final[n]:.1%}" for n in stats)
    return {"experiment": "init", "epochs": epochs, "seed": seed, "depth": depth, "width": width,
            "activation_stats": stats, "runs": runs, "final_val_accuracy": final,
            "files": ["init_std.png", "init_histograms.png", "init.json"],
            "message": f"init: {summary}; plots in {out}"}
