"""Keras-style callbacks for :class:`~cnnkit.training.Trainer`.

A callback overrides any of ``on_{train,epoch,batch}_{begin,end}(trainer, logs)``; ``trainer.stop_training = True``
ends the run after the current epoch.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

from ..atomic import json_text, write_text
from ..errors import InputError


class Callback:
    """Base class: every hook is a no-op. A callback that writes files or to the terminal sets ``writes_files``:
    in data-parallel training only the writing process runs it."""

    writes_files = False

    def on_train_begin(self, trainer, logs): ...

    def on_train_end(self, trainer, logs): ...

    def on_epoch_begin(self, trainer, logs): ...

    def on_epoch_end(self, trainer, logs): ...

    def on_batch_begin(self, trainer, logs): ...

    def on_batch_end(self, trainer, logs): ...

    def state_dict(self) -> dict:
        """State to store in a checkpoint so a resumed run continues identically."""
        return {}

    def load_state_dict(self, state: dict) -> None: ...


class CallbackList(Callback):
    """Calls each hook on every callback in order."""

    def __init__(self, callbacks):
        self.callbacks = list(callbacks)

    def _call(self, hook, trainer, logs):
        for cb in self.callbacks:
            getattr(cb, hook)(trainer, logs)

    def on_train_begin(self, trainer, logs):
        self._call("on_train_begin", trainer, logs)

    def on_train_end(self, trainer, logs):
        self._call("on_train_end", trainer, logs)

    def on_epoch_begin(self, trainer, logs):
        self._call("on_epoch_begin", trainer, logs)

    def on_epoch_end(self, trainer, logs):
        self._call("on_epoch_end", trainer, logs)

    def on_batch_begin(self, trainer, logs):
        self._call("on_batch_begin", trainer, logs)

    def on_batch_end(self, trainer, logs):
        self._call("on_batch_end", trainer, logs)


def _better(mode: str, current: float, best: float, min_delta: float) -> bool:
    return current < best - min_delta if mode == "min" else current > best + min_delta


def _resolve_mode(mode: str, monitor: str) -> str:
    if mode == "auto":
        return "max" if "acc" in monitor else "min"
    if mode not in ("min", "max"):
        raise InputError(f"callback: mode must be 'min', 'max' or 'auto', got {mode!r}")
    return mode


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs; optionally restore the
    best weights at the end."""

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0, mode: str = "auto",
                 restore_best_weights: bool = False):
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.mode = _resolve_mode(mode, monitor)
        self.restore_best_weights = restore_best_weights
        self.best = math.inf if self.mode == "min" else -math.inf
        self.wait, self.best_epoch, self.best_state, self.stopped_epoch = 0, 0, None, None

    def on_epoch_end(self, trainer, logs):
        current = logs.get(self.monitor)
        if current is None:
            raise KeyError(f"EarlyStopping: monitored value {self.monitor!r} not in the logs {sorted(logs)}")
        if _better(self.mode, current, self.best, self.min_delta):
            self.best, self.best_epoch, self.wait = current, logs["epoch"], 0
            if self.restore_best_weights:
                self.best_state = trainer.model.state_dict()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = logs["epoch"]
                trainer.stop_training = True

    def on_train_end(self, trainer, logs):
        if self.restore_best_weights and self.best_state is not None:
            trainer.model.load_state_dict(self.best_state)

    def state_dict(self):
        return {"best": self.best, "wait": self.wait, "best_epoch": self.best_epoch, "best_state": self.best_state}

    def load_state_dict(self, state):
        self.best, self.wait, self.best_epoch = state["best"], state["wait"], state["best_epoch"]
        self.best_state = state.get("best_state")


