"""Data-parallel training: the :class:`~cnnkit.training.parallel.SingleProcess` hooks over a process world.

* ``setup``: every process takes rank 0's parameters and buffers (one broadcast of a flat buffer).
* ``gradients(model, weight)``: around ``loss.backward()``. The parameters' gradients are packed into flat buckets
  of about ``bucket_mb`` MiB (in reverse registration order, roughly the order backward produces them), each
  multiplied by this process's sample count, summed over processes by one non-blocking Allreduce per bucket, and
  divided by the global sample count (carried in the last bucket): the gradient of the global batch's mean loss,
  whatever the split. With ``overlap``, a bucket's Allreduce starts during backward as soon as its last gradient
  arrives (tensor hooks; the first step only learns how many contributions each parameter gets); otherwise all
  buckets start after backward.
* ``local_rng``: dropout and other random draws in the forward pass come from a per-process stream, derived at the
  start of each epoch from the shared generator's state (not advancing it) and the rank; the shared generator
  keeps drawing the same epoch orders on every process.
* ``epoch_end``: buffers (BatchNorm running statistics) are averaged over processes (one Allreduce per epoch; their
  update is linear, so the average equals what averaging every step would give).
* ``reduce_metrics``: streaming metric states (sums) are added over processes (one Allreduce).
* ``is_writer``: rank 0 alone writes checkpoints, logs and plots, and shows progress.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time

import numpy as np

from .. import random as ck_random
from ..autograd import Tensor
from ..errors import InputError
from ..training.parallel import SingleProcess
from .world import World, world

__all__ = ["DataParallel", "Bucket"]


class Bucket:
    """A flat buffer holding the gradients of some parameters: ``views[i]`` is parameter i's slice."""

    def __init__(self, params: list, dtype, extra: int = 0):
        self.params = params
        sizes = [p.data.size for p in params]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.flat = np.zeros(int(self.offsets[-1]) + extra, dtype=dtype)
        self.views = [self.flat[self.offsets[i]:self.offsets[i + 1]].reshape(p.data.shape)
                      for i, p in enumerate(params)]
        self.request = None
        self.pending: dict[int, int] = {}

    @property
    def nbytes(self) -> int:
        return self.flat.nbytes


