"""``cnnkit experiment depth``: the degradation lesson (He et al., 2016). Plain and residual CNNs at a shallow and a
deep depth, all with batch norm, trained with the same optimizer, learning rate and number of epochs: the deeper
plain network reaches a *higher training loss* than the shallow one (it is harder to optimise, not over-fit),
while the deeper residual network, whose blocks only have to learn a change to the identity, does not get worse.
"""

from __future__ import annotations

from pathlib import Path

from ._common import digits_arrays, fit, loaders_from
from ._nets import DeepNet


def _blocks(depth: int, residual: bool) -> int:
    """Blocks giving ``depth`` 3x3 convolutions: 1 stem conv + 1 per plain block or 2 per residual block."""
    return (depth - 1) // 2 if residual else depth - 1


def run(out: Path, epochs: int = 8, seed: int = 0, depths=(5, 29), width: int = 16, n_train: int | None = None,
        n_val: int = 300, lr: float = 0.05) -> dict:
    """Train plain and residual nets at each depth in ``depths`` (odd: residual blocks hold two convs) with SGD +
    momentum 0.9 at ``lr`` for ``epochs`` epochs, from seeded initial weights and the same batch order."""
    import cnnkit as ck

    from .. import viz

    arrays = digits_arrays(n_train, n_val, seed)
    loaders = loaders_from(arrays, batch_size=32)
    runs = {}
    for depth in depths:
        for residual in (False, True):
            name = f"{'residual' if residual else 'plain'}-{depth}"
            ck.manual_seed(seed)
            model = DeepNet(_blocks(depth, residual), width, batch_norm=True, residual=residual)
            ck.manual_seed(seed + 1)
            runs[name] = fit(model, loaders, "momentum", lr, epochs, momentum=0.9)
            runs[name]["parameters"] = sum(p.numel() for p in model.parameters())
    viz.plot_panels({"training loss": {n: r["loss"] for n, r in runs.items()},
                     "validation loss": {n: r["val_loss"] for n, r in runs.items()}}, out / "depth.png",
                    title="Plain vs residual at two depths (batch norm everywhere, same budget)")
    final = {n: {"train_loss": r["loss"][-1], "val_accuracy": r["val_accuracy"][-1]} for n, r in runs.items()}
    shallow, deep = min(depths), max(depths)
    summary = "; ".join(f"{n}: train loss {f['train_loss']:.4f}, val acc {f['val_accuracy']:.1%}"
                        for n, f in final.items())
    plain_worse = final[f"plain-{deep}"]["train_loss"] > final[f"plain-{shallow}"]["train_loss"]
    residual_ok = final[f"residual-{deep}"]["train_loss"] <= final[f"residual-{shallow}"]["train_loss"]
    return {"experiment": "depth", "epochs": epochs, "seed": seed, "depths": list(depths), "width": width,
            "runs": runs, "final": final, "deeper_plain_is_worse": plain_worse,
            "deeper_residual_is_not_worse": residual_ok, "files": ["depth.png", "depth.json"],
            "message": f"depth (final epoch): {summary}. Deeper plain "
                       f"{'trains worse' if plain_worse else 'does not train worse'}; deeper residual "
                       f"{'is not worse' if residual_ok else 'is worse'}; plot in {out}"}
