"""Hypothesis strategies and the streaming checks the metric tests share."""

from __future__ import annotations

import math

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np

import cnnkit as ck

# few distinct values: ties between class scores are common, so the arg-max tie rule is exercised
SCORES = st.sampled_from([-1.0, 0.0, 0.5, 2.0]) | st.floats(-10, 10, allow_nan=False, width=32)


@st.composite
def cuts(draw, n: int) -> list[int]:
    """Sorted batch boundaries in [0, n] (repeats give empty batches)."""
    return sorted(draw(st.lists(st.integers(0, n), max_size=4)))


@st.composite
def labelled(draw, dense: bool, ignore_index=None, scores_only=False, max_classes=5):
    """(num_classes, output, target): scores (N, C, *S) or integer labels (N, *S) against targets (N, *S), the
    targets sometimes ``ignore_index``; outputs sometimes wrapped in a Tensor."""
    c = draw(st.integers(1, max_classes))
    n = draw(st.integers(0, 10))
    spatial = draw(st.tuples(st.integers(1, 4), st.integers(1, 3))) if dense else ()
    values = list(range(c)) + ([ignore_index] if ignore_index is not None else [])
    target = draw(hnp.arrays(np.int64, (n, *spatial), elements=st.sampled_from(values)))
    if not scores_only and draw(st.booleans()):
        dtype = draw(st.sampled_from([np.int64, np.int32, np.uint8]))
        output = draw(hnp.arrays(dtype, (n, *spatial), elements=st.integers(0, c - 1)))
    else:
        dtype = draw(st.sampled_from([np.float64, np.float32]))
        output = draw(hnp.arrays(dtype, (n, c, *spatial), elements=SCORES))
    return c, output, target


def batches(arrays, bounds):
    """The arrays cut along axis 0 at ``bounds``."""
    edges = [0, *bounds, len(arrays[0])]
    return [tuple(a[lo:hi] for a in arrays) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]


def streamed(make, arrays, bounds, wrap=False):
    metric = make()
    for batch in batches(arrays, bounds):
        if wrap:
            batch = (ck.tensor(batch[0]), *batch[1:])
        metric.update(*batch)
    return metric


def assert_same(ours, ref, what="value"):
    """Equal values: floats to 1e-9 relative (NaN equals NaN, inf equals inf), ints and arrays exactly or close."""
    if isinstance(ref, dict):
        assert isinstance(ours, dict) and set(ours) == set(ref), f"{what}: keys {set(ours)} != {set(ref)}"
        for key in ref:
            assert_same(ours[key], ref[key], f"{what}[{key!r}]")
        return
    if isinstance(ref, np.ndarray):
        assert isinstance(ours, np.ndarray), f"{what}: {type(ours).__name__}, expected an ndarray"
        assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != {ref.shape}"
        if ref.dtype.kind in "iu":
            assert ours.dtype.kind in "iu" and np.array_equal(ours, ref), f"{what}: {ours} != {ref}"
        else:
            np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-12, equal_nan=True, err_msg=what)
        return
    if isinstance(ref, int):
        assert isinstance(ours, int) and ours == ref, f"{what}: {ours!r} != {ref!r}"
        return
    assert isinstance(ours, float), f"{what}: {type(ours).__name__}, expected a float"
    if math.isnan(ref) or math.isinf(ref):
        assert ours == ref or (math.isnan(ref) and math.isnan(ours)), f"{what}: {ours} != {ref}"
    else:
        assert math.isclose(ours, ref, rel_tol=1e-9, abs_tol=1e-12), f"{what}: {ours} != {ref}"


def assert_state_is_sum(whole, left, right):
    """whole's state equals left's plus right's (exactly for counts)."""
    assert set(whole.state) == set(left.state) == set(right.state)
    for key, value in whole.state.items():
        total = left.state[key] + right.state[key]
        if value.dtype.kind in "iu":
            assert np.array_equal(value, total), key
        else:
            np.testing.assert_allclose(value, total, rtol=1e-9, atol=1e-12, err_msg=key)


def check_stream_and_merge(make, arrays, bounds, half, expected, wrap=False):
    """For any batching the streamed value is ``expected``; two halves merged give it too, and their states sum
    to the state of one pass."""
    whole = streamed(make, arrays, bounds, wrap)
    assert_same(whole.compute(), expected, "streamed")
    one_pass = streamed(make, arrays, [])
    left = streamed(make, [a[:half] for a in arrays], [b for b in bounds if b <= half])
    right = streamed(make, [a[half:] for a in arrays], [b - half for b in bounds if b >= half])
    assert_state_is_sum(one_pass, left, right)
    assert left.merge(right) is left
    assert_same(left.compute(), expected, "merged")
    assert_same(one_pass.compute(), expected, "one pass")
