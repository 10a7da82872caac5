"""The fit loop: epochs of mini-batch training with validation, metrics, callbacks, checkpoints and resume.

    trainer = Trainer(model, optimizer, loss_fn=F.cross_entropy, scheduler=sched, checkpoint_dir="runs/a")
    history = trainer.fit(train_loader, val_loader, epochs=10)

Resuming (``trainer.load_checkpoint(path)`` then ``fit``) restores the model, optimizer, scheduler, callbacks,
history, epoch and the global random state, so a run interrupted after epoch k and resumed ends with the same
weights as an uninterrupted run under the same seed. Ctrl-C writes the state as of the start of the interrupted
epoch and raises :class:`TrainingInterrupted`; a NaN/Inf loss raises :class:`NonFiniteLossError` and leaves the last
good checkpoint untouched.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from .. import random as ck_random
from ..autograd import Tensor, no_grad
from ..errors import InputError
from .callbacks import CallbackList, LRSchedulerStep, ModelCheckpoint
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .history import History
from .metrics import get_metric


class NonFiniteLossError(InputError, RuntimeError):
    """The training loss became NaN or infinite (a consequence of the run's settings, e.g. too high a learning
    rate, so it is reported as an input problem)."""


class TrainingInterrupted(KeyboardInterrupt):
    """Training was interrupted (Ctrl-C); ``checkpoint`` names the file to resume from (or None)."""

    def __init__(self, epoch: int, checkpoint: Path | None):
        super().__init__(f"interrupted during epoch {epoch}")
        self.epoch, self.checkpoint = epoch, checkpoint


def _default_loss(output, target):
    from ..functional import cross_entropy

    return cross_entropy(output, target)


class Trainer:
    """Train ``model`` with ``optimizer`` on batches ``(inputs, targets)``; see the module docstring."""

    def __init__(self, model, optimizer, loss_fn=None, metrics=("accuracy",), scheduler=None,
                 scheduler_per_batch: bool = False, callbacks=(), l1: float = 0.0, checkpoint_dir=None,
                 config: dict | None = None, monitor: str = "val_loss"):
        self.model, self.optimizer = model, optimizer
        self.loss_fn = loss_fn or _default_loss
        self.metrics = {(m if isinstance(m, str) else getattr(m, "__name__", "metric")): get_metric(m)
                        for m in metrics}
        self.scheduler = scheduler
        self.l1 = float(l1)
        self.config = dict(config or {})
        self.history = History()
        self.epoch = 0  # epochs completed
        self.epochs = 0
        self.steps_per_epoch = None
        self.stop_training = False
        cbs = list(callbacks)
        if scheduler is not None:
            cbs.insert(0, LRSchedulerStep(scheduler, per_batch=scheduler_per_batch, monitor=monitor))
        self.checkpoint = None
        if checkpoint_dir is not None:
            self.checkpoint = ModelCheckpoint(checkpoint_dir, monitor=monitor)
            cbs.append(self.checkpoint)
        self.callbacks = CallbackList(cbs)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """Everything needed to resume: model, optimizer, scheduler, callbacks, RNG, epoch, history, config."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "callbacks": {key: cb.state_dict() for key, cb in self._keyed_callbacks().items()},
            "rng": ck_random.get_rng_state(),
            "epoch": self.epoch,
            "history": self.history.to_dict(),
            "config": self.config,
        }

    def load_state_dict(self, state: dict) -> None:
        for key in ("model", "optimizer", "epoch"):
            if key not in state:
                raise CheckpointError(f"checkpoint: missing the {key!r} section")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        saved = state.get("callbacks") or {}
        for key, cb in self._keyed_callbacks().items():
            if key in saved:
                cb.load_state_dict(saved[key])
        if state.get("rng") is not None:
            ck_random.set_rng_state(state["rng"])
        self.epoch = int(state["epoch"])
        self.history = History.from_dict(state.get("history", {}))

    def _keyed_callbacks(self) -> dict:
        """Callbacks by class name (numbered when repeated), so saved states find their owner on resume."""
        keyed, seen = {}, {}
        for cb in self.callbacks.callbacks:
            name = type(cb).__name__
            seen[name] = seen.get(name, 0) + 1
            keyed[name if seen[name] == 1 else f"{name}-{seen[name]}"] = cb
        return keyed

    def save_checkpoint(self, path) -> Path:
        return save_checkpoint(path, self.state_dict())

    def load_checkpoint(self, path) -> dict:
        """Restore from a checkpoint file; returns its config."""
        state = load_checkpoint(path)
        self.load_state_dict(state)
        return state.get("config", {})

    # ------------------------------------------------------------------ loops
    def _loss(self, output, target):
        loss = self.loss_fn(output, target)
        if self.l1:
            from ..optim.regularization import l1_penalty

            loss = loss + l1_penalty(self.model.parameters(), self.l1)
        return loss

    def train_step(self, inputs, targets):
        """One optimisation step; returns (loss value, outputs array)."""
        output = self.model(inputs)
        loss = self._loss(output, targets)
        value = float(loss.item())
        if not math.isfinite(value):
            raise NonFiniteLossError(value)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return value, output.data

    def fit(self, train_loader, val_loader=None, epochs: int = 1) -> History:
        """Train until ``epochs`` epochs are completed in total (a resumed trainer continues where it stopped)."""
        self.epochs = int(epochs)
        try:
            self.steps_per_epoch = len(train_loader)
        except TypeError:
            self.steps_per_epoch = None
        self.stop_training = False
        self.callbacks.on_train_begin(self, {})
        while self.epoch < self.epochs and not self.stop_training:
            epoch = self.epoch + 1
            snapshot = self.state_dict() if self.checkpoint is not None else None
            try:
                logs = self._run_epoch(epoch, train_loader, val_loader)
            except KeyboardInterrupt:
                path = None
                if snapshot is not None:
                    path = save_checkpoint(self.checkpoint.last_path, snapshot)
                raise TrainingInterrupted(epoch, path) from None
            except NonFiniteLossError as err:
                kept = self.checkpoint.last_path if self.checkpoint and self.checkpoint.last_path.exists() else None
                where = f"; the last good checkpoint is kept at {kept}" if kept else ""
                raise NonFiniteLossError(
                    f"training stopped: the loss became {err.args[0]} in epoch {epoch}{where}. "
                    f"Try a lower learning rate.") from None
            self.epoch = epoch
            self.history.append(logs)
            self.callbacks.on_epoch_end(self, logs)
        self.callbacks.on_train_end(self, {})
        return self.history

    def _run_epoch(self, epoch, train_loader, val_loader) -> dict:
        self.callbacks.on_epoch_begin(self, {"epoch": epoch})
        self.model.train()
        start = time.perf_counter()
        total_loss, count, outputs, targets = 0.0, 0, [], []
        for step, (x, y) in enumerate(train_loader):
            self.callbacks.on_batch_begin(self, {"batch": step})
            loss, out = self.train_step(x, y)
            n = len(y)
            total_loss += loss * n
            count += n
            outputs.append(out)
            targets.append(y.data if isinstance(y, Tensor) else np.asarray(y))
            batch_logs = {"batch": step, "loss": total_loss / count}
            if "accuracy" in self.metrics and out.ndim == 2:
                batch_logs["accuracy"] = float(np.mean(np.concatenate([o.argmax(1) for o in outputs[-20:]]) ==
                                                       np.concatenate(targets[-20:])))
            self.callbacks.on_batch_end(self, batch_logs)
        logs = {"epoch": epoch, "loss": total_loss / max(count, 1)}
        logs.update(self._metric_values(np.concatenate(outputs), np.concatenate(targets)))
        if val_loader is not None:
            val = self.evaluate(val_loader)
            logs.update({f"val_{k}": v for k, v in val.items()})
        logs["lr"] = float(self.optimizer.param_groups[0]["lr"])
        logs["time"] = time.perf_counter() - start
        return logs

    def _metric_values(self, outputs, targets) -> dict:
        if outputs.ndim != 2:
            return {}
        return {name: float(fn(outputs, targets)) for name, fn in self.metrics.items()}

    def predict(self, loader) -> tuple[np.ndarray, np.ndarray]:
        """Model outputs and targets over a loader, in eval mode without gradients."""
        was_training = self.model.training
        self.model.eval()
        outputs, targets = [], []
        with no_grad():
            for x, y in loader:
                outputs.append(self.model(x).data)
                targets.append(y.data if isinstance(y, Tensor) else np.asarray(y))
        self.model.train(was_training)
        return np.concatenate(outputs), np.concatenate(targets)

    def evaluate(self, loader) -> dict:
        """Mean loss and metrics over a loader (eval mode, no gradients)."""
        outputs, targets = self.predict(loader)
        with no_grad():
            loss = float(self.loss_fn(Tensor(outputs), Tensor(targets)).item())
        return {"loss": loss, **self._metric_values(outputs, targets)}


def fit(model, train_loader, val_loader=None, epochs: int = 1, optimizer=None, loss_fn=None,
        metrics=("accuracy",), callbacks=(), **kwargs) -> History:
    """Functional form of ``Trainer(...).fit(...)``; the optimizer defaults to Adam(lr=1e-3)."""
    if optimizer is None:
        from ..optim import Adam

        optimizer = Adam(model.parameters(), lr=1e-3)
    trainer = Trainer(model, optimizer, loss_fn=loss_fn, metrics=metrics, callbacks=callbacks, **kwargs)
    return trainer.fit(train_loader, val_loader, epochs)
