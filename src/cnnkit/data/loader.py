"""DataLoader: batches, shuffling, background prefetch and resumable iteration state."""

from __future__ import annotations

import collections.abc
import copy
import numbers
import queue
import threading

import numpy as np

from .. import random as _random
from ..autograd import Tensor
from ..errors import InputError, InputTypeError
from ._rng import make_rng, use_rng


def _stack(arrays: list[np.ndarray], where: str) -> np.ndarray:
    first = arrays[0].shape
    for k, a in enumerate(arrays):
        if a.shape != first:
            raise InputError(
                f"default_collate: cannot stack {where} of different shapes: item 0 has {first}, item {k} has "
                f"{a.shape}; give every item one size (e.g. ImageFolder(size=(H, W)) or transforms.Resize)"
            )
    return np.stack(arrays)


def _collate(batch: list, where: str):
    elem = batch[0]
    if isinstance(elem, Tensor) or isinstance(elem, np.ndarray):
        return Tensor(_stack([b.data if isinstance(b, Tensor) else np.asarray(b) for b in batch], where))
    if isinstance(elem, (np.generic, bool)):
        return Tensor(np.asarray(batch))
    if isinstance(elem, numbers.Number):
        if all(isinstance(b, numbers.Integral) for b in batch):
            return Tensor(np.asarray(batch, dtype=np.int64))
        if all(isinstance(b, numbers.Real) for b in batch):
            return Tensor(np.asarray(batch, dtype=np.float32))
        return list(batch)
    if isinstance(elem, (str, bytes)) or elem is None:
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        return {key: _collate([b[key] for b in batch], f"{where}[{key!r}]") for key in elem}
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        for k, b in enumerate(batch):
            if len(b) != size:
                raise InputError(f"default_collate: item 0 has {size} fields but item {k} has {len(b)}")
        fields = [_collate(list(column), f"field {j}") for j, column in enumerate(zip(*batch, strict=True))]
        if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
            return type(elem)(*fields)
        return tuple(fields) if isinstance(elem, tuple) else fields
    return list(batch)


def default_collate(batch):
    """Stack a list of items into a batch of :class:`cnnkit.Tensor` s.

    Arrays and Tensors are stacked (their dtypes kept: images float32 stay float32); Python ints become int64,
    Python floats float32, NumPy scalars keep their dtype; tuples, lists, namedtuples and dicts are collated
    field by field and keep their structure; strings stay lists.
    """
    if not isinstance(batch, (list, tuple)) or not batch:
        raise InputError(f"default_collate: expected a non-empty list of items, got {type(batch).__name__}")
    return _collate(list(batch), "items")


def _tensorize(batch):
    if isinstance(batch, np.ndarray):
        return Tensor(batch)
    if isinstance(batch, tuple):
        return tuple(_tensorize(b) for b in batch)
    return batch


_OK, _DONE, _ERROR = 0, 1, 2


def _prefetch_worker(fetch, batches, out: queue.Queue, stop: threading.Event) -> None:
    """Thread body: build batches in order and queue them; holds no reference to the iterator."""

    def put(item) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    try:
        for number, idx in batches:
            if stop.is_set() or not put((_OK, fetch(number, idx))):
                return
        put((_DONE, None))
    except BaseException as err:  # re-raised in the consuming thread
        put((_ERROR, err))


_WORKER_FETCH: dict = {}  # token -> the epoch's fetch function, inherited by forked worker processes


def _worker_fetch(key, number: int, idx: np.ndarray):
    batch = _WORKER_FETCH[key](number, idx)
    return _plain(batch)


def _plain(batch):
    """Tensors as arrays for the trip back from a worker process (and :func:`_tensorize` on arrival)."""
    if isinstance(batch, Tensor):
        return ("__tensor__", batch.data)
    if isinstance(batch, (list, tuple)):
        items = [_plain(b) for b in batch]
        return type(batch)(*items) if hasattr(batch, "_fields") else type(batch)(items)
    if isinstance(batch, dict):
        return {k: _plain(v) for k, v in batch.items()}
    return batch


