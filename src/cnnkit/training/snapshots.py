"""Snapshot ensembles (Huang et al., 2017): a cyclic cosine learning rate restarted K times in one run, and one
checkpoint at the end of each cycle, where the rate is lowest and the model sits in a minimum.

    sched = CosineAnnealingWarmRestarts(opt, T_0=steps_per_cycle)      # stepped per batch
    Trainer(..., callbacks=[SnapshotCheckpoint("runs/a", cycle_epochs=3)])
    # -> runs/a/snapshot-1.ckpt ... snapshot-K.ckpt; evaluate them together: cnnkit evaluate runs/a/snapshot-*.ckpt
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from .callbacks import Callback

__all__ = ["SnapshotCheckpoint", "snapshot_path"]


def snapshot_path(directory, k: int) -> Path:
    """``<directory>/snapshot-<k>.ckpt`` (k from 1)."""
    return Path(directory) / f"snapshot-{k}.ckpt"


class SnapshotCheckpoint(Callback):
    """Write ``snapshot-<k>.ckpt`` (a full checkpoint: a run's checkpoints rebuild their model) after every
    ``cycle_epochs`` epochs, k = epoch / cycle_epochs."""

    def __init__(self, directory, cycle_epochs: int):
        if isinstance(cycle_epochs, bool) or not isinstance(cycle_epochs, int) or cycle_epochs < 1:
            raise InputError(f"SnapshotCheckpoint: cycle_epochs must be an int >= 1, got {cycle_epochs!r}")
        self.directory, self.cycle_epochs = Path(directory), cycle_epochs
        self.paths: list[Path] = []

    def on_epoch_end(self, trainer, logs):
        epoch = int(logs["epoch"])
        if epoch % self.cycle_epochs == 0:
            path = snapshot_path(self.directory, epoch // self.cycle_epochs)
            trainer.save_checkpoint(path)
            self.paths.append(path)
