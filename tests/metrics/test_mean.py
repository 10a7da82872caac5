import math

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given, settings
from metrics import brute
from metrics.streams import assert_same, check_stream_and_merge, cuts

import cnnkit as ck
from cnnkit.metrics import MeanMetric

values = st.floats(-1e3, 1e3, allow_nan=False)
weights = st.sampled_from([0.0, 1.0]) | st.floats(0, 100)


@settings(deadline=None, max_examples=100)
@given(st.lists(st.tuples(values, weights), max_size=12).flatmap(
    lambda pairs: st.tuples(st.just(pairs), cuts(len(pairs)), st.integers(0, len(pairs)))))
def test_weighted_mean_streams_like_the_whole(args):
    pairs, bounds, half = args
    v = np.array([p[0] for p in pairs], dtype=np.float64)
    w = np.array([p[1] for p in pairs], dtype=np.float64)
    expected = brute.weighted_mean(v, w)
    check_stream_and_merge(MeanMetric, [v, w], bounds, half, expected)


def test_scalars_tensors_and_per_element_weights():
    m = MeanMetric()
    m.update(2.0, weight=3)  # e.g. a batch's mean loss weighted by its batch size
    m.update(ck.tensor(np.array(4.0)), 1)
    assert m.compute() == pytest.approx(2.5)
    m.reset()
    m.update(np.array([[1.0, 3.0], [5.0, 7.0]]))  # every element counts
    assert m.compute() == 4.0
    m.update(np.array([[10.0, 0.0]]), weight=np.array([2.0, 0.0]))
    assert m.compute() == pytest.approx((16 + 20) / 6)


def test_name_direction_and_nothing_seen():
    m = MeanMetric()
    assert (m.name, m.higher_is_better) == ("mean", False)
    assert MeanMetric("val_accuracy", higher_is_better=True).higher_is_better
    assert math.isnan(m.compute())
    m.update(5.0, weight=0)
    assert math.isnan(m.compute())
    m.update(np.zeros((0,)))
    assert_same(m.compute(), math.nan)