def _unplain(batch):
    if isinstance(batch, tuple) and len(batch) == 2 and isinstance(batch[0], str) and batch[0] == "__tensor__":
        return Tensor._wrap(batch[1])
    if isinstance(batch, (list, tuple)):
        items = [_unplain(b) for b in batch]
        return type(batch)(*items) if hasattr(batch, "_fields") else type(batch)(items)
    if isinstance(batch, dict):
        return {k: _unplain(v) for k, v in batch.items()}
    return batch


class _WorkerPool:
    """Batches built by ``workers`` forked processes, handed out in the epoch's order (each batch draws from its own
    seeded random stream, so the result does not depend on which process built it). At most ``2 x workers`` batches
    are built ahead."""

    def __init__(self, fetch, batches: list, workers: int):
        import multiprocessing as mp

        self._key = (id(self), len(_WORKER_FETCH))
        _WORKER_FETCH[self._key] = fetch
        self._pool = mp.get_context("fork").Pool(workers)
        self._pending: collections.deque = collections.deque()
        self._todo = iter(batches)
        self._ahead = 2 * workers
        self._fill()

    def _fill(self) -> None:
        while len(self._pending) < self._ahead:
            nxt = next(self._todo, None)
            if nxt is None:
                return
            self._pending.append(self._pool.apply_async(_worker_fetch, (self._key, *nxt)))

    def next(self):
        result = self._pending.popleft()
        self._fill()
        return _unplain(result.get())

    def close(self) -> None:
        _WORKER_FETCH.pop(self._key, None)
        self._pool.terminate()
        self._pool.join()


class _LoaderIterator:
    """One epoch of a DataLoader."""

    def __init__(self, loader: DataLoader, token: int, batches: list, fetch, prefetch: int, workers: int = 0):
        self._loader, self._token = loader, token
        self._batches, self._fetch = batches, fetch
        self._pos = 0
        self._thread = None
        self._workers = None
        self._done = not batches
        if workers and batches:
            self._workers = _WorkerPool(fetch, batches, workers)
        elif prefetch and batches:
            self._queue: queue.Queue = queue.Queue(maxsize=prefetch)
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=_prefetch_worker, args=(fetch, batches, self._queue, self._stop), daemon=True,
                name="cnnkit-prefetch",
            )  # fmt: skip
            self._thread.start()

    def __iter__(self):
        return self

    def _next_prefetched(self):
        while True:
            try:
                kind, payload = self._queue.get(timeout=0.5)
                break
            except queue.Empty:
                if not self._thread.is_alive() and self._queue.empty():
                    self.close()
                    raise RuntimeError("DataLoader: the prefetch thread stopped without a result") from None
        if kind == _ERROR:
            self.close()
            raise payload
        if kind == _DONE:
            self.close()
            raise StopIteration
        return payload

    def __next__(self):
        if self._done:
            raise StopIteration
        if self._workers is not None:
            try:
                batch = self._workers.next()
            except BaseException:
                self.close()
                raise
        elif self._thread is not None:
            batch = self._next_prefetched()
        else:
            number, idx = self._batches[self._pos]
            batch = self._fetch(number, idx)
        self._pos += 1
        last = self._pos == len(self._batches)
        if last:
            self.close()  # the thread has nothing left to build: let it finish now
        self._loader._batch_served(self._token, last)
        return batch

    def close(self) -> None:
        """Stop the prefetch thread (called when the loop ends or is broken)."""
        self._done = True
        workers, self._workers = self._workers, None
        if workers is not None:
            workers.close()
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            while True:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
            thread.join(timeout=10)

    def __del__(self):
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass


