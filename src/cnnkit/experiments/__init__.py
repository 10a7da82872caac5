"""The lessons as runnable experiments (``cnnkit experiment NAME``), one module each.

Each trains real models, writes PNGs of what it measured and a JSON of the same numbers, and returns those numbers;
the plotted series ARE the trained histories. ``EXPERIMENTS`` maps each name to its ``run(out, epochs=..., seed=...)``.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..atomic import json_text, write_text
from ..errors import InputError
from . import (
    activations,
    autoencoder,
    batch,
    depth,
    detectors,
    ensembles,
    fcn,
    initialization,
    optimizers,
    overfitting,
    pooling,
    upsampling,
    weight_sharing,
)

EXPERIMENTS = {
    "optimizers": optimizers.run,
    "overfitting": overfitting.run,
    "activations": activations.run,
    "depth": depth.run,
    "init": initialization.run,
    "ensembles": ensembles.run,
    "batch": batch.run,
    "weight-sharing": weight_sharing.run,
    "pooling": pooling.run,
    "fcn": fcn.run,
    "upsampling": upsampling.run,
    "autoencoder": autoencoder.run,
    "detectors": detectors.run,
}


def run_experiment(name: str, out=None, epochs: int | None = None, seed: int = 0) -> dict:
    """Run an experiment by name, write its PNG(s) and JSON into ``out``, return the numbers."""
    if name not in EXPERIMENTS:
        raise InputError(f"experiment: unknown experiment {name!r}; expected one of {', '.join(EXPERIMENTS)}",
                         field="name")
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
        raise InputError(f"experiment: epochs must be an int >= 1, got {epochs!r}", field="epochs")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"experiment: seed must be an int >= 0, got {seed!r}", field="seed")
    if out is None:  # like a training run: a new numbered folder rather than over the previous results
        from ..runs import free_folder

        out = free_folder(Path("runs") / f"experiment-{name}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"experiment: {out} exists and is not a folder", field="out")
    if (out / f"{name}.json").exists():
        raise InputError(f"experiment: {out} already holds the results of {name}; choose another folder",
                         field="out")
    out.mkdir(parents=True, exist_ok=True)
    result = EXPERIMENTS[name](out, **({"epochs": epochs} if epochs else {}), seed=seed)
    write_text(out / f"{name}.json", json_text(result, indent=2))
    result["out"] = str(out)
    return result
