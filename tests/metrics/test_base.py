import math

import numpy as np
import pytest

import cnnkit as ck
from cnnkit.errors import InputError, InputTypeError, StateDictError
from cnnkit.metrics import (
    PSNR,
    Accuracy,
    ConfusionMatrix,
    IoU,
    MeanIoU,
    MeanMetric,
    MeanSquaredError,
    Metric,
    MetricCollection,
    PixelAccuracy,
    PrecisionRecallF1,
    TopKAccuracy,
)

rng = np.random.default_rng(0)
SCORES, LABELS = rng.standard_normal((6, 3, 2, 2)), rng.integers(0, 3, (6, 2, 2))
CLS_SCORES, CLS_LABELS = rng.standard_normal((8, 3)), rng.integers(0, 3, 8)

# (factory, a batch it accepts) for every metric
ALL = [
    (MeanMetric, (np.array([1.0, 2.0]),)),
    (Accuracy, (CLS_SCORES, CLS_LABELS)),
    (lambda: TopKAccuracy(2), (CLS_SCORES, CLS_LABELS)),
    (lambda: ConfusionMatrix(3), (CLS_SCORES, CLS_LABELS)),
    (lambda: PrecisionRecallF1(3, "macro"), (CLS_SCORES, CLS_LABELS)),
    (PixelAccuracy, (SCORES, LABELS)),
    (lambda: IoU(3), (SCORES, LABELS)),
    (lambda: MeanIoU(3), (SCORES, LABELS)),
    (MeanSquaredError, (SCORES, SCORES + 0.5)),
    (lambda: PSNR(2.0), (SCORES, SCORES + 0.5)),
]
IDS = [type(make()).__name__ for make, _ in ALL]


def _same(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)


@pytest.mark.parametrize(("make", "batch"), ALL, ids=IDS)
def test_state_arrays_live_for_the_metric_s_whole_life(make, batch):
    m = make()
    assert isinstance(m, Metric)
    arrays = {k: id(v) for k, v in m.state.items()}
    assert all(isinstance(v, np.ndarray) for v in m.state.values())
    with pytest.raises(TypeError):
        m.state["x"] = np.zeros(1)  # the mapping is read-only (the arrays are not: an all-reduce may sum into them)
    fresh = m.compute()
    m.update(*batch)
    m.update(*batch)
    assert any(np.any(v != 0) for v in m.state.values())
    m.reset()
    assert all(np.all(v == 0) for v in m.state.values())
    assert {k: id(v) for k, v in m.state.items()} == arrays
    assert _same(m.compute(), fresh)


@pytest.mark.parametrize(("make", "batch"), ALL, ids=IDS)
def test_state_dict_round_trip(make, batch):
    m = make()
    m.update(*batch)
    saved = m.state_dict()
    assert all(type(v) is np.ndarray for v in saved.values())
    m.update(*batch)  # the saved copy does not move with the metric
    other = make()
    other.load_state_dict(saved)
    once = make()
    once.update(*batch)
    assert _same(other.compute(), once.compute())
    with pytest.raises(StateDictError, match="missing keys"):
        other.load_state_dict({})
    with pytest.raises(StateDictError, match="unexpected keys"):
        other.load_state_dict({**saved, "extra": np.zeros(())})
    key = next(iter(saved))
    with pytest.raises(StateDictError, match="has shape"):
        other.load_state_dict({**saved, key: np.zeros((7, 7))})
    assert _same(other.compute(), once.compute())  # a refused load changes nothing


def test_load_refuses_fractional_counts_and_non_mappings():
    m = Accuracy()
    with pytest.raises(StateDictError, match="dtype float64, expected int64"):
        m.load_state_dict({"correct": np.array(1.5), "total": np.array(2)})
    with pytest.raises(StateDictError, match="expected a mapping"):
        m.load_state_dict([1, 2])


def test_merge_checks_type_and_configuration():
    with pytest.raises(InputTypeError, match="Accuracy.merge: expected another Accuracy, got PixelAccuracy"):
        Accuracy().merge(PixelAccuracy())
    with pytest.raises(InputError, match="configurations differ"):
        TopKAccuracy(2).merge(TopKAccuracy(3))
    with pytest.raises(InputError, match="configurations differ"):
        MeanIoU(3).merge(MeanIoU(4))
    with pytest.raises(InputError, match="configurations differ"):
        IoU(3, ignore_index=255).merge(IoU(3, ignore_index=None))
    a, b = Accuracy(name="a"), Accuracy(name="b")  # names are labels, not configuration
    b.update(np.array([1, 2]), np.array([1, 1]))
    assert a.merge(b).compute() == 0.5


