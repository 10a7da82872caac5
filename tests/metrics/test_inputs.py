"""Bad input at the boundary: every case raises InputError (InputTypeError for a wrong type) with a message that
names the metric, what was expected and what was received; the metric's state is left as it was."""

import numpy as np
import pytest

from cnnkit.errors import InputError, InputTypeError
from cnnkit.metrics import (
    PSNR,
    Accuracy,
    ConfusionMatrix,
    IoU,
    MeanIoU,
    MeanMetric,
    MeanSquaredError,
    PixelAccuracy,
    PrecisionRecallF1,
    TopKAccuracy,
)

LABEL_METRICS = {
    "Accuracy": lambda: Accuracy(num_classes=4),
    "TopKAccuracy": lambda: TopKAccuracy(2),
    "ConfusionMatrix": lambda: ConfusionMatrix(4),
    "PrecisionRecallF1": lambda: PrecisionRecallF1(4),
    "PixelAccuracy": lambda: PixelAccuracy(num_classes=4),
    "IoU": lambda: IoU(4),
    "MeanIoU": lambda: MeanIoU(4),
}
NAMES = list(LABEL_METRICS)


def _raises(metric, output, target, error, *fragments):
    before = metric.state_dict()
    with pytest.raises(error) as info:
        metric.update(output, target)
    message = str(info.value)
    for fragment in (type(metric).__name__, *fragments):
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert all(np.array_equal(v, before[k]) for k, v in metric.state.items())


@pytest.fixture(params=NAMES)
def metric(request):
    m = LABEL_METRICS[request.param]()
    m.update(np.eye(4)[[0, 1, 2, 3]], np.array([0, 1, 2, 2]))  # some state, which a bad batch must not change
    return m


def test_mismatched_batch_size(metric):
    _raises(metric, np.zeros((3, 4)), np.zeros(2, np.int64), InputError, "3 predictions but 2 targets")


def test_dense_spatial_sizes_that_differ(metric):
    _raises(metric, np.zeros((2, 4, 5, 5)), np.zeros((2, 5, 6), np.int64), InputError,
            "output spatial size (5, 5) does not match target spatial size (5, 6)")


@pytest.mark.parametrize("bad", [4, -1, 254])
def test_target_outside_the_classes(metric, bad):
    target = np.array([[0, 1], [bad, 3]])
    expected = "[0, 4)" + (" or equal to ignore_index=255" if metric.ignore_index == 255 else "")
    _raises(metric, np.zeros((2, 4, 2)), target, InputError, f"target values must be in {expected}", str(bad))


def test_ignore_index_is_not_out_of_range():
    m = MeanIoU(4)
    m.update(np.zeros((1, 4, 2)), np.array([[255, 1]]))
    assert m.state["counts"].sum() == 1
    _raises(Accuracy(num_classes=4), np.zeros((1, 4, 2)), np.array([[255, 1]]), InputError, "[0, 4)", "255")


@pytest.mark.parametrize("name", [n for n in NAMES if n != "TopKAccuracy"])
def test_predicted_labels_outside_the_classes(name):
    _raises(LABEL_METRICS[name](), np.array([0, 4]), np.array([0, 1]), InputError,
            "predicted label values must be in [0, 4)", "4")


def test_non_integer_targets(metric):
    _raises(metric, np.zeros((2, 4)), np.array([0.0, 1.0], np.float32), InputTypeError,
            "target must hold integer class indices", "float32")


@pytest.mark.parametrize("name", [n for n in NAMES if n != "TopKAccuracy"])
def test_float_predicted_labels(name):
    _raises(LABEL_METRICS[name](), np.array([0.0, 1.0]), np.array([0, 1]), InputTypeError,
            "must hold integer class indices", "float64", "scores of shape (N, C, ...)")


def test_top_k_needs_scores():
    _raises(TopKAccuracy(1), np.array([0, 1]), np.array([0, 1]), InputError, "expected output scores (N, C, ...)",
            "(2,)")


def test_output_of_the_wrong_rank(metric):
    _raises(metric, np.zeros((2, 4, 3, 3)), np.zeros(2, np.int64), InputError, "expected output",
            "target of shape (2,)", "(2, 4, 3, 3)")


def test_scores_for_another_number_of_classes():
    for m in (ConfusionMatrix(4), MeanIoU(4), Accuracy(num_classes=4)):
        _raises(m, np.zeros((2, 3)), np.array([0, 1]), InputError, "output has 3 classes", "num_classes=4")


def test_non_numeric_and_unconvertible_inputs():
    _raises(Accuracy(), np.array(["a", "b"]), np.array([0, 1]), InputTypeError, "output must be numeric", "<U1")
    _raises(Accuracy(), np.zeros((2, 2)), [[0], [1, 2]], InputTypeError, "target must be a Tensor or an array")
    _raises(Accuracy(), np.zeros((2, 2)), np.array(True), InputTypeError, "target", "bool")
    _raises(Accuracy(), np.zeros(2), np.array(1), InputError, "batch dimension")


def test_k_out_of_range():
    with pytest.raises(InputError, match=r"TopKAccuracy: k must be >= 1, got 0"):
        TopKAccuracy(0)
    with pytest.raises(InputTypeError, match=r"TopKAccuracy: k must be an int, got float 2.5"):
        TopKAccuracy(2.5)
    _raises(TopKAccuracy(5), np.zeros((2, 4)), np.array([0, 1]), InputError,
            "k=5 but the output has only 4 classes", "1 <= k <= C")


@pytest.mark.parametrize("make", [ConfusionMatrix, PrecisionRecallF1, IoU, MeanIoU])
def test_bad_num_classes(make):
    name = make.__name__
    with pytest.raises(InputError, match=rf"{name}: num_classes must be >= 1, got 0"):
        make(0)
    for bad in ("3", 3.0, True):
        with pytest.raises(InputTypeError, match=rf"{name}: num_classes must be an int"):
            make(bad)
    with pytest.raises(InputTypeError, match=rf"{name}: ignore_index must be an int, got float"):
        make(3, ignore_index=2.5)


def test_bad_configuration_of_the_other_metrics():
    with pytest.raises(InputError, match="PrecisionRecallF1: average must be one of .* got 'weighted'"):
        PrecisionRecallF1(3, average="weighted")
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(InputError, match="PSNR: data_range must be a finite number > 0"):
            PSNR(bad)
    with pytest.raises(InputTypeError, match="PSNR: data_range must be a number, got str"):
        PSNR("1")
    with pytest.raises(InputTypeError, match="name must be a non-empty str"):
        Accuracy(name="")
    with pytest.raises(InputTypeError, match="higher_is_better must be a bool"):
        MeanMetric(higher_is_better="yes")


@pytest.mark.parametrize("make", [MeanSquaredError, PSNR])
def test_reconstruction_shapes_must_match(make):
    _raises(make(), np.zeros((2, 3)), np.zeros((3, 2)), InputError,
            "output shape (2, 3) does not match target shape (3, 2)")


def test_mean_metric_weights():
    m = MeanMetric()
    m.update(1.0)
    for value, weight, fragment in [(1.0, -1.0, "weights must be finite and >= 0"),
                                    (np.ones(3), np.ones(2), "weight of shape (2,) does not broadcast"),
                                    (np.ones(3), np.array([1.0, np.nan, 1.0]), "finite"),
                                    ("x", 1.0, "value must be numeric")]:
        with pytest.raises(InputError, match="MeanMetric") as info:
            m.update(value, weight)
        assert fragment in str(info.value)
    assert m.compute() == 1.0 and m.state["weight"] == 1.0
