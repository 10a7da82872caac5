"""Training diagnostics: per-layer numbers per epoch, written into the history (and to TensorBoard when a
:class:`TensorBoard` callback comes after them), and a picture at the end.

    trainer = Trainer(model, opt, callbacks=[ActivationStats(), GradientStats(), TensorBoard("runs/a/tb")])
    trainer.fit(train, val, epochs=5)
    trainer.history["activation_std/features.2"]     # one value per epoch
    trainer.history["grad_norm/features.0"]

:class:`ActivationStats` hooks the activation layers (ReLU, LeakyReLU, Sigmoid, Tanh, ...; or the layers you name)
during the training batches of each epoch and logs ``activation_mean/<layer>``, ``activation_std/<layer>`` and, for
the ReLU family, ``dead_fraction/<layer>`` (units — channels of a feature map — that were never positive during
the epoch) and ``zero_fraction/<layer>`` (outputs that were <= 0); for sigmoid and tanh
``saturated_fraction/<layer>`` (outputs within 1% of an asymptote, where the gradient vanishes).
:class:`GradientStats` logs ``grad_norm/<layer>`` (the L2 norm of the gradient of the layer's weight, averaged over
the epoch's batches) and ``weight_norm/<layer>`` (the weight's L2 norm at the end of the epoch) for every conv and
linear layer. Each describes its end-of-run picture with :meth:`figures` (drawn by ``cnnkit.viz.FIGURES``; a
training run draws them into its folder).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..autograd import Tensor
from ..errors import InputError
from .callbacks import Callback
from .tasks import Figure

__all__ = ["ActivationStats", "GradientStats", "TensorBoard", "layer_series", "RELU_FAMILY", "SATURATING"]

RELU_FAMILY = ("ReLU", "ReLU6", "LeakyReLU", "ELU", "GELU")
SATURATING = ("Sigmoid", "Tanh")


def layer_series(history, stats) -> dict:
    """``{stat: {layer: [per-epoch values]}}`` of the per-layer keys ``stat/layer`` in a history."""
    out: dict = {}
    for key in history.keys():
        stat, sep, layer = key.partition("/")
        if sep and stat in stats:
            out.setdefault(stat, {})[layer] = [float(v) for v in history[key]]
    return {s: out[s] for s in stats if s in out}


class _Running:
    """Streaming sums of one layer's outputs over an epoch (memory independent of the number of batches)."""

    def __init__(self, kind: str):
        self.kind = kind
        self.n = 0
        self.total = 0.0
        self.total_sq = 0.0
        self.special = 0  # outputs <= 0 (ReLU family) or saturated (sigmoid, tanh)
        self.active = None  # per unit: ever positive this epoch

    def update(self, out: np.ndarray) -> None:
        x = out.astype(np.float64, copy=False)
        self.n += x.size
        self.total += float(x.sum())
        self.total_sq += float(np.square(x).sum())
        if self.kind == "relu":
            positive = x > 0
            self.special += int(x.size - np.count_nonzero(positive))
            axes = tuple(a for a in range(x.ndim) if a != 1) if x.ndim >= 2 else ()
            unit = positive.any(axis=axes) if axes else positive
            self.active = unit if self.active is None else self.active | unit
        elif self.kind == "sigmoid":
            self.special += int(np.count_nonzero((x < 0.01) | (x > 0.99)))
        elif self.kind == "tanh":
            self.special += int(np.count_nonzero(np.abs(x) > 0.99))

    def results(self) -> dict:
        if not self.n:
            return {}
        mean = self.total / self.n
        out = {"activation_mean": mean, "activation_std": float(np.sqrt(max(self.total_sq / self.n - mean ** 2, 0.0)))}
        if self.kind == "relu":
            out["dead_fraction"] = float(1.0 - self.active.mean()) if self.active is not None else 0.0
            out["zero_fraction"] = self.special / self.n
        elif self.kind in ("sigmoid", "tanh"):
            out["saturated_fraction"] = self.special / self.n
        return out


def _kind(module) -> str:
    name = type(module).__name__
    if name in RELU_FAMILY:
        return "relu"
    return {"Sigmoid": "sigmoid", "Tanh": "tanh"}.get(name, "other")


def _write(trainer, values: dict) -> None:
    """Add per-layer numbers to the epoch's history record (the one just appended)."""
    if trainer.history.epochs:
        trainer.history.epochs[-1].update(values)