class DataParallel(SingleProcess):
    """Train one model on every process of ``group`` (default: :func:`~cnnkit.distributed.world`) with gradients
    averaged over the global batch. See the module docstring; ``stats`` holds the time spent waiting for the
    gradient Allreduce (``allreduce_seconds``), the steps and the bytes reduced per step."""

    def __init__(self, group: World | None = None, bucket_mb: float = 25.0, overlap: bool = False):
        self.group = group if group is not None else world()
        if bucket_mb <= 0:
            raise InputError(f"DataParallel: bucket_mb must be positive, got {bucket_mb!r}")
        self.bucket_bytes = int(bucket_mb * 2 ** 20)
        self.overlap = bool(overlap)
        self.rank, self.world_size = self.group.rank, self.group.size
        self.is_writer = self.group.is_writer
        self._buckets: list[Bucket] | None = None
        self._model_id = None
        self._expected: dict[int, int] | None = None
        self._hooks: list = []
        self._weight = 1.0
        self._rank_rng = None
        self._fresh_rng = True
        self.stats = {"steps": 0, "allreduce_seconds": 0.0, "buckets": 0, "bytes_per_step": 0}

    # ------------------------------------------------------------------ start
    def _state_tensors(self, model) -> list[Tensor]:
        seen, out = set(), []
        for t in list(model.parameters()) + list(model.buffers()):
            if id(t) not in seen:
                seen.add(id(t))
                out.append(t)
        return out

    def setup(self, model) -> None:
        """Broadcast rank 0's parameters and buffers to every process (one flat buffer per dtype)."""
        self._fresh_rng = True
        if self.world_size == 1:
            return
        by_dtype: dict = {}
        for t in self._state_tensors(model):
            by_dtype.setdefault(t.data.dtype, []).append(t)
        for dtype, tensors in by_dtype.items():
            flat = np.concatenate([t.data.reshape(-1) for t in tensors]).astype(dtype, copy=False)
            self.group.bcast_(flat, 0, "the start-up broadcast of the parameters")
            offset = 0
            for t in tensors:
                n = t.data.size
                t.data[...] = flat[offset:offset + n].reshape(t.data.shape)
                offset += n

    # ------------------------------------------------------------------ gradients
    def _build(self, model) -> list[Bucket]:
        params = [p for p in model.parameters() if p.requires_grad]
        buckets, current, size = [], [], 0
        for p in reversed(params):
            if current and (size + p.data.nbytes > self.bucket_bytes or p.data.dtype != current[0].data.dtype):
                buckets.append(current)
                current, size = [], 0
            current.append(p)
            size += p.data.nbytes
        if current:
            buckets.append(current)
        if not buckets:
            raise InputError("DataParallel: the model has no trainable parameters")
        out = [Bucket(ps, ps[0].data.dtype, extra=1 if i == len(buckets) - 1 else 0) for i, ps in enumerate(buckets)]
        self._index = {id(p): (b, i) for b in out for i, p in enumerate(b.params)}
        self._model_id = id(model)
        self._expected = None
        self.stats["buckets"] = len(out)
        self.stats["bytes_per_step"] = int(sum(b.nbytes for b in out))
        return out

    def _hook(self, p):
        def on_grad(grad):
            bucket, i = self._index[id(p)]
            seen = bucket.pending.get(i, 0) + 1
            bucket.pending[i] = seen
            if bucket.request is not None:
                raise RuntimeError(f"DataParallel: a parameter of shape {p.shape} got a gradient after its bucket was "
                                   f"sent; with overlap=True every parameter must be used the same number of times in "
                                   f"every step")
            if self._expected is not None and seen == self._expected[id(p)]:
                total = grad.data if p.grad is None else p.grad.data + grad.data
                np.multiply(total, self._weight, out=bucket.views[i], casting="unsafe")
                if all(bucket.pending.get(k, 0) == self._expected[id(q)] for k, q in enumerate(bucket.params)):
                    self._launch(bucket)
            self.group.test([b.request for b in self._buckets if b.request is not None])
            return None

        return on_grad

    def _launch(self, bucket: Bucket) -> None:
        if bucket is self._buckets[-1]:
            bucket.flat[-1] = self._weight
        bucket.request = self.group.iallreduce_(bucket.flat)

    @contextlib.contextmanager
    def gradients(self, model, weight: float = 1.0):
        if self.world_size == 1:
            yield
            return
        if self._buckets is None or self._model_id != id(model):
            for h in self._hooks:
                h.remove()
            self._hooks = []
            self._buckets = self._build(model)
            if self.overlap:
                self._hooks = [p.register_hook(self._hook(p)) for b in self._buckets for p in b.params]
        self._weight = float(weight)
        for b in self._buckets:
            b.request, b.pending = None, {}
        yield
        self._finish()

    def _finish(self) -> None:
        buckets = self._buckets
        if self.overlap and self._expected is None:  # first step: learn how often each parameter contributes
            self._expected = {id(p): b.pending.get(i, 0) for b in buckets for i, p in enumerate(b.params)}
        for b in buckets:
            if b.request is None:
                for i, p in enumerate(b.params):
                    if p.grad is None:
                        b.views[i][...] = 0
                    else:
                        np.multiply(p.grad.data, self._weight, out=b.views[i], casting="unsafe")
                self._launch(b)
        start = time.perf_counter()
        self.group.wait([b.request for b in buckets], "the gradient allreduce")
        self.stats["allreduce_seconds"] += time.perf_counter() - start
        self.stats["steps"] += 1
        total = float(buckets[-1].flat[-1])
        if not total > 0:
            raise InputError("DataParallel: the processes' sample counts add up to 0 (weight must be > 0)")
        for b in buckets:
            b.flat /= total
            b.request = None
            for i, p in enumerate(b.params):
                grad = b.views[i].copy()
                p.grad = Tensor._wrap(grad.astype(p.data.dtype, copy=False))

    # ------------------------------------------------------------------ randomness
    def _derive_rng(self) -> np.random.Generator:
        state = json.dumps(ck_random.get_rng_state(), sort_keys=True, default=str).encode()
        digest = hashlib.sha256(state).digest()
        words = [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4)]
        return np.random.default_rng([*words, self.rank])

    @contextlib.contextmanager
    def local_rng(self):
        if self.world_size == 1:
            yield
            return
        if self._fresh_rng or self._rank_rng is None:
            self._rank_rng = self._derive_rng()
            self._fresh_rng = False
        shared = ck_random._generator
        ck_random._generator = self._rank_rng
        try:
            yield
        finally:
            ck_random._generator = shared

    # ------------------------------------------------------------------ epoch end and metrics
    def epoch_end(self, model) -> None:
        self._fresh_rng = True
        if self.world_size == 1:
            return
        buffers = [b for b in model.buffers() if b.data.dtype.kind == "f"]
        if not buffers:
            return
        flat = np.concatenate([b.data.reshape(-1).astype(np.float64) for b in buffers])
        self.group.allreduce_(flat, "averaging the buffers")
        flat /= self.world_size
        offset = 0
        for b in buffers:
            n = b.data.size
            b.data[...] = flat[offset:offset + n].reshape(b.data.shape)
            offset += n

    def _gather_metric(self, metric) -> None:
        """A metric whose state grows with the data (``gathered``: a record per detection) cannot be summed: every
        process's state is gathered and merged in rank order."""
        import copy

        states = self.group.allgather(metric.state_dict(), "merging the metrics")
        parts = []
        for state in states:
            part = copy.deepcopy(metric)
            part.load_state_dict(state)
            parts.append(part)
        metric.reset()
        for part in parts:
            metric.merge(part)

    def reduce_metrics(self, loss_mean, metrics, make=None):
        if self.world_size == 1:
            return metrics
        if metrics is None and make is not None:
            metrics = make()
        for metric in (metrics or {}).values():
            if getattr(metric, "gathered", False):
                self._gather_metric(metric)
        objects = [loss_mean, *(m for m in (metrics or {}).values() if not getattr(m, "gathered", False))]
        states = [m.state_dict() for m in objects]
        keys = [(i, k) for i, s in enumerate(states) for k in sorted(s)]
        flat = np.concatenate([np.asarray(states[i][k], dtype=np.float64).reshape(-1) for i, k in keys]) \
            if keys else np.zeros(0)
        self.group.allreduce_(flat, "merging the metrics")
        offset = 0
        for i, k in keys:
            old = np.asarray(states[i][k])
            n = old.size
            states[i][k] = flat[offset:offset + n].reshape(old.shape).astype(old.dtype)
            offset += n
        for m, s in zip(objects, states, strict=True):
            m.load_state_dict(s)
        return metrics
