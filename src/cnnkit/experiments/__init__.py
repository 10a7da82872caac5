"""The lessons as runnable experiments (``cnnkit experiment NAME``), one module each.

Each trains real models, writes PNGs of what it measured and a JSON of the same numbers, and returns those numbers;
the plotted series ARE the trained histories. ``EXPERIMENTS`` maps each name to its ``run(out, epochs=..., seed=...)``.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..atomic import write_text
from ..errors import InputError
from . import activations, batch, depth, ensembles, initialization, optimizers, overfitting, pooling, weight_sharing

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
}


def run_experiment(name: str, out=None, epochs: int | None = None, seed: int = 0) -> dict:
    """Run an experiment by name, write its PNG(s) and JSON into ``out``, return the numbers."""
    if name not in EXPERIMENTS:
        raise InputError(f"experiment: unknown experiment {name!r}; expected one of {', '.join(EXPERIMENTS)}",
                         field="name")
    out = Path(out or f"runs/experiment-{name}")
    out.mkdir(parents=True, exist_ok=True)
    result = EXPERIMENTS[name](out, **({"epochs": epochs} if epochs else {}), seed=seed)
    write_text(out / f"{name}.json", json.dumps(result, indent=2))
    result["out"] = str(out)
    return result
