"""DataLoader: batching, shuffling, fast path, prefetch, collate and resumable state."""

from __future__ import annotations

import collections
import threading
import time

import numpy as np
import pytest

import cnnkit as ck
from cnnkit.data import ArrayDataset, DataLoader, Dataset, Digits, Shapes, Subset, default_collate
from cnnkit.data import transforms as T


def ordered(n=10):
    return ArrayDataset(np.arange(n, dtype=np.float32).reshape(n, 1, 1, 1), np.arange(n))


def labels_of(loader):
    return [y.tolist() for _, y in loader]


def test_batches_are_tensors_with_the_right_dtypes():
    x, y = next(iter(DataLoader(Digits(), batch_size=32)))
    assert isinstance(x, ck.Tensor) and isinstance(y, ck.Tensor)
    assert x.shape == (32, 1, 8, 8) and x.dtype == np.float32 and y.dtype == np.int64


def test_len_and_drop_last():
    ds = ordered(10)
    assert len(DataLoader(ds, batch_size=3)) == 4
    assert len(DataLoader(ds, batch_size=3, drop_last=True)) == 3
    assert labels_of(DataLoader(ds, batch_size=3)) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert labels_of(DataLoader(ds, batch_size=3, drop_last=True)) == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert labels_of(DataLoader(ds, batch_size=20, drop_last=True)) == []
    assert len(DataLoader(ds)) == 10


def test_shuffle_is_deterministic_under_manual_seed_and_changes_each_epoch():
    ds = ordered(20)
    ck.manual_seed(11)
    loader = DataLoader(ds, batch_size=5, shuffle=True)
    first, second = labels_of(loader), labels_of(loader)
    ck.manual_seed(11)
    again = DataLoader(ds, batch_size=5, shuffle=True)
    assert labels_of(again) == first and labels_of(again) == second
    assert first != second
    assert sorted(sum(first, [])) == list(range(20))


def test_own_seed_ignores_the_global_generator():
    ds = ordered(20)
    ck.manual_seed(1)
    a = labels_of(DataLoader(ds, batch_size=4, shuffle=True, seed=5))
    ck.manual_seed(2)
    b = labels_of(DataLoader(ds, batch_size=4, shuffle=True, seed=5))
    c = labels_of(DataLoader(ds, batch_size=4, shuffle=True, generator=np.random.default_rng(5)))
    assert a == b == c
    with pytest.raises(ValueError, match="not both"):
        DataLoader(ds, seed=1, generator=np.random.default_rng(1))


def test_sampler_and_argument_errors():
    ds = ordered(6)
    assert labels_of(DataLoader(ds, batch_size=2, sampler=[5, 0, 3])) == [[5, 0], [3]]
    assert len(DataLoader(ds, batch_size=2, sampler=[5, 0, 3])) == 2
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ds, sampler=[0], shuffle=True)
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(ds, batch_size=0)
    with pytest.raises(ValueError, match="prefetch"):
        DataLoader(ds, prefetch=-1)
    with pytest.raises(TypeError, match="collate_fn"):
        DataLoader(ds, collate_fn=3)
    with pytest.raises(TypeError, match="__getitem__"):
        DataLoader(42)


class Recording(Dataset):
    """A dataset without a fast path; counts item calls."""

    def __init__(self, n=12, transform=None):
        self.n, self.transform, self.calls = n, transform, 0

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        self.calls += 1
        x = np.full((1, 4, 4), float(i), np.float32)
        return (x if self.transform is None else self.transform(x)), i


@pytest.mark.parametrize(
    "make", [lambda: Digits(), lambda: Shapes(n=30, size=12, with_masks=True, with_boxes=True), lambda: ordered(17)]
)
def test_fast_path_equals_item_by_item(make):
    ds = make()
    fast = list(DataLoader(ds, batch_size=8, shuffle=True, seed=0))
    slow = list(DataLoader(ds, batch_size=8, shuffle=True, seed=0, fast=False))
    assert len(fast) == len(slow)
    for a, b in zip(fast, slow, strict=True):
        for ta, tb in zip(a, b, strict=True):
            assert ta.dtype == tb.dtype and ta.shape == tb.shape
            np.testing.assert_array_equal(ta.data, tb.data)


def test_fast_path_skips_item_calls_and_follows_subsets():
    ds = ordered(10)
    calls = []
    original = ArrayDataset.__getitem__
    try:
        ArrayDataset.__getitem__ = lambda self, i: calls.append(i) or original(self, i)
        got = labels_of(DataLoader(Subset(ds, [9, 1, 4]), batch_size=2))
    finally:
        ArrayDataset.__getitem__ = original
    assert got == [[9, 1], [4]] and calls == []
    transformed = Digits(transform=lambda x: x + 1)
    x, _ = next(iter(DataLoader(transformed, batch_size=4)))
    assert x.data.min() >= 1.0  # a per-item transform disables the fast path


def test_collate_structures():
    Pair = collections.namedtuple("Pair", "image label")
    batch = default_collate([Pair(np.ones((2,), np.float32), 1), Pair(np.zeros((2,), np.float32), 2)])
    assert isinstance(batch, Pair) and batch.image.shape == (2, 2) and batch.label.dtype == np.int64
    d = default_collate(
        [{"x": 1.5, "name": "a", "t": ck.tensor([1.0])}, {"x": 2.0, "name": "b", "t": ck.tensor([2.0])}]
    )
    assert d["x"].dtype == np.float32 and d["name"] == ["a", "b"] and d["t"].shape == (2, 1)
    assert default_collate([np.int32(3), np.int32(4)]).dtype == np.int32
    assert default_collate([[1, 2.5], [3, 4.0]])[1].dtype == np.float32
    with pytest.raises(ValueError, match="item 0 has 2 fields but item 1 has 3"):
        default_collate([(1, 2), (1, 2, 3)])
    with pytest.raises(ValueError, match="non-empty"):
        default_collate([])


