"""The fit loop for any task: epochs of mini-batch training with validation, streaming metrics, callbacks,
checkpoints and resume.

    trainer = Trainer(model, optimizer, task="classification", scheduler=sched, checkpoint_dir="runs/a")
    history = trainer.fit(train_loader, val_loader, epochs=10)
    results = trainer.evaluate(test_loader, report=True)     # loss + the task's test metrics, one pass

The :class:`~cnnkit.training.tasks.Task` says how a batch unpacks, the default loss and the metrics; the loop
keeps no outputs (metrics are streaming: memory does not grow with the number of samples).

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
from ..errors import InputError, InputTypeError
from ..metrics import MeanMetric, Metric
from .callbacks import CallbackList, LRSchedulerStep, ModelCheckpoint
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .history import History
from .metrics import get_metric
from .parallel import SingleProcess
from .tasks import get_task


class NonFiniteLossError(InputError, RuntimeError):
    """The training loss became NaN or infinite (a consequence of the run's settings, e.g. too high a learning
    rate, so it is reported as an input problem)."""


class TrainingInterrupted(KeyboardInterrupt):
    """Training was interrupted (Ctrl-C); ``checkpoint`` names the file to resume from (or None)."""

    def __init__(self, epoch: int, checkpoint: Path | None):
        super().__init__(f"interrupted during epoch {epoch}")
        self.epoch, self.checkpoint = epoch, checkpoint


class _FunctionMetric(MeanMetric):
    """A plain ``fn(outputs, targets) -> float`` as a streaming metric: the batch-size-weighted mean of its batch
    values (exact for per-sample averages such as accuracy)."""

    higher_is_better = True

    def __init__(self, name: str, fn):
        super().__init__(name, higher_is_better=True)
        self.fn = fn

    def update(self, output, target):
        super().update(float(self.fn(output, target)), weight=len(target))


def _metric_objects(spec) -> dict | None:
    """User metrics: None (the task's), a dict name -> Metric, or names / callables / Metric objects."""
    if spec is None:
        return None
    if isinstance(spec, dict):
        return dict(spec)
    out = {}
    for m in spec:
        if isinstance(m, Metric):
            out[m.name] = m
        elif isinstance(m, str) and m == "accuracy":
            from ..metrics import Accuracy

            out[m] = Accuracy()
        elif isinstance(m, str) or callable(m):
            name = m if isinstance(m, str) else getattr(m, "__name__", "metric")
            out[name] = _FunctionMetric(name, get_metric(m))
        else:
            raise InputTypeError(f"Trainer: a metric must be a name, a callable or a Metric, got {type(m).__name__}")
    return out


class Trainer:
    """Train ``model`` with ``optimizer`` for ``task`` (a name or a :class:`~cnnkit.training.tasks.Task`); see the
    module docstring.

    ``loss_fn(output, target)`` replaces the task's loss; ``metrics`` replaces its epoch metrics (a dict of
    :class:`~cnnkit.metrics.Metric`, or names/callables); ``info`` describes the data
    (:class:`~cnnkit.data.registry.DataInfo`: the number of classes for the metrics; inferred from the outputs
    when omitted); ``monitor`` is the logged value ``best.ckpt`` follows (the task's by default); ``run`` is
    extra state saved in every checkpoint (the run configuration). ``parallel`` runs the loop on several processes
    (:class:`cnnkit.distributed.DataParallel`; default :class:`~cnnkit.training.parallel.SingleProcess`): the loop
    calls its hooks around the forward pass and backward, after each epoch and on the metrics, and only its writing
    process keeps the callbacks that write files (``writes_files``) and the checkpoints.
    """

    def __init__(self, model, optimizer, task="classification", loss_fn=None, metrics=None, info=None,
                 scheduler=None, scheduler_per_batch: bool = False, callbacks=(), checkpoint_dir=None,
                 run: dict | None = None, monitor: str | None = None, mode: str = "auto", parallel=None):
        self.model, self.optimizer = model, optimizer
        self.parallel = parallel if parallel is not None else SingleProcess()
        self.task = get_task(task)
        self.loss_fn = loss_fn
        self.info = info
        self._user_metrics = _metric_objects(metrics)
        self.scheduler = scheduler
        self.run = dict(run or {})
        self.history = History()
        self.epoch = 0  # epochs completed
        self.epochs = 0
        self.steps_per_epoch = None
        self.stop_training = False
        self.monitor = monitor or self.task.monitor
        mode = self.task.mode if mode == "auto" and monitor is None else mode
        cbs = list(callbacks)
        if scheduler is not None:
            cbs.insert(0, LRSchedulerStep(scheduler, per_batch=scheduler_per_batch, monitor=self.monitor))
        self.checkpoint = None
        if checkpoint_dir is not None:
            self.checkpoint = ModelCheckpoint(checkpoint_dir, monitor=self.monitor, mode=mode)
            later = [cb for cb in cbs if getattr(cb, "after_checkpoint", False)]  # e.g. the history files
            cbs = [cb for cb in cbs if cb not in later] + [self.checkpoint] + later
        if not self.parallel.is_writer:
            cbs = [cb for cb in cbs if not getattr(cb, "writes_files", False)]
            self.checkpoint = None
        self.callbacks = CallbackList(cbs)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """Everything needed to resume: model, optimizer, scheduler, callbacks, RNG, epoch, history, run."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "callbacks": {key: cb.state_dict() for key, cb in self._keyed_callbacks().items()},
            "rng": ck_random.get_rng_state(),
            "epoch": self.epoch,
            "history": self.history.to_dict(),
            "run": self.run,
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
        """Restore from a checkpoint file; returns its saved run state."""
        state = load_checkpoint(path)
        self.load_state_dict(state)
        return state.get("run") or {}

    # ------------------------------------------------------------------ metrics
    def _info_for(self, output):
        """The data description the task's metrics need (classes inferred from the output if not given)."""
        if self.info is not None:
            return self.info
        from ..data.registry import DataInfo

        classes = int(output.shape[1]) if getattr(output, "ndim", 0) >= 2 else 0  # (a detector's output is a list)
        return DataInfo(0, 0, classes)

    def _new_metrics(self, output, test: bool) -> dict:
        if self._user_metrics is not None and not test:
            metrics = self._user_metrics
            for m in metrics.values():
                m.reset()
            return metrics
        info = self._info_for(output)
        return self.task.test_metrics(info) if test else self.task.metrics(info)

    # ------------------------------------------------------------------ loops
    def _forward(self, inputs, targets):
        return self.task.forward(self.model, inputs, targets, self.loss_fn)

    def train_step(self, inputs, targets):
        """One optimisation step; returns (loss value, outputs for the metrics or None)."""
        with self.parallel.local_rng():
            loss, output = self._forward(inputs, targets)
        value = float(loss.item())
        if not math.isfinite(value):
            raise NonFiniteLossError(value)
        self.optimizer.zero_grad()
        with self.parallel.gradients(self.model, weight=self.task.batch_size(inputs)):
            loss.backward()
        self.optimizer.step()
        return value, output

    def fit(self, train_loader, val_loader=None, epochs: int = 1) -> History:
        """Train until ``epochs`` epochs are completed in total (a resumed trainer continues where it stopped)."""
        self.epochs = int(epochs)
        try:
            self.steps_per_epoch = len(train_loader)
        except TypeError:
            self.steps_per_epoch = None
        self.stop_training = False
        self.parallel.setup(self.model)
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
                    f"Try a lower learning rate.", field="lr") from None
            self.epoch = epoch
            self.history.append(logs)
            self.callbacks.on_epoch_end(self, logs)
        self.callbacks.on_train_end(self, {})
        return self.history

    def _run_epoch(self, epoch, train_loader, val_loader) -> dict:
        self.callbacks.on_epoch_begin(self, {"epoch": epoch})
        self.model.train()
        start = time.perf_counter()
        loss_mean, metrics = MeanMetric(), None
        score = self.task.score
        for step, batch in enumerate(train_loader):
            self.callbacks.on_batch_begin(self, {"batch": step})
            inputs, targets = self.task.unpack(batch)
            loss, output = self.train_step(inputs, targets)
            loss_mean.update(loss, weight=self.task.batch_size(inputs))
            batch_logs = {"batch": step, "loss": loss_mean.compute()}
            if output is not None:
                if metrics is None:
                    metrics = self._new_metrics(output.data, test=False)
                for m in metrics.values():
                    m.update(output.data, _targets(targets))
                if score in metrics:
                    batch_logs[score] = float(metrics[score].compute())
            self.callbacks.on_batch_end(self, batch_logs)
        self.parallel.epoch_end(self.model)
        make = (lambda: self._new_metrics(None, test=False)) if self.task.measures_training else None
        metrics = self.parallel.reduce_metrics(loss_mean, metrics, make)
        logs = {"epoch": epoch, "loss": loss_mean.compute()}
        logs.update({name: float(m.compute()) for name, m in (metrics or {}).items()})
        if val_loader is not None:
            logs.update({f"val_{k}": v for k, v in self.evaluate(val_loader).items()})
        logs["lr"] = float(self.optimizer.param_groups[0]["lr"])
        logs["time"] = time.perf_counter() - start
        return logs

    def evaluate(self, loader, report: bool = False) -> dict:
        """Mean loss and metrics over a loader (eval mode, no gradients), in one pass keeping no outputs; with
        ``report`` the task's test metrics (which may hold arrays, e.g. a confusion matrix) instead of the epoch
        metrics."""
        was_training = self.model.training
        self.model.eval()
        loss_mean, metrics = MeanMetric(), None
        try:
            with no_grad():
                for batch in loader:
                    inputs, targets = self.task.unpack(batch)
                    loss, output = self._forward(inputs, targets)
                    if loss is not None:
                        loss_mean.update(float(loss.item()), weight=self.task.batch_size(inputs))
                    if metrics is None:
                        metrics = self._new_metrics(None if output is None else _data(output), test=report)
                    for m in metrics.values():
                        m.update(_data(output), _targets(targets))
            metrics = self.parallel.reduce_metrics(loss_mean, metrics, lambda: self._new_metrics(None, test=report))
        finally:
            self.model.train(was_training)
        results = {"loss": loss_mean.compute()}
        results.update({name: (m.compute() if report else float(m.compute()))
                        for name, m in (metrics or {}).items()})
        return results

    def predict(self, loader) -> tuple[np.ndarray, np.ndarray]:
        """Every model output and target of a loader, concatenated (eval mode, no gradients). This keeps all
        outputs in memory by design; :meth:`evaluate` is the streaming way to measure a model."""
        was_training = self.model.training
        self.model.eval()
        outputs, targets = [], []
        try:
            with no_grad():
                for batch in loader:
                    inputs, target = self.task.unpack(batch)
                    outputs.append(self.model(inputs).data)
                    targets.append(_targets(target))
        finally:
            self.model.train(was_training)
        return np.concatenate(outputs), np.concatenate(targets)


def _data(output):
    return output.data if isinstance(output, Tensor) else output


def _targets(targets):
    return targets.data if isinstance(targets, Tensor) else targets


def fit(model, train_loader, val_loader=None, epochs: int = 1, optimizer=None, loss_fn=None, metrics=None,
        callbacks=(), **kwargs) -> History:
    """Functional form of ``Trainer(...).fit(...)``; the optimizer defaults to Adam(lr=1e-3)."""
    if optimizer is None:
        from ..optim import Adam

        optimizer = Adam(model.parameters(), lr=1e-3)
    trainer = Trainer(model, optimizer, loss_fn=loss_fn, metrics=metrics, callbacks=callbacks, **kwargs)
    return trainer.fit(train_loader, val_loader, epochs)
