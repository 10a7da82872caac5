"""A DataLoader that serves one process's share of every global batch.

Every process draws the same epoch order from the same (shared) generator and cuts it into the same global
batches of ``batch_size``; process r takes the r-th of ``size`` near-equal contiguous slices of each batch
(``np.array_split``). So N processes together see exactly the batches one process would, and ``len(loader)`` is the
number of global batches. Random transforms draw from a per-batch stream that also depends on the rank.
"""

from __future__ import annotations

import numpy as np

from ..data.loader import DataLoader
from ..errors import InputError

__all__ = ["ShardedLoader", "shard_bounds"]


def shard_bounds(n: int, rank: int, size: int) -> tuple[int, int]:
    """[start, end) of slice ``rank`` when ``n`` items are cut into ``size`` near-equal contiguous slices."""
    base, extra = divmod(n, size)
    start = rank * base + min(rank, extra)
    return start, start + base + (rank < extra)


class ShardedLoader(DataLoader):
    """:class:`~cnnkit.data.DataLoader` over ``dataset`` with the global ``batch_size``, serving process ``rank`` of
    ``size`` its slice of each batch (see the module docstring). Takes the DataLoader's other arguments.

    A final global batch with fewer samples than processes is dropped (it would leave a process without data);
    ``dropped`` says how many samples an epoch loses that way (0 in the usual case)."""

    def __init__(self, dataset, batch_size: int = 1, *, rank: int, size: int, **kwargs):
        super().__init__(dataset, batch_size=batch_size, **kwargs)
        if not 0 <= rank < size:
            raise InputError(f"ShardedLoader: rank must be in [0, {size}), got {rank}")
        n = self._num_items()
        if size > n:
            raise InputError(f"{size} processes but only {n} training samples: every process needs at least one "
                             f"sample (use at most {n} processes)")
        if size > self.batch_size:
            raise InputError(f"the batch size ({self.batch_size}) is the global batch, shared by {size} processes: it "
                             f"must be at least {size} so that each process gets a sample", field="batch_size")
        self.rank, self.size = int(rank), int(size)
        self._stream_key = (self.rank,) if self.size > 1 else ()
        last = n % self.batch_size
        self.dropped = last if (0 < last < self.size and not self.drop_last) else 0

    def __len__(self) -> int:
        n = super().__len__()
        return n - 1 if self.dropped else n

    def _epoch_batches(self, order: np.ndarray, start: int, count: int) -> list:
        if self.dropped:
            count = min(count, len(self))
        batches = []
        for number, idx in super()._epoch_batches(order, start, count):
            lo, hi = shard_bounds(len(idx), self.rank, self.size)
            batches.append((number, idx[lo:hi]))
        return batches

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", rank={self.rank}, size={self.size})"