def test_repr_shows_the_configuration():
    assert repr(MeanIoU(21)) == "MeanIoU(num_classes=21, ignore_index=255)"
    assert repr(TopKAccuracy(3)) == "TopKAccuracy(k=3, ignore_index=None)"
    assert repr(PSNR(255, name="val_psnr")) == "PSNR(data_range=255.0, name='val_psnr')"


def test_collection_updates_computes_resets_and_merges_all():
    def make():
        return MetricCollection([MeanIoU(3), PixelAccuracy(), IoU(3), ConfusionMatrix(3, ignore_index=255)])

    col = make()
    assert list(col) == ["mean_iou", "pixel_accuracy", "iou", "confusion_matrix"]
    col.update(SCORES, LABELS)
    values = col.compute()
    assert set(values) == set(col)
    single = MeanIoU(3)
    single.update(SCORES, LABELS)
    assert values["mean_iou"] == single.compute()
    left, right = make(), make()
    left.update(SCORES[:2], LABELS[:2])
    right.update(ck.tensor(SCORES[2:]), LABELS[2:])
    assert _same(left.merge(right).compute(), values)
    col.reset()
    assert all(np.all(v == 0) for v in col.state.values())


def test_collection_state_is_flat_and_round_trips():
    col = MetricCollection({"miou": MeanIoU(3), "acc": PixelAccuracy()})
    col.update(SCORES, LABELS)
    assert set(col.state) == {"miou.counts", "acc.correct", "acc.total"}
    assert col.state["miou.counts"] is col["miou"].state["counts"]
    saved = col.state_dict()
    other = MetricCollection({"miou": MeanIoU(3), "acc": PixelAccuracy()})
    other.load_state_dict(saved)
    assert _same(other.compute(), col.compute())
    broken = {**saved, "acc.total": np.zeros((2,))}
    fresh = MetricCollection({"miou": MeanIoU(3), "acc": PixelAccuracy()})
    with pytest.raises(StateDictError, match="'acc'"):
        fresh.load_state_dict(broken)
    assert all(np.all(v == 0) for v in fresh.state.values())  # all or nothing
    with pytest.raises(StateDictError, match="unexpected keys"):
        fresh.load_state_dict({**saved, "other.x": 1})


def test_collection_bad_batch_changes_no_metric():
    col = MetricCollection([Accuracy(), ConfusionMatrix(2)])  # only the confusion matrix knows C = 2
    col.update(np.array([0, 1]), np.array([0, 1]))
    before = col.state_dict()
    with pytest.raises(InputError, match="ConfusionMatrix"):
        col.update(np.array([0, 2]), np.array([0, 2]))
    assert _same(col.state_dict(), before)


def test_collection_construction_and_merge_errors():
    with pytest.raises(InputError, match="two metrics are named 'accuracy'"):
        MetricCollection([Accuracy(), Accuracy()])
    with pytest.raises(InputTypeError, match="not a Metric"):
        MetricCollection({"f": len})
    with pytest.raises(InputError, match="without '.'"):
        MetricCollection({"a.b": Accuracy()})
    with pytest.raises(InputError, match="metric names differ"):
        MetricCollection([Accuracy()]).merge(MetricCollection([PixelAccuracy()]))
    mixed = MetricCollection({"x": Accuracy(), "y": MeanIoU(3)})
    with pytest.raises(InputError, match="'y'"):
        mixed.merge(MetricCollection({"x": Accuracy(), "y": MeanIoU(4)}))
    assert mixed["x"].state["total"] == 0


def test_mean_metric_in_a_collection_takes_its_own_arguments():
    col = MetricCollection({"loss": MeanMetric(), "other": MeanMetric()})
    col.update(2.0, 4)
    col.update(5.0, weight=2)
    assert col.compute() == {"loss": 3.0, "other": 3.0}
    assert math.isnan(MetricCollection([MeanMetric()]).compute()["mean"])


def test_lazy_attribute_of_the_package():
    assert ck.metrics.MeanIoU is MeanIoU
