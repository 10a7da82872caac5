"""The process group: who am I (rank), how many are we (size), and the few collectives data-parallel training needs.

``world()`` detects an MPI launch (``mpiexec -n N ...``) from the launcher's environment and joins it through
mpi4py; without one it is a world of one process, where every collective is the identity.

Every wait on another process is bounded: a collective that gets no answer within ``timeout`` seconds (default
60, ``CNNKIT_DIST_TIMEOUT``) raises :class:`PeerLostError`, so a process whose peer died or hung stops with a clear
error instead of waiting forever. Waiting polls with short sleeps rather than spinning, which leaves the cores to
the processes still computing.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from ..errors import InputError

__all__ = ["World", "MPIWorld", "world", "launched_size", "local_size", "share_cores", "PeerLostError",
           "DEFAULT_TIMEOUT"]

DEFAULT_TIMEOUT = 60.0
_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS")


class PeerLostError(RuntimeError):
    """Another process stopped answering (it died, hung or was killed)."""


def launched_size() -> int:
    """How many processes the launcher started (1 when not launched by mpiexec/srun)."""
    for name in _SIZE_VARIABLES[:3]:
        value = os.environ.get(name)
        if value and value.isdigit():
            return int(value)
    return 1


def _timeout() -> float:
    value = os.environ.get("CNNKIT_DIST_TIMEOUT")
    if not value:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        raise InputError(f"CNNKIT_DIST_TIMEOUT must be a number of seconds, got {value!r}") from None
    if seconds <= 0:
        raise InputError(f"CNNKIT_DIST_TIMEOUT must be positive, got {value!r}")
    return seconds


class World:
    """A world of one process: rank 0 of 1; collectives return their input. The base of :class:`MPIWorld`."""

    rank = 0
    size = 1
    backend = "none"

    def __init__(self, timeout: float | None = None):
        self.timeout = _timeout() if timeout is None else float(timeout)

    @property
    def is_writer(self) -> bool:
        return self.rank == 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(rank={self.rank}, size={self.size}, backend={self.backend!r})"

    # the collectives; arrays are contiguous and reduced in place
    def allreduce_(self, array: np.ndarray, what: str = "allreduce") -> np.ndarray:
        return array

    def iallreduce_(self, array: np.ndarray):
        """Start an in-place sum over processes; returns a request for :meth:`wait` (None here)."""
        return None

    def test(self, requests) -> None:
        """Let started collectives progress (a no-op here)."""

    def wait(self, requests, what: str = "allreduce") -> None:
        """Wait for started collectives, at most ``timeout`` seconds."""

    def bcast_(self, array: np.ndarray, root: int = 0, what: str = "broadcast") -> np.ndarray:
        return array

    def allgather(self, obj, what: str = "allgather") -> list:
        return [obj]

    def bcast(self, obj, root: int = 0, what: str = "broadcast"):
        return obj

    def abort(self, code: int = 1) -> None:
        """End every process of the world with exit status ``code``."""
        sys.exit(code)


ABORT_GRACE_SECONDS = 0.5


class MPIWorld(World):
    """The processes of an MPI launch (``mpi4py``'s ``COMM_WORLD``)."""

    backend = "mpi"

    def __init__(self, comm=None, timeout: float | None = None):
        super().__init__(timeout)
        try:
            from mpi4py import MPI
        except ImportError:  # pragma: no cover - depends on the environment
            raise InputError(f"this process was started by an MPI launcher ({launched_size()} processes) but mpi4py is "
                             f"not installed: pip install 'cnnkit[mpi]'") from None
        self.MPI = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.comm.Set_errhandler(MPI.ERRORS_RETURN)
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()

    def _poll(self, done, what: str) -> None:
        """Call ``done()`` until it is True, sleeping a little between calls, for at most ``timeout`` seconds."""
        deadline = time.monotonic() + self.timeout
        pause, spins = 0.0, 0
        try:
            while not done():
                if time.monotonic() > deadline:
                    raise PeerLostError(
                        f"rank {self.rank} of {self.size}: no answer from the other processes for {self.timeout:.0f} s "
                        f"during {what} (a process died, hung or was killed); stopping")
                spins += 1
                if spins > 50:  # spin briefly (fast when the others are ready), then yield the core
                    pause = min(0.002, pause + 0.0001)
                    time.sleep(pause)
        except self.MPI.Exception as err:
            raise PeerLostError(f"rank {self.rank} of {self.size}: MPI failed during {what} ({err}); another "
                                f"process probably died; stopping") from None

    def allreduce_(self, array, what="allreduce"):
        request = self.comm.Iallreduce(self.MPI.IN_PLACE, array, op=self.MPI.SUM)
        self._poll(request.Test, what)
        return array

    def iallreduce_(self, array):
        return self.comm.Iallreduce(self.MPI.IN_PLACE, array, op=self.MPI.SUM)

    def test(self, requests) -> None:
        if requests:
            self.MPI.Request.Testall(requests)

    def wait(self, requests, what="allreduce") -> None:
        if requests:
            self._poll(lambda: self.MPI.Request.Testall(requests), what)

    def bcast_(self, array, root=0, what="broadcast"):
        request = self.comm.Ibcast(array, root=root)
        self._poll(request.Test, what)
        return array

    def allgather(self, obj, what="allgather"):
        # an object collective has no non-blocking form: agree on the payload sizes, then gather bytes
        import pickle

        data = np.frombuffer(pickle.dumps(obj), dtype=np.uint8)
        sizes = np.zeros(self.size, dtype=np.int64)
        sizes[self.rank] = data.size
        self.allreduce_(sizes, what)
        buffer = np.zeros(int(sizes.sum()), dtype=np.uint8)
        start = int(sizes[: self.rank].sum())
        buffer[start:start + data.size] = data
        self.allreduce_(buffer, what)
        out, offset = [], 0
        for n in sizes:
            out.append(pickle.loads(buffer[offset:offset + int(n)].tobytes()))
            offset += int(n)
        return out

    def bcast(self, obj, root=0, what="broadcast"):
        return self.allgather(obj if self.rank == root else None, what)[root]

    def abort(self, code: int = 1) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        # the launcher relays our output through a pipe and stops relaying when Abort kills the job: give it a moment
        # to pass on the error line just written (on a busy machine it could otherwise be lost)
        time.sleep(ABORT_GRACE_SECONDS)
        self.comm.Abort(code)


def local_size() -> int:
    """How many processes of the launch share this machine (the launcher's count, else 1)."""
    for name in ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE", "SLURM_NTASKS_PER_NODE"):
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 1


def share_cores() -> int | None:
    """Give this process its share of the machine's cores for cnnkit's kernel threads (cores / processes on this
    machine), unless ``CNNKIT_NUM_THREADS`` says otherwise: several processes each running as many threads as
    there are cores only fight over them. Returns the thread count set (None when left alone)."""
    if os.environ.get("CNNKIT_NUM_THREADS") or local_size() <= 1:
        return None
    from ..kernels import _parallel

    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    threads = max(1, cpus // local_size())
    _parallel.set_num_threads(threads)
    return threads


_WORLD: World | None = None


def world(timeout: float | None = None) -> World:
    """This process's world: an :class:`MPIWorld` when started by an MPI launcher with more than one process, else
    a :class:`World` of one. Created once and reused."""
    global _WORLD
    if _WORLD is None:
        _WORLD = MPIWorld(timeout=timeout) if launched_size() > 1 else World(timeout=timeout)
        if _WORLD.size > 1:
            share_cores()
    elif timeout is not None:
        _WORLD.timeout = float(timeout)
    return _WORLD