class ActivationStats(Callback):
    """Per-layer activation statistics of the training batches, per epoch (see the module docstring). ``layers``
    names the layers to watch (default: every activation layer); ``every`` samples one batch in ``every``;
    ``filename`` is the picture's name."""

    stats = ("activation_mean", "activation_std", "dead_fraction", "zero_fraction", "saturated_fraction")

    def __init__(self, layers=None, every: int = 1, filename: str = "activations.png"):
        if not isinstance(every, int) or every < 1:
            raise InputError(f"ActivationStats: every must be an int >= 1, got {every!r}")
        self.layers, self.every, self.filename = layers, every, filename
        self._handles, self._running, self._collect, self._history = [], {}, False, None

    def _watched(self, model) -> dict:
        modules = dict(model.named_modules())
        if self.layers is None:
            return {n: m for n, m in modules.items() if n and type(m).__name__ in RELU_FAMILY + SATURATING}
        missing = [n for n in self.layers if n not in modules or not n]
        if missing:
            raise InputError(f"ActivationStats: no layer named {missing[0]!r}; the model's layers are: "
                             f"{', '.join(n for n in modules if n)}", field="layer")
        return {n: modules[n] for n in self.layers}

    def on_train_begin(self, trainer, logs):
        self._watch = self._watched(trainer.model)
        for name, module in self._watch.items():
            self._handles.append(module.register_forward_hook(self._hook(name, _kind(module))))

    def _hook(self, name, kind):
        def hook(module, args, output):
            if self._collect and isinstance(output, Tensor):
                self._running.setdefault(name, _Running(kind)).update(output.data)
        return hook

    def on_epoch_begin(self, trainer, logs):
        self._running = {}

    def on_batch_begin(self, trainer, logs):
        self._collect = logs.get("batch", 0) % self.every == 0

    def on_batch_end(self, trainer, logs):
        self._collect = False

    def on_epoch_end(self, trainer, logs):
        values = {}
        for name in self._watch:
            for stat, value in (self._running[name].results() if name in self._running else {}).items():
                values[f"{stat}/{name}"] = value
        _write(trainer, values)
        self._history = trainer.history

    def on_train_end(self, trainer, logs):
        for h in self._handles:
            h.remove()
        self._handles = []
        self._history = trainer.history

    def series(self) -> dict:
        """``{stat: {layer: [per-epoch values]}}`` of the run so far."""
        return layer_series(self._history, self.stats) if self._history is not None else {}

    def figures(self) -> list[Figure]:
        series = self.series()
        if not series:
            return []
        return [Figure(self.filename, "layer_stats",
                       {"series": series, "title": "Activations per layer per epoch (training batches)"})]


class GradientStats(Callback):
    """Per-layer gradient and weight norms per epoch for every conv and linear layer (or the layers named in
    ``layers``); see the module docstring."""

    stats = ("grad_norm", "weight_norm")

    def __init__(self, layers=None, filename: str = "gradients.png"):
        self.layers, self.filename = layers, filename
        self._sums, self._batches, self._history = {}, 0, None

    def _weights(self, model) -> dict:
        from ..nn import Conv2d, Linear
        from ..nn.conv import ConvTranspose2d

        modules = dict(model.named_modules())
        if self.layers is not None:
            missing = [n for n in self.layers if n not in modules or getattr(modules[n], "weight", None) is None]
            if missing:
                raise InputError(f"GradientStats: no layer with a weight named {missing[0]!r}", field="layer")
            return {n: modules[n].weight for n in self.layers}
        return {n: m.weight for n, m in modules.items()
                if isinstance(m, (Conv2d, ConvTranspose2d, Linear)) and m.weight is not None}

    def on_train_begin(self, trainer, logs):
        self._watch = self._weights(trainer.model)

    def on_epoch_begin(self, trainer, logs):
        self._sums, self._batches = dict.fromkeys(self._watch, 0.0), 0

    def on_batch_end(self, trainer, logs):
        self._batches += 1
        for name, weight in self._watch.items():
            if weight.grad is not None:
                self._sums[name] += float(np.sqrt(np.square(weight.grad.data, dtype=np.float64).sum()))

    def on_epoch_end(self, trainer, logs):
        values = {}
        for name, weight in self._watch.items():
            values[f"grad_norm/{name}"] = self._sums[name] / max(self._batches, 1)
            values[f"weight_norm/{name}"] = float(np.sqrt(np.square(weight.data, dtype=np.float64).sum()))
        _write(trainer, values)
        self._history = trainer.history

    def on_train_end(self, trainer, logs):
        self._history = trainer.history

    def series(self) -> dict:
        return layer_series(self._history, self.stats) if self._history is not None else {}

    def figures(self) -> list[Figure]:
        series = self.series()
        if not series:
            return []
        return [Figure(self.filename, "layer_stats",
                       {"series": series, "title": "Gradient and weight norms per layer per epoch"})]


class TensorBoard(Callback):
    """Write every number of each epoch's history record (losses, metrics, learning rate and the per-layer
    diagnostics of callbacks listed before this one) as TensorBoard scalars under ``logdir``, and with
    ``histograms`` (default) each parameter's values (``weights/<name>``) and last gradient (``gradients/<name>``)
    as histograms. Needs the ``tensorboardX`` package (``pip install 'cnnkit[tensorboard]'``)."""

    def __init__(self, logdir, histograms: bool = True):
        self.histograms = bool(histograms)
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise InputError("TensorBoard logging needs the tensorboardX package: pip install tensorboardX",
                             field="tensorboard") from None
        self.logdir = Path(logdir)
        self._writer_class = SummaryWriter
        self.writer = None

    def on_train_begin(self, trainer, logs):
        self.writer = self._writer_class(str(self.logdir))

    def on_epoch_end(self, trainer, logs):
        record = trainer.history.epochs[-1] if trainer.history.epochs else logs
        step = int(record.get("epoch", trainer.epoch))
        for key, value in record.items():
            if key != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(key, float(value), step)
        if self.histograms:
            for name, param in trainer.model.named_parameters():
                self.writer.add_histogram(f"weights/{name}", np.asarray(param.data), step)
                grad = getattr(param.grad, "data", param.grad)
                if grad is not None:
                    self.writer.add_histogram(f"gradients/{name}", np.asarray(grad), step)
        self.writer.flush()

    def on_train_end(self, trainer, logs):
        if self.writer is not None:
            self.writer.close()
            self.writer = None
