"""The pieces of data-parallel training that need no MPI: the sharded loader, the one-process hooks, synchronised
batch norm over an in-process group of threads (against batch norm on the whole batch)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import cnnkit as ck
from cnnkit import distributed as dist
from cnnkit.data import ArrayDataset, DataLoader
from cnnkit.training.parallel import SingleProcess


@pytest.mark.parametrize("n,size", [(10, 3), (7, 7), (12, 4), (5, 1)])
def test_shard_bounds_cover_without_overlap(n, size):
    spans = [dist.shard_bounds(n, r, size) for r in range(size)]
    assert spans[0][0] == 0 and spans[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
    assert max(e - s for s, e in spans) - min(e - s for s, e in spans) <= 1


@pytest.mark.parametrize("n,batch,size", [(50, 8, 3), (47, 10, 2), (41, 8, 4)])
def test_ranks_together_serve_the_single_process_batches(n, batch, size):
    data = ArrayDataset(np.arange(n, dtype=np.float32)[:, None], np.arange(n))
    ck.manual_seed(3)
    single = [b[1].data.tolist() for b in DataLoader(data, batch_size=batch, shuffle=True)]
    per_rank = []
    for r in range(size):
        ck.manual_seed(3)  # every process holds the same shared generator
        loader = dist.ShardedLoader(data, batch_size=batch, shuffle=True, rank=r, size=size)
        per_rank.append([b[1].data.tolist() for b in loader])
        assert len(loader) == len(per_rank[-1])
    dropped = n % batch if 0 < n % batch < size else 0
    expected = single[:-1] if dropped else single
    for i, batch_items in enumerate(expected):
        assert sum((per_rank[r][i] for r in range(size)), []) == batch_items


def test_sharded_loader_refuses_more_processes_than_samples_or_batch():
    data = ArrayDataset(np.zeros((3, 1), np.float32), np.zeros(3, np.int64))
    with pytest.raises(ck.InputError, match="4 processes but only 3 training samples"):
        dist.ShardedLoader(data, batch_size=4, rank=0, size=4)
    with pytest.raises(ck.InputError, match="global batch"):
        dist.ShardedLoader(data, batch_size=1, rank=0, size=2)


def test_one_process_hooks_change_nothing():
    parallel = SingleProcess()
    model = ck.nn.Linear(3, 2)
    with parallel.local_rng(), parallel.gradients(model, weight=4):
        ck.functional.sum(model(ck.ones(2, 3))).backward()
    assert parallel.is_writer and parallel.reduce_metrics(None, {"a": 1}) == {"a": 1}
    assert dist.world().size == 1 and dist.world().is_writer


class ThreadGroup(dist.World):
    """N ranks as threads of this process, for the synchronised batch norm's arithmetic (the op itself holds no
    global state)."""

    def __init__(self, size: int):
        super().__init__(timeout=30)
        self.size = size
        self.barrier = threading.Barrier(size)
        self.slots = [None] * size
        self.local = threading.local()

    @property
    def rank(self):
        return self.local.rank

    def allreduce_(self, array, what="allreduce"):
        self.slots[self.rank] = array.copy()
        self.barrier.wait()
        total = np.sum(self.slots, axis=0)
        self.barrier.wait()
        array[...] = total
        return array


def test_sync_batch_norm_equals_batch_norm_on_the_whole_batch():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 3, 4, 5)).astype(np.float64)
    w, b = rng.uniform(0.5, 1.5, 3), rng.standard_normal(3)
    g = rng.standard_normal(x.shape)
    # one process, the whole batch; the loss is sum(y * g) / 7 (a mean over the samples)
    xt = ck.tensor(x, requires_grad=True)
    wt, bt = ck.tensor(w, requires_grad=True), ck.tensor(b, requires_grad=True)
    rm, rv = np.zeros(3), np.ones(3)
    y = ck.functional.batch_norm(xt, rm, rv, wt, bt, training=True, momentum=0.1)
    ck.functional.sum(y * ck.tensor(g / 7)).backward()
    # three ranks holding 3, 2 and 2 samples; each loss is a mean over its own samples
    group, bounds = ThreadGroup(3), [(0, 3), (3, 5), (5, 7)]
    results = [None] * 3

    def rank(r):
        group.local.rank = r
        lo, hi = bounds[r]
        xs = ck.tensor(x[lo:hi], requires_grad=True)
        ws, bs = ck.tensor(w, requires_grad=True), ck.tensor(b, requires_grad=True)
        rms, rvs = np.zeros(3), np.ones(3)
        ys = dist.SyncBatchNormFunction.apply(xs, rms, rvs, ws, bs, group=group, momentum=0.1, eps=1e-5)
        ck.functional.sum(ys * ck.tensor(g[lo:hi] / (hi - lo))).backward()
        results[r] = (ys.data, xs.grad.data, ws.grad.data, bs.grad.data, rms, rvs, hi - lo)

    threads = [threading.Thread(target=rank, args=(r,)) for r in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    np.testing.assert_allclose(np.concatenate([r[0] for r in results]), y.data, atol=1e-12)
    # DataParallel weights each process's gradients by its share of the samples: n_r / N
    np.testing.assert_allclose(np.concatenate([r[1] * r[6] / 7 for r in results]), xt.grad.data, atol=1e-12)
    np.testing.assert_allclose(sum(r[2] * r[6] / 7 for r in results), wt.grad.data, atol=1e-12)
    np.testing.assert_allclose(sum(r[3] * r[6] / 7 for r in results), bt.grad.data, atol=1e-12)
    for r in results:
        np.testing.assert_allclose(r[4], rm, atol=1e-12)
        np.testing.assert_allclose(r[5], rv, atol=1e-12)


def test_convert_sync_batchnorm_keeps_the_state_dict():
    model = ck.models.small_cnn()
    keys = list(model.state_dict())
    dist.convert_sync_batchnorm(model)
    assert list(model.state_dict()) == keys
    assert sum(isinstance(m, dist.SyncBatchNorm2d) for m in model.modules()) == 4
    model.train()
    with ck.no_grad():
        out = model(ck.ones(2, 1, 8, 8))  # a world of one: ordinary batch norm
    assert out.shape == (2, 10)
