"""How many cores other processes are using right now, so that a fork-join pool does not wait on its own threads.

An OpenMP parallel region splits its work evenly over its threads and ends when the last one finishes. When another
process is busy on the same cores, one of the threads is descheduled for a whole time slice (several ms) in every
region, and a step of a few hundred regions slows down 4-10x. A pool sized to the cores that are actually free loses
only the share of the machine the neighbour takes.

:func:`free_cores` answers from Linux's count of runnable threads (``procs_running`` in /proc/stat) minus this
process's own running threads, sampled at most every :data:`INTERVAL` seconds and smoothed, so a call costs a clock
read. Elsewhere (no /proc) every core counts as free.
"""

from __future__ import annotations

import os
import time

INTERVAL = 0.1  # seconds between samples
SMOOTHING = 0.5  # weight of a new sample in the running estimate

_cores = None
_busy = 0.0
_next = 0.0


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _own_running() -> int:
    running = 0
    try:
        for task in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{task}/stat", "rb") as f:
                    state = f.read().rsplit(b")", 1)[1].split(None, 1)[0]
            except OSError:
                continue
            running += state == b"R"
    except OSError:
        return 1
    return max(1, running)


def _sample() -> float | None:
    """Threads of other processes that are runnable now (None when unknown)."""
    try:
        with open("/proc/stat", "rb") as f:
            for line in f:
                if line.startswith(b"procs_running"):
                    return max(0, int(line.split()[1]) - _own_running())
    except (OSError, ValueError, IndexError):
        pass
    return None


def busy_cores() -> float:
    """Smoothed count of cores that other processes keep busy (0 where it cannot be read)."""
    global _next, _busy
    now = time.monotonic()
    if now >= _next:
        _next = now + INTERVAL
        sample = _sample()
        if sample is not None:
            _busy = SMOOTHING * sample + (1 - SMOOTHING) * _busy
    return _busy


def free_cores(wanted: int) -> int:
    """How many of ``wanted`` threads can run without waiting for a core: at least 1."""
    global _cores
    if wanted <= 1:
        return 1
    if _cores is None:
        _cores = _cpus()
    return max(1, min(wanted, int(_cores - busy_cores() + 0.5)))


def enabled() -> bool:
    """``CNNKIT_ADAPT_THREADS=0`` turns the adaptation off (a fixed thread count, e.g. for timing studies)."""
    return os.environ.get("CNNKIT_ADAPT_THREADS", "1") != "0"