def test_custom_collate_fn():
    loader = DataLoader(ordered(5), batch_size=2, collate_fn=lambda items: [int(y) for _, y in items])
    assert list(loader) == [[0, 1], [2, 3], [4]]


# ------------------------------------------------------------------------------------ prefetch
def _as_arrays(batches):
    return [tuple(t.data.copy() for t in b) for b in batches]


def test_prefetch_gives_the_same_batches_with_random_transforms():
    aug = T.Compose([T.RandomCrop(4, padding=1), T.RandomHorizontalFlip()])
    ck.manual_seed(3)
    plain = _as_arrays(DataLoader(Recording(transform=aug), batch_size=5, shuffle=True))
    ck.manual_seed(3)
    loader = DataLoader(Recording(transform=aug), batch_size=5, shuffle=True, prefetch=2)
    pre = []
    for batch in loader:
        pre.append(tuple(t.data.copy() for t in batch))
        ck.random.get_rng().random()  # main-thread draws (dropout...) must not change what the thread builds
    assert len(plain) == len(pre) == 3
    for a, b in zip(plain, pre, strict=True):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)


class Failing(Recording):
    def __getitem__(self, i):
        if i == 7:
            raise KeyError("item 7 is broken")
        return super().__getitem__(i)


def test_prefetch_reraises_errors_in_the_main_thread():
    loader = DataLoader(Failing(), batch_size=3, prefetch=2)
    seen = []
    with pytest.raises(KeyError, match="item 7 is broken"):
        for _, y in loader:
            seen.append(y.tolist())
    assert seen == [[0, 1, 2], [3, 4, 5]]


def _prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "cnnkit-prefetch"]


def test_breaking_the_loop_stops_the_prefetch_thread():
    before = len(_prefetch_threads())
    loader = DataLoader(Recording(n=200), batch_size=2, prefetch=3)
    for k, _ in enumerate(loader):
        if k == 2:
            break
    deadline = time.monotonic() + 5
    while len(_prefetch_threads()) > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(_prefetch_threads()) == before
    assert loader.dataset.calls < 200  # it stopped early instead of building everything
    it = iter(loader)
    next(it)
    it.close()
    assert len(_prefetch_threads()) == before


def test_prefetch_full_epochs_and_empty_loader():
    ds = ordered(9)
    before = len(_prefetch_threads())
    loader = DataLoader(ds, batch_size=4, prefetch=1)
    it = iter(loader)
    assert [y.tolist() for _, y in it] == [[0, 1, 2, 3], [4, 5, 6, 7], [8]]
    assert len(_prefetch_threads()) == before  # joined as soon as the last batch was handed out
    assert labels_of(DataLoader(ds, batch_size=10, drop_last=True, prefetch=2)) == []


# ------------------------------------------------------------------------------------ resume
def _run(loader, epochs, stop_at=None):
    """Labels and image sums per batch; stops (returning the state) after ``stop_at`` batches overall."""
    out, count = [], 0
    for _ in range(epochs):
        for x, y in loader:
            out.append((y.tolist(), float(x.data.sum())))
            count += 1
            if stop_at is not None and count == stop_at:
                return out, loader.state_dict(), ck.get_rng_state()
    return out, None, None


@pytest.mark.parametrize("own_seed", [False, True])
@pytest.mark.parametrize("prefetch", [0, 2])
def test_resume_mid_epoch_matches_an_uninterrupted_run(own_seed, prefetch):
    aug = T.RandomCrop(4, padding=2)
    kwargs = dict(batch_size=3, shuffle=True, prefetch=prefetch, seed=7 if own_seed else None)
    ck.manual_seed(0)
    full, _, _ = _run(DataLoader(Recording(n=10, transform=aug), **kwargs), epochs=3)
    assert len(full) == 12
    ck.manual_seed(0)
    head, state, rng_state = _run(DataLoader(Recording(n=10, transform=aug), **kwargs), epochs=3, stop_at=6)
    assert state["batches_served"] == 2 and state["in_epoch"] and state["epoch"] == 2
    ck.manual_seed(999)  # a fresh process: the checkpoint restores the global stream and the loader
    ck.set_rng_state(rng_state)
    resumed = DataLoader(Recording(n=10, transform=aug), **kwargs)
    resumed.load_state_dict(state)
    tail = [(y.tolist(), float(x.data.sum())) for x, y in resumed]
    tail += _run(resumed, epochs=1)[0]
    assert head + tail == full


def test_state_dict_between_epochs_and_validation():
    loader = DataLoader(ordered(6), batch_size=2, shuffle=True, seed=1)
    list(loader)
    state = loader.state_dict()
    assert state["in_epoch"] is False and state["batches_served"] == 3 and state["epoch"] == 1
    nxt = labels_of(loader)
    other = DataLoader(ordered(6), batch_size=2, shuffle=True, seed=123)
    other.load_state_dict(state)
    assert labels_of(other) == nxt
    with pytest.raises(ValueError, match="expected a dict with keys"):
        other.load_state_dict({"epoch": 1})
    with pytest.raises(ValueError, match="without"):
        DataLoader(ordered(6), shuffle=True).load_state_dict(state)
