"""The seams through which a training loop runs on one process or on several (data-parallel).

The :class:`~cnnkit.training.Trainer` calls these and nothing else about parallelism; :class:`SingleProcess` is
what it uses by default (every hook does nothing) and :class:`cnnkit.distributed.DataParallel` implements them over
MPI. A user's own loop calls the same hooks::

    parallel.setup(model)                                  # once: every process starts from rank 0's state
    for inputs, targets in loader:                         # a loader that serves this process's share
        with parallel.local_rng():                         # dropout draws from this process's stream
            loss = loss_fn(model(inputs), targets)
        optimizer.zero_grad()
        with parallel.gradients(model, weight=len(inputs)):
            loss.backward()                                # gradients averaged over processes on exit
        optimizer.step()
    parallel.epoch_end(model)                              # buffers (BN running statistics) agreed
    metrics = parallel.reduce_metrics(loss_mean, {"accuracy": accuracy})
"""

from __future__ import annotations

import contextlib

__all__ = ["SingleProcess"]


class SingleProcess:
    """Training in this process alone: rank 0 of 1, the writing process; every hook is a no-op."""

    rank = 0
    world_size = 1
    is_writer = True  # only the writing process saves checkpoints, logs, plots and shows progress

    def setup(self, model) -> None:
        """Before the first step: make every process's model and buffers equal (here: nothing to do)."""

    def local_rng(self):
        """Context for a training forward pass: random draws (dropout) come from this process's own stream."""
        return contextlib.nullcontext()

    def gradients(self, model, weight: float = 1.0):
        """Context around ``loss.backward()``: on exit every parameter's ``.grad`` is the ``weight``-weighted mean
        over processes (``weight``: the samples this process's loss averaged over)."""
        return contextlib.nullcontext()

    def epoch_end(self, model) -> None:
        """After an epoch's training steps, before validation and checkpoints: agree on buffers."""

    def reduce_metrics(self, loss_mean, metrics: dict | None, make=None) -> dict | None:
        """Merge the streaming loss mean and metrics over processes (their states are sums, merged in place);
        ``make()`` builds the metrics where a process saw no batch (``metrics`` None). Returns the metrics."""
        return metrics
