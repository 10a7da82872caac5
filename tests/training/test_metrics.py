import numpy as np
import pytest

from cnnkit.training import accuracy, confusion_matrix, get_metric, precision_recall_f1, top_k_accuracy


def test_accuracy_and_top_k():
    logits = np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.3, 0.4, 0.3]])
    target = np.array([1, 0, 1, 2])
    assert accuracy(logits, target) == 0.5
    assert top_k_accuracy(logits, target, 2) == 0.75
    assert top_k_accuracy(logits, target, 3) == 1.0
    assert get_metric("top2")(logits, target) == 0.75
    with pytest.raises(ValueError, match="3 predictions but 2 targets"):
        accuracy(logits[:3], target[:2])
    with pytest.raises(ValueError, match="unknown metric"):
        get_metric("f2")


def test_confusion_matrix_and_per_class_scores():
    pred = np.array([0, 1, 1, 2, 2, 2])
    target = np.array([0, 1, 2, 2, 2, 0])
    cm = confusion_matrix(pred, target, 3)
    assert cm.tolist() == [[1, 0, 1], [0, 1, 0], [0, 1, 2]]
    scores = precision_recall_f1(cm)
    np.testing.assert_allclose(scores["precision"], [1.0, 0.5, 2 / 3])
    np.testing.assert_allclose(scores["recall"], [0.5, 1.0, 2 / 3])
    np.testing.assert_allclose(scores["f1"], [2 / 3, 2 / 3, 2 / 3])
    assert scores["support"].tolist() == [2, 1, 3]
