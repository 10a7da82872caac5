"""The summary's workspace figure is what the reference convolution driver really allocates.

The driver is run with ``np.empty`` counted inside ``cnnkit.kernels.conv`` (where every buffer of the forward pass
comes from); what it allocates besides the output is its workspace, and the summary must report exactly that, for
every kind of convolution, chunking and thread count.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import cnnkit as ck
import cnnkit.nn as nn
from cnnkit.analysis import summary
from cnnkit.kernels import _parallel
from cnnkit.kernels import conv as K


class _CountingNumpy:
    """Stands in for ``np`` inside the conv driver: counts the bytes of every ``empty`` array (thread-safe)."""

    def __init__(self):
        self.sizes: list[int] = []
        self._lock = threading.Lock()

    def __getattr__(self, name):
        return getattr(np, name)

    def empty(self, *args, **kwargs):
        array = np.empty(*args, **kwargs)
        with self._lock:
            self.sizes.append(array.nbytes)
        return array


def _allocated_workspace(layer, x: np.ndarray, monkeypatch) -> int:
    """Bytes the driver allocates for one forward call of ``layer`` on ``x``, its output excepted."""
    with ck.set_backend("numpy"), ck.no_grad():
        layer(ck.tensor(x))  # compile the kernels first: Numba must not meet the stand-in
        counting = _CountingNumpy()
        with monkeypatch.context() as m:
            m.setattr(K, "np", counting)
            y = layer(ck.tensor(x))
    return sum(counting.sizes) - y.data.nbytes


# (name, layer, input shape): the driver's paths
CASES = [
    ("rows", lambda: nn.Conv2d(8, 16, 3, padding=1), (5, 8, 12, 12)),
    ("pointwise", lambda: nn.Conv2d(8, 16, 1), (5, 8, 12, 12)),
    ("strided-1x1", lambda: nn.Conv2d(8, 16, 1, stride=2), (5, 8, 12, 12)),  # not a plain GEMM: im2col rows
    ("depthwise", lambda: nn.Conv2d(8, 8, 3, padding=1, groups=8), (5, 8, 12, 12)),
    ("depthwise-multiplier", lambda: nn.Conv2d(8, 16, 3, padding=1, groups=8), (5, 8, 12, 12)),
    ("channel-major", lambda: nn.Conv2d(3, 16, 5, stride=2, padding=2), (5, 3, 20, 20)),
    ("grouped", lambda: nn.Conv2d(8, 12, 3, padding=1, groups=4), (5, 8, 12, 11)),
    ("same-dilated", lambda: nn.Conv2d(6, 6, 4, padding="same", dilation=2), (5, 6, 13, 12)),
    ("transposed", lambda: nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1), (5, 8, 7, 6)),
    ("transposed-grouped", lambda: nn.ConvTranspose2d(8, 6, 4, stride=2, groups=2), (5, 8, 6, 6)),
    ("transposed-depthwise", lambda: nn.ConvTranspose2d(8, 8, 3, groups=8), (5, 8, 6, 6)),  # no direct kernel
    ("transposed-1x1", lambda: nn.ConvTranspose2d(8, 4, 1), (5, 8, 6, 6)),
]


@pytest.fixture(params=[(1, "default"), (2, "default"), (1, "small"), (2, "small")],
                ids=["1-thread", "2-threads", "1-thread-small-chunks", "2-threads-small-chunks"])
def threads(request, monkeypatch):
    """The driver on 1 or 2 threads (every convolution split over them, however small), with the default chunk
    budget (the whole batch in one chunk here) or one so small that the threads' ranges are cut into chunks."""
    count, budget = request.param
    monkeypatch.setattr(_parallel, "get_num_threads", lambda: count)
    monkeypatch.setattr(K, "PARALLEL_MIN_FLOPS", 0)
    if budget == "small":
        monkeypatch.setattr(K, "COLUMN_BUDGET_BYTES", 20_000)
    return count


@pytest.mark.parametrize("name, make, shape", CASES, ids=[c[0] for c in CASES])
def test_workspace_is_what_the_driver_allocates(name, make, shape, threads, monkeypatch):
    layer = make()
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    allocated = _allocated_workspace(layer, x, monkeypatch)
    row = summary(layer, shape, num_threads=threads).rows[0]
    assert row.workspace_bytes == allocated, name
    if name in ("pointwise", "depthwise", "depthwise-multiplier", "transposed-1x1"):
        assert allocated == 0  # the image is the rows, or a direct kernel: no buffer at all
    else:
        assert allocated > 0
        assert row.workspace_bytes <= row.im2col_matrix_bytes * (2 if threads == 2 else 1)


def test_workspace_in_float64_and_with_the_parallel_threshold(monkeypatch):
    """float64 doubles the buffers; a convolution below PARALLEL_MIN_FLOPS stays on one thread (one buffer)."""
    monkeypatch.setattr(_parallel, "get_num_threads", lambda: 2)
    layer = nn.Conv2d(4, 32, 3, padding=1).double()
    small, large = (2, 4, 6, 6), (6, 4, 40, 40)
    for shape in (small, large):
        x = np.random.default_rng(1).standard_normal(shape)
        row = summary(layer, shape, dtype=np.float64, num_threads=2).rows[0]
        assert row.workspace_bytes == _allocated_workspace(layer, x, monkeypatch)
    assert summary(layer, small, dtype=np.float64, num_threads=2).rows[0].workspace_bytes == 2 * 36 * 36 * 8
    one = summary(layer, large, dtype=np.float64, num_threads=1).rows[0].workspace_bytes
    two = summary(layer, large, dtype=np.float64, num_threads=2).rows[0].workspace_bytes
    assert two > one  # two threads, two buffers


def test_large_batch_workspace_is_chunked():
    """At batch 128 a CIFAR ResNet's buffers are a few MiB while its unchunked im2col matrices are tens of MiB."""
    result = summary(ck.models.resnet20(), (128, 3, 32, 32), num_threads=2)
    t = result.totals
    assert t.largest_im2col_matrix_bytes == 16 * 9 * 1024 * 128 * 4  # layer1's 3x3 convs: 72 MiB
    assert t.largest_workspace_bytes < 2 * 2 * K.COLUMN_BUDGET_BYTES
    assert t.largest_workspace_bytes == max(r.workspace_bytes for r in result.rows if r.is_leaf)
    text = str(result)
    assert "Largest im2col buffer as allocated (workspace: reference kernels, batch chunks on 2 threads)" in text
    assert "Largest im2col matrix if unchunked: 72.00 MiB (layer1.0.conv1: 144 x 1024 x 128 elements)" in text


def test_workspace_function_matches_the_layers():
    """kernels.conv.conv2d_workspace_bytes is the one source: the layer's figure is its answer."""
    layer = nn.Conv2d(3, 8, 3, stride=2, padding=1)
    row = summary(layer, (7, 3, 33, 33), num_threads=2).rows[0]
    assert row.workspace_bytes == K.conv2d_workspace_bytes((7, 3, 33, 33), (8, 3, 3, 3), 2, 1, num_threads=2)
    assert K.conv2d_workspace_bytes((0, 3, 8, 8), (8, 3, 3, 3)) == 0  # an empty batch allocates nothing
