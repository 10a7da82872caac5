"""The plain functions of cnnkit.training.metrics are the metric objects applied once."""

import numpy as np
import pytest

from cnnkit.errors import InputError
from cnnkit.metrics import Accuracy, ConfusionMatrix, PrecisionRecallF1, TopKAccuracy
from cnnkit.training import accuracy, confusion_matrix, get_metric, precision_recall_f1, top_k_accuracy

rng = np.random.default_rng(3)
SCORES, TARGET = rng.standard_normal((40, 6)), rng.integers(0, 6, 40)


def _once(metric):
    metric.update(SCORES, TARGET)
    return metric.compute()


def test_functions_match_the_metric_objects():
    assert accuracy(SCORES, TARGET) == _once(Accuracy())
    assert top_k_accuracy(SCORES, TARGET, 3) == _once(TopKAccuracy(3))
    assert get_metric("top5")(SCORES, TARGET) == _once(TopKAccuracy(5))
    cm = confusion_matrix(SCORES, TARGET)
    assert np.array_equal(cm, _once(ConfusionMatrix(6)))
    ours, theirs = precision_recall_f1(cm), _once(PrecisionRecallF1(6))
    assert all(np.array_equal(ours[k], theirs[k]) for k in theirs)


def test_empty_inputs_keep_their_old_results():
    assert accuracy(np.zeros((0, 3)), np.zeros(0, np.int64)) == 0.0
    assert top_k_accuracy(np.zeros((0, 3)), np.zeros(0, np.int64), 2) == 0.0
    assert confusion_matrix(np.zeros(0, np.int64), np.zeros(0, np.int64)).shape == (0, 0)


def test_confusion_matrix_infers_the_number_of_classes():
    assert confusion_matrix(np.array([0, 2]), np.array([1, 1])).shape == (3, 3)
    assert confusion_matrix(np.zeros((2, 5)), np.array([0, 1])).shape == (5, 5)  # from the scores
    with pytest.raises(InputError, match=r"ConfusionMatrix: target values must be in \[0, 1\)"):
        confusion_matrix(np.array([0, 0]), np.array([0, -1]))


def test_precision_recall_f1_needs_a_square_matrix():
    with pytest.raises(InputError, match=r"square \(C, C\) confusion matrix, got shape \(2, 3\)"):
        precision_recall_f1(np.zeros((2, 3), np.int64))
