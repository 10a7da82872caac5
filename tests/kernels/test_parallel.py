"""The worker pool: results in part order, exceptions re-raised, nested and concurrent calls run serially,
results of an interrupted call never reach a later one, and BLAS is single-threaded inside the parts."""

import threading
import time

import numpy as np
import pytest

from cnnkit.kernels import _parallel


@pytest.fixture(autouse=True)
def three_threads(monkeypatch):
    monkeypatch.setattr(_parallel, "_num_threads", 3)


def test_results_in_part_order_and_split():
    assert _parallel.run(lambda k: k * k, 3) == [0, 1, 4]
    assert _parallel.split(10, 3) == [(0, 4), (4, 7), (7, 10)]
    assert _parallel.split(2, 3) == [(0, 1), (1, 2)]
    assert _parallel.split(0, 3) == []
    assert _parallel.ranges(10, work=5, min_work=10) == [(0, 10)]
    assert len(_parallel.ranges(10, work=50, min_work=10)) == _parallel.get_num_threads()


def test_parts_run_on_different_threads():
    idents = _parallel.run(lambda k: threading.get_ident(), 3)
    assert idents[0] == threading.get_ident() and len(set(idents)) == 3


def test_exceptions_are_reraised_after_all_parts_finish():
    done = []

    def fn(k):
        if k == 1:
            raise ValueError("part 1 failed")
        time.sleep(0.05)
        done.append(k)

    with pytest.raises(ValueError, match="part 1 failed"):
        _parallel.run(fn, 3)
    assert sorted(done) == [0, 2]
    assert _parallel.run(lambda k: k, 3) == [0, 1, 2]  # the pool is still usable


def test_nested_calls_run_serially():
    assert _parallel.run(lambda k: _parallel.run(lambda j: (k, j), 2), 2) == [[(0, 0), (0, 1)], [(1, 0), (1, 1)]]


def test_results_of_an_interrupted_call_are_discarded(monkeypatch):
    """A caller interrupted while waiting (Ctrl-C) leaves a helper's result behind; the next call must not
    take it for its own."""
    release = threading.Event()

    def slow(k):
        if k == 1:
            release.wait(5)
        return ("old", k)

    original = _parallel._Helper.result
    monkeypatch.setattr(_parallel._Helper, "result", lambda self, call: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        _parallel.run(slow, 2)
    monkeypatch.setattr(_parallel._Helper, "result", original)
    release.set()
    assert _parallel.run(lambda k: ("new", k), 2) == [("new", 0), ("new", 1)]


def test_concurrent_callers_fall_back_to_serial():
    results = [None] * 4

    def caller(i):
        results[i] = _parallel.run(lambda k: np.ones(100_000).sum() + k, 2)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r == [100_000.0, 100_001.0] for r in results)


def test_blas_is_single_threaded_inside_parts():
    blas = _parallel._get_blas()
    if blas.set_local is None:
        pytest.skip("this BLAS has no per-thread thread count")
    seen = _parallel.run(lambda k: (blas.set_local(1), blas.set_local(1))[1], 2)  # (previous value, then 1)
    assert seen == [1, 1]