class DataLoader:
    """Iterate over ``dataset`` in batches of :class:`cnnkit.Tensor` s.

    ``shuffle``: a new order each epoch, drawn when the epoch starts from ``seed``/``generator`` when given,
    else from the global generator (``cnnkit.manual_seed`` makes it repeatable). ``sampler``: any iterable of
    indices instead (not with ``shuffle``). ``drop_last`` drops a final short batch. ``collate_fn`` turns a
    list of items into a batch (default :func:`default_collate`).

    Random transforms that use the default generator draw from a per-batch stream seeded from the epoch's
    draw and the batch number, so results do not depend on ``prefetch`` and a resumed epoch repeats them.
    ``prefetch=k`` builds up to ``k`` batches ahead in a background thread (same order; an error is re-raised
    here; breaking the loop stops the thread). ``num_workers=k`` builds batches in ``k`` worker processes (forked;
    at most ``2k`` batches ahead) and hands them out in the same order with the same random draws as without
    workers; an error in a worker is re-raised here. ``fast``: when the dataset can index whole arrays (e.g.
    :class:`ArrayDataset`, ``Digits``, ``MNIST``) and has no per-item transform, batches are cut by fancy
    indexing instead of item by item (same result).

    ``state_dict()`` / ``load_state_dict()`` save and restore the position within the epoch and the RNG
    state, so a training run restored from a checkpoint continues with the same batches.
    """

    def __init__(
        self,
        dataset,
        batch_size: int = 1,
        shuffle: bool = False,
        sampler=None,
        drop_last: bool = False,
        collate_fn=None,
        seed: int | None = None,
        generator: np.random.Generator | None = None,
        prefetch: int = 0,
        fast: bool = True,
        num_workers: int = 0,
    ):
        if not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
            raise InputTypeError(f"DataLoader: dataset needs __getitem__ and __len__, got {type(dataset).__name__}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise InputError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if isinstance(prefetch, bool) or not isinstance(prefetch, numbers.Integral) or prefetch < 0:
            raise InputError(f"DataLoader: prefetch must be an int >= 0, got {prefetch!r}")
        if isinstance(num_workers, bool) or not isinstance(num_workers, numbers.Integral) or num_workers < 0:
            raise InputError(f"DataLoader: num_workers must be an int >= 0, got {num_workers!r}")
        if num_workers:
            import multiprocessing as mp

            if "fork" not in mp.get_all_start_methods():
                raise InputError("DataLoader: worker processes need the 'fork' start method, which this platform "
                                 "lacks; use num_workers=0 (and prefetch=) here")
        if sampler is not None and shuffle:
            raise InputError("DataLoader: sampler and shuffle=True are mutually exclusive")
        if collate_fn is not None and not callable(collate_fn):
            raise InputTypeError(f"DataLoader: collate_fn must be callable, got {type(collate_fn).__name__}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.sampler = sampler
        self.drop_last = bool(drop_last)
        self.collate_fn = default_collate if collate_fn is None else collate_fn
        self.prefetch = int(prefetch)
        self.num_workers = int(num_workers)
        self.fast = bool(fast) and self.collate_fn is default_collate and hasattr(dataset, "_get_batch")
        self.generator = make_rng(generator, seed, "DataLoader")
        self._epoch = 0
        self._served = 0
        self._in_epoch = False
        self._epoch_rng_state = None
        self._resume = None
        self._token = 0

    # ------------------------------------------------------------------ sizes
    def _num_items(self) -> int:
        if self.sampler is not None and hasattr(self.sampler, "__len__"):
            return len(self.sampler)
        return len(self.dataset)

    def __len__(self) -> int:
        n = self._num_items()
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    # ------------------------------------------------------------------ epochs
    def _source(self) -> np.random.Generator:
        return self.generator if self.generator is not None else _random.get_rng()

    def _draw_epoch(self, rng: np.random.Generator):
        if self.sampler is not None:
            order = np.fromiter((int(i) for i in self.sampler), dtype=np.int64)
        elif self.shuffle:
            order = rng.permutation(len(self.dataset))
        else:
            order = np.arange(len(self.dataset))
        epoch_seed = int(rng.integers(0, 2**63 - 1))
        return order, epoch_seed

    def _make_fetch(self, epoch_seed: int):
        dataset, collate, fast = self.dataset, self.collate_fn, self.fast

        stream = self._stream_key

        def fetch(number: int, idx: np.ndarray):
            with use_rng(np.random.default_rng([epoch_seed, number, *stream])):
                if fast:
                    out = dataset._get_batch(idx)
                    if out is not None:
                        return _tensorize(out)
                return collate([dataset[int(i)] for i in idx])

        return fetch

    def __iter__(self):
        source = self._source()
        start = 0
        if self._resume is not None:
            saved_state, start = self._resume
            self._resume = None
            replay = copy.deepcopy(source)  # redraw the interrupted epoch without touching the live stream
            replay.bit_generator.state = saved_state
            order, epoch_seed = self._draw_epoch(replay)
            self._epoch_rng_state = copy.deepcopy(saved_state)
        else:
            self._epoch_rng_state = copy.deepcopy(source.bit_generator.state)
            order, epoch_seed = self._draw_epoch(source)
            self._epoch += 1
        n, bs = len(order), self.batch_size
        count = n // bs if self.drop_last else -(-n // bs)
        batches = self._epoch_batches(order, start, count)
        self._token += 1
        self._served = start
        self._in_epoch = bool(batches)
        return _LoaderIterator(self, self._token, batches, self._make_fetch(epoch_seed), self.prefetch,
                               self.num_workers)

    # Two seams for loaders that serve part of each batch (cnnkit.distributed.ShardedLoader): the (number, indices)
    # batches of an epoch from its order, and extra words for the per-batch random stream.
    _stream_key: tuple = ()

    def _epoch_batches(self, order: np.ndarray, start: int, count: int) -> list:
        bs = self.batch_size
        return [(b, order[b * bs : (b + 1) * bs]) for b in range(start, count)]

    def _batch_served(self, token: int, last: bool) -> None:
        if token == self._token:
            self._served += 1
            if last:
                self._in_epoch = False

    # ------------------------------------------------------------------ checkpoint state
    def state_dict(self) -> dict:
        """Position and RNG state: ``epoch``, ``batches_served``, ``in_epoch``, ``epoch_rng_state``,
        ``rng_state`` (the loader's own generator, None when it uses the global one)."""
        return {
            "epoch": self._epoch,
            "batches_served": self._served,
            "in_epoch": self._in_epoch,
            "epoch_rng_state": copy.deepcopy(self._epoch_rng_state),
            "rng_state": None if self.generator is None else copy.deepcopy(self.generator.bit_generator.state),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`; the next ``iter()`` finishes the interrupted epoch (if any)."""
        keys = {"epoch", "batches_served", "in_epoch", "epoch_rng_state", "rng_state"}
        if not isinstance(state, dict) or not keys <= set(state):
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise InputError(f"DataLoader.load_state_dict: expected a dict with keys {sorted(keys)}, got {got}")
        if (state["rng_state"] is None) != (self.generator is None):
            raise InputError(
                "DataLoader.load_state_dict: the state was saved by a loader "
                + ("with" if state["rng_state"] is not None else "without")
                + " its own seed/generator, this one is "
                + ("with" if self.generator is not None else "without")
            )
        if self.generator is not None:
            self.generator.bit_generator.state = copy.deepcopy(state["rng_state"])
        self._epoch = int(state["epoch"])
        self._served = int(state["batches_served"])
        self._in_epoch = bool(state["in_epoch"])
        self._epoch_rng_state = copy.deepcopy(state["epoch_rng_state"])
        self._resume = None
        if self._in_epoch and self._epoch_rng_state is not None:
            self._resume = (copy.deepcopy(self._epoch_rng_state), self._served)

    def __repr__(self) -> str:
        return (
            f"DataLoader(dataset={type(self.dataset).__name__}, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last}, prefetch={self.prefetch}, batches={len(self)})"
        )
