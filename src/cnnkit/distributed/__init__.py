"""Data-parallel training over MPI (``pip install 'cnnkit[mpi]'``: mpi4py and the MPICH wheel).

    mpiexec -n 4 cnnkit train --model resnet20 --dataset cifar10 --batch-size 128    # 128 = the global batch

Under an MPI launcher ``cnnkit train`` finds the world by itself. From Python, the same pieces serve a loop of
your own::

    from cnnkit import distributed as dist
    group = dist.world()                                   # rank, size; a world of one without mpiexec
    loader = dist.ShardedLoader(train_set, batch_size=128, shuffle=True, rank=group.rank, size=group.size)
    parallel = dist.DataParallel(group)                    # or Trainer(..., parallel=parallel)
    parallel.setup(model)
    for x, y in loader:
        with parallel.local_rng():
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        with parallel.gradients(model, weight=len(x)):
            loss.backward()
        opt.step()

See ``docs/distributed.md`` for how it works, several machines, and what it costs.
"""

from .loader import ShardedLoader, shard_bounds
from .parallel import Bucket, DataParallel
from .syncbn import SyncBatchNorm1d, SyncBatchNorm2d, SyncBatchNormFunction, convert_sync_batchnorm
from .world import DEFAULT_TIMEOUT, MPIWorld, PeerLostError, World, launched_size, world

__all__ = ["world", "World", "MPIWorld", "launched_size", "PeerLostError", "DEFAULT_TIMEOUT", "DataParallel",
           "Bucket", "ShardedLoader", "shard_bounds", "SyncBatchNorm1d", "SyncBatchNorm2d", "SyncBatchNormFunction",
           "convert_sync_batchnorm", "agree"]


def agree(fn, group=None):
    """Run ``fn()`` on every process and agree on the outcome: if it raised anywhere, every process raises —
    rank 0 the error of the lowest failing rank, the others the same error marked ``quiet`` (already reported by
    rank 0) — so a setup error shows once and stops every process instead of leaving some waiting."""
    group = group if group is not None else world()
    try:
        result, error = fn(), None
    except Exception as err:  # noqa: BLE001 - any failure must reach the other processes
        result, error = None, err
    if group.size == 1:
        if error is not None:
            raise error
        return result
    outcomes = group.allgather(None if error is None else (type(error).__name__, str(error),
                                                           getattr(error, "field", None)), "agreeing on the setup")
    failed = [(r, o) for r, o in enumerate(outcomes) if o is not None]
    if not failed:
        return result
    rank, (kind, message, field) = failed[0]
    if group.rank == 0:
        if error is not None and rank == 0:
            raise error
        from ..errors import InputError

        raise InputError(f"rank {rank}: {message}", field=field)
    from ..errors import InputError

    quiet = InputError(message, field=field)
    quiet.quiet = True
    raise quiet
