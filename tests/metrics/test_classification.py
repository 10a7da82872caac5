import math

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given, settings
from metrics import brute
from metrics.streams import check_stream_and_merge, cuts, labelled
from oracle import requires_torch, torch

from cnnkit.metrics import Accuracy, ConfusionMatrix, PrecisionRecallF1, TopKAccuracy

IGNORE = [None, -100, 255]


@st.composite
def case(draw, dense=None, ignore=None, scores_only=False):
    """(num_classes, output, target, ignore_index, batch bounds, merge point, wrap output in a Tensor)."""
    dense = draw(st.booleans()) if dense is None else dense
    ignore_index = draw(st.sampled_from(IGNORE)) if ignore is None else ignore
    c, output, target = draw(labelled(dense, ignore_index, scores_only=scores_only))
    n = len(target)
    return c, output, target, ignore_index, draw(cuts(n)), draw(st.integers(0, n)), draw(st.booleans())


@settings(deadline=None, max_examples=80)
@given(case())
def test_accuracy_streams_like_the_whole(args):
    c, output, target, ignore_index, bounds, half, wrap = args
    expected = brute.accuracy(output, target, ignore_index)
    check_stream_and_merge(lambda: Accuracy(ignore_index=ignore_index), [output, target], bounds, half, expected, wrap)
    check_stream_and_merge(lambda: Accuracy(c, ignore_index), [output, target], bounds, half, expected)


@settings(deadline=None, max_examples=80)
@given(case(scores_only=True), st.integers(1, 5))
def test_top_k_accuracy_streams_like_the_whole(args, k):
    c, output, target, ignore_index, bounds, half, wrap = args
    k = min(k, c)
    expected = brute.top_k_accuracy(output, target, k, ignore_index)
    check_stream_and_merge(lambda: TopKAccuracy(k, ignore_index), [output, target], bounds, half, expected, wrap)


@settings(deadline=None, max_examples=80)
@given(case())
def test_confusion_matrix_streams_like_the_whole(args):
    c, output, target, ignore_index, bounds, half, wrap = args
    expected = brute.confusion(output, target, c, ignore_index)
    check_stream_and_merge(lambda: ConfusionMatrix(c, ignore_index), [output, target], bounds, half, expected, wrap)


@pytest.mark.parametrize("average", [None, "macro", "micro"])
@settings(deadline=None, max_examples=60)
@given(args=case())
def test_precision_recall_f1_streams_like_the_whole(average, args):
    c, output, target, ignore_index, bounds, half, wrap = args
    expected = brute.precision_recall_f1(output, target, c, average, ignore_index)
    check_stream_and_merge(lambda: PrecisionRecallF1(c, average, ignore_index), [output, target], bounds, half,
                           expected, wrap)


def test_ties_go_to_the_lower_class_index_in_accuracy_and_top_k():
    scores = np.array([[1.0, 1.0, 0.0], [0.0, 2.0, 2.0], [3.0, 3.0, 3.0]])
    target = np.array([1, 2, 2])
    acc, top1, top2 = Accuracy(), TopKAccuracy(1), TopKAccuracy(2)
    for m in (acc, top1, top2):
        m.update(scores, target)
    assert acc.compute() == top1.compute() == 0.0
    assert top2.compute() == 2 / 3  # class 2 of the last row is third after 0 and 1


def test_known_values_and_return_types():
    logits = np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.3, 0.4, 0.3]])
    target = np.array([1, 0, 1, 2])
    acc = Accuracy()
    acc.update(logits, target)
    assert acc.compute() == 0.5 and type(acc.compute()) is float
    cm = ConfusionMatrix(3)
    cm.update(logits, target)
    assert cm.compute().tolist() == [[1, 0, 0], [0, 1, 1], [0, 1, 0]] and cm.compute().dtype == np.int64
    prf = PrecisionRecallF1(3)
    prf.update(logits, target)
    scores = prf.compute()
    np.testing.assert_allclose(scores["precision"], [1.0, 0.5, 0.0])
    np.testing.assert_allclose(scores["recall"], [1.0, 0.5, 0.0])
    assert scores["support"].tolist() == [1, 2, 1]
    micro = PrecisionRecallF1(3, "micro")
    micro.update(logits, target)
    assert micro.compute() == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 4}


def test_names_and_directions():
    assert (Accuracy().name, TopKAccuracy(3).name, ConfusionMatrix(2).name, PrecisionRecallF1(2).name) == (
        "accuracy", "top3", "confusion_matrix", "precision_recall_f1")
    assert Accuracy().higher_is_better and TopKAccuracy().higher_is_better and PrecisionRecallF1(2).higher_is_better
    assert ConfusionMatrix(2).higher_is_better is None
    assert Accuracy(name="acc").name == "acc"


def test_before_any_update_and_after_empty_updates():
    empty_scores, empty_target = np.zeros((0, 3)), np.zeros((0,), dtype=np.int64)
    for m in (Accuracy(), TopKAccuracy(2), ConfusionMatrix(3), PrecisionRecallF1(3), PrecisionRecallF1(3, "macro")):
        before = m.compute()
        m.update(empty_scores, empty_target)
        after = m.compute()
        for value in (before, after):
            if isinstance(m, ConfusionMatrix):
                assert value.tolist() == [[0] * 3] * 3
            elif isinstance(m, PrecisionRecallF1):
                flat = [v for v in value.values()]
                assert all(np.all(np.asarray(v) == 0) for v in flat)
            else:
                assert math.isnan(value)
    only_ignored = Accuracy(ignore_index=-1)
    only_ignored.update(np.zeros((2, 3)), np.array([-1, -1]))
    assert math.isnan(only_ignored.compute()) and only_ignored.state["total"] == 0


def test_macro_average_leaves_out_classes_absent_from_targets_and_predictions():
    m = PrecisionRecallF1(4, "macro")
    m.update(np.array([0, 1, 1]), np.array([0, 1, 0]))  # classes 2 and 3 never appear
    per_class = PrecisionRecallF1(4)
    per_class.update(np.array([0, 1, 1]), np.array([0, 1, 0]))
    p = per_class.compute()
    assert m.compute()["precision"] == pytest.approx(np.mean(p["precision"][:2]))
    assert m.compute()["f1"] == pytest.approx(np.mean(p["f1"][:2]))


@requires_torch
@pytest.mark.parametrize("shape", [(50, 7), (6, 5, 4, 3)])
@pytest.mark.parametrize("k", [1, 3])
def test_top_k_and_accuracy_agree_with_torch(shape, k):
    rng = np.random.default_rng(k)
    scores = rng.standard_normal(shape)  # continuous: no ties, so torch.topk's choice is unambiguous
    target = rng.integers(0, shape[1], (shape[0], *shape[2:]))
    top = torch.topk(torch.tensor(scores), k, dim=1).indices
    expected = (top == torch.tensor(target).unsqueeze(1)).any(dim=1).double().mean().item()
    m = TopKAccuracy(k)
    m.update(scores, target)
    assert m.compute() == pytest.approx(expected, abs=1e-12)
    if k == 1:
        acc = Accuracy()
        acc.update(scores, target)
        assert acc.compute() == pytest.approx(expected, abs=1e-12)
