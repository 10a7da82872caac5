"""``cnnkit experiment activations``: the vanishing-gradient lesson. The same deep plain CNN (a stack of 3x3
convolutions, no batch norm, no shortcuts) with sigmoid, tanh, ReLU and LeakyReLU, from the same initial weights
(He initialisation, the one made for ReLU; with PyTorch's default, even ReLU's gradient shrinks layer by layer at
this depth): the gradient norm of each layer's weights at initialisation and after training, and the accuracy per
epoch. The optimizer is Adam, which rescales each weight's step by its gradient's recent size — and still the
sigmoid network's first layers, whose gradients are a million times smaller, hardly learn.

Backpropagation multiplies by the activation's derivative once per layer. Sigmoid's is at most 1/4, so the
gradient reaching the first layers shrinks geometrically with depth and they barely learn; ReLU's is 1 where a
unit is on, so the gradient keeps its size.
"""

from __future__ import annotations

from pathlib import Path

from ._common import digits_arrays, fit, loaders_from
from ._nets import DeepNet, initialise, weight_grad_norms

NAMES = {"sigmoid": "sigmoid", "tanh": "tanh", "relu": "ReLU", "leaky_relu": "LeakyReLU(0.1)"}


def run(out: Path, epochs: int = 8, seed: int = 0, depth: int = 8, width: int = 16, n_train: int | None = None,
        n_val: int = 300, lr: float = 1e-3) -> dict:
    """Train the ``depth``-conv plain net with each activation (Adam at ``lr``) for ``epochs`` epochs; measure each
    conv layer's gradient norm on the same batch of 256 training digits before and after."""
    import cnnkit as ck

    from .. import viz

    arrays = digits_arrays(n_train, n_val, seed)
    loaders = loaders_from(arrays, batch_size=32)
    probe = (arrays["train"][0][:256], arrays["train"][1][:256])
    runs, at_init, trained = {}, {}, {}
    for key, name in NAMES.items():
        ck.manual_seed(seed)  # the same initial weights for every activation (same shapes, same draws)
        model = DeepNet(depth - 1, width, activation=key)
        initialise(model, "He", seed)
        at_init[name] = weight_grad_norms(model, *probe)
        ck.manual_seed(seed + 1)  # the same batch order
        runs[name] = fit(model, loaders, "adam", lr, epochs)
        trained[name] = weight_grad_norms(model, *probe)
    viz.plot_layer_profiles({"at initialisation": at_init, f"after {epochs} epochs": trained},
                            out / "activations_gradients.png", ylabel="||dL/dW|| of the conv layer",
                            title=f"{depth} conv layers, no batch norm: gradient norm per layer")
    viz.plot_series({name: r["val_accuracy"] for name, r in runs.items()}, out / "activations_accuracy.png",
                    ylabel="validation accuracy", title=f"{depth}-layer plain CNN on the digits: validation accuracy")
    ratio = at_init["ReLU"][0] / at_init["sigmoid"][0]
    first = ", ".join(f"{n} {v[0]:.2e}" for n, v in at_init.items())
    final = ", ".join(f"{n} {r['val_accuracy'][-1]:.1%}" for n, r in runs.items())
    return {"experiment": "activations", "epochs": epochs, "seed": seed, "depth": depth, "width": width,
            "grad_norms_at_init": at_init, "grad_norms_trained": trained, "runs": runs,
            "first_layer_ratio_relu_to_sigmoid": ratio,
            "files": ["activations_gradients.png", "activations_accuracy.png", "activations.json"],
            "message": f"activations: first-layer gradient norm at initialisation {first} (ReLU / sigmoid = "
                       f"{ratio:.0f}x); final validation accuracy {final}; plots in {out}"}