class ModelCheckpoint(Callback):
    """After every epoch write ``last.ckpt`` (everything needed to resume) into ``directory``; also
    ``best.ckpt`` whenever ``monitor`` improves. Writes are atomic, so an interrupted write never corrupts a file."""

    writes_files = True

    def __init__(self, directory, monitor: str = "val_loss", mode: str = "auto", save_best: bool = True):
        self.directory = Path(directory)
        self.monitor, self.save_best = monitor, save_best
        self.mode = _resolve_mode(mode, monitor)
        self.best = math.inf if self.mode == "min" else -math.inf

    @property
    def last_path(self) -> Path:
        return self.directory / "last.ckpt"

    @property
    def best_path(self) -> Path:
        return self.directory / "best.ckpt"

    def on_epoch_end(self, trainer, logs):
        current = logs.get(self.monitor)
        improved = self.save_best and current is not None and _better(self.mode, current, self.best, 0.0)
        if improved:
            self.best = current
        trainer.save_checkpoint(self.last_path)
        if improved:
            trainer.save_checkpoint(self.best_path)

    def state_dict(self):
        return {"best": self.best}

    def load_state_dict(self, state):
        self.best = state["best"]


class LRSchedulerStep(Callback):
    """Step a learning-rate scheduler once per epoch (or per batch with ``per_batch=True``); a
    ReduceLROnPlateau-style scheduler is stepped with the monitored value."""

    def __init__(self, scheduler, per_batch: bool = False, monitor: str = "val_loss"):
        self.scheduler, self.per_batch, self.monitor = scheduler, per_batch, monitor

    def on_batch_end(self, trainer, logs):
        if self.per_batch:
            self.scheduler.step()

    def on_epoch_end(self, trainer, logs):
        if self.per_batch:
            return
        if type(self.scheduler).__name__ == "ReduceLROnPlateau":
            value = logs.get(self.monitor, logs.get("loss"))
            self.scheduler.step(value)
        else:
            self.scheduler.step()


class HistoryLogger(Callback):
    """Rewrite the history as JSON (``.json``) or CSV (``.csv``) after every epoch, atomically. The trainer calls it
    after its checkpoint, so the history never lists an epoch the checkpoint lacks."""

    writes_files = True
    after_checkpoint = True

    def __init__(self, path):
        self.path = Path(path)

    def on_epoch_end(self, trainer, logs):
        if self.path.suffix == ".csv":
            trainer.history.save_csv(self.path)
        else:
            trainer.history.save_json(self.path)


class ProgressBar(Callback):
    """A tqdm bar per epoch with the running loss and the task's score (accuracy, mean IoU, ...), then a
    Keras-like epoch line."""

    writes_files = True

    def __init__(self, stream=None, bar: bool | None = True):
        self.stream = stream or sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        # a bar redraws its line with carriage returns: only on a terminal (a log file gets the epoch lines)
        self.bar = bool(bar) and bool(isatty and isatty())
        self._tqdm = None

    def on_epoch_begin(self, trainer, logs):
        self._start = time.perf_counter()
        if self.bar:
            from tqdm import tqdm

            total = trainer.steps_per_epoch
            self._tqdm = tqdm(total=total, desc=f"Epoch {logs['epoch']}/{trainer.epochs}", unit="batch",
                              leave=False, file=self.stream, dynamic_ncols=True)

    def on_batch_end(self, trainer, logs):
        if self._tqdm is not None:
            self._tqdm.update(1)
            self._tqdm.set_postfix({k: f"{v:.4f}" for k, v in logs.items() if k != "batch"},
                                   refresh=False)

    def on_epoch_end(self, trainer, logs):
        if self._tqdm is not None:
            self._tqdm.close()
            self._tqdm = None
        print(format_epoch_line(logs, trainer.epochs, time.perf_counter() - self._start), file=self.stream,
              flush=True)


def format_epoch_line(logs: dict, epochs: int, seconds: float) -> str:
    """``Epoch 3/10 - 1.2s - loss: 0.1234 - accuracy: 0.9712 - val_loss: ... - lr: 0.001``."""
    parts = [f"Epoch {logs['epoch']}/{epochs}", f"{seconds:.1f}s"]
    for key, value in logs.items():
        if key in ("epoch", "time") or not isinstance(value, (int, float)):
            continue
        parts.append(f"{key}: {value:.4g}" if key == "lr" else f"{key}: {value:.4f}")
    return " - ".join(parts)


class JSONMetrics(Callback):
    """Write ``metrics`` (a dict produced at the end of training) to a JSON file atomically."""

    writes_files = True

    def __init__(self, path, compute):
        self.path, self.compute = Path(path), compute

    def on_train_end(self, trainer, logs):

        write_text(self.path, json_text(self.compute(trainer), indent=2))
