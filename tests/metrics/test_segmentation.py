import math
import sys
from pathlib import Path

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given, settings
from metrics import brute
from metrics.streams import check_stream_and_merge, cuts, labelled

import cnnkit.metrics
from cnnkit.metrics import IoU, MeanIoU, MetricCollection, PixelAccuracy


@st.composite
def case(draw):
    """Dense (num_classes, output, target, ignore_index, bounds, merge point, wrap): targets with ignored pixels
    and, with up to 5 classes on a few pixels, classes absent from some batches or from everything."""
    ignore_index = draw(st.sampled_from([255, None, 0]))
    c, output, target = draw(labelled(True, ignore_index))
    n = len(target)
    return c, output, target, ignore_index, draw(cuts(n)), draw(st.integers(0, n)), draw(st.booleans())


@settings(deadline=None, max_examples=80)
@given(case())
def test_pixel_accuracy_streams_like_the_whole(args):
    c, output, target, ignore_index, bounds, half, wrap = args
    expected = brute.accuracy(output, target, ignore_index)
    check_stream_and_merge(lambda: PixelAccuracy(ignore_index), [output, target], bounds, half, expected, wrap)


@settings(deadline=None, max_examples=80)
@given(case())
def test_iou_streams_like_the_whole(args):
    c, output, target, ignore_index, bounds, half, wrap = args
    expected = brute.iou(output, target, c, ignore_index)
    check_stream_and_merge(lambda: IoU(c, ignore_index), [output, target], bounds, half, expected, wrap)


@settings(deadline=None, max_examples=80)
@given(case())
def test_mean_iou_streams_like_the_whole(args):
    c, output, target, ignore_index, bounds, half, wrap = args
    expected = brute.mean_iou(output, target, c, ignore_index)
    check_stream_and_merge(lambda: MeanIoU(c, ignore_index), [output, target], bounds, half, expected, wrap)


def test_known_values_with_ignored_pixels_and_an_absent_class():
    logits = np.zeros((1, 4, 2, 3))
    pred = np.array([[0, 0, 1], [1, 2, 2]])
    for i in range(2):
        for j in range(3):
            logits[0, pred[i, j], i, j] = 1.0
    target = np.array([[[0, 1, 1], [1, 255, 255]]])
    iou, miou, acc = IoU(4), MeanIoU(4), PixelAccuracy()
    MetricCollection({"iou": iou, "miou": miou, "acc": acc}).update(logits, target)
    # class 0: inter 1, union 2; class 1: inter 2, union 3; class 2: predicted only on ignored pixels -> absent
    np.testing.assert_allclose(iou.compute(), [0.5, 2 / 3, np.nan, np.nan])
    assert miou.compute() == pytest.approx((0.5 + 2 / 3) / 2)
    assert acc.compute() == 0.75


def test_defaults_names_and_empty_behaviour():
    assert (PixelAccuracy().ignore_index, IoU(3).ignore_index, MeanIoU(3).ignore_index) == (255, 255, 255)
    assert (PixelAccuracy().name, IoU(3).name, MeanIoU(3).name) == ("pixel_accuracy", "iou", "mean_iou")
    iou, miou, acc = IoU(3), MeanIoU(3), PixelAccuracy()
    assert np.isnan(iou.compute()).all() and math.isnan(miou.compute()) and math.isnan(acc.compute())
    everything_ignored = np.full((2, 4, 4), 255)
    for m in (iou, miou, acc):
        m.update(np.zeros((2, 3, 4, 4), np.float32), everything_ignored)
        m.update(np.zeros((0, 3, 4, 4), np.float32), np.zeros((0, 4, 4), np.int64))
    assert np.isnan(iou.compute()).all() and math.isnan(miou.compute()) and math.isnan(acc.compute())


def _state_layout(metric):
    return {key: (id(a), a.shape, a.dtype, a.nbytes) for key, a in metric.state.items()}


def test_state_size_is_constant_over_many_large_batches():
    rng = np.random.default_rng(0)
    logits = [rng.standard_normal((16, 4, 64, 64)).astype(np.float32) for _ in range(2)]
    targets = [rng.integers(0, 4, (16, 64, 64)) for _ in range(2)]
    for t in targets:
        t[rng.random(t.shape) < 0.1] = 255
    miou, acc = MeanIoU(4), PixelAccuracy()
    layouts = (_state_layout(miou), _state_layout(acc))
    assert sum(a.nbytes for a in miou.state.values()) == 4 * 4 * 8
    assert sum(a.nbytes for a in acc.state.values()) == 2 * 8
    for step in range(200):
        miou.update(logits[step % 2], targets[step % 2])
        acc.update(logits[step % 2], targets[step % 2])
        assert (_state_layout(miou), _state_layout(acc)) == layouts
    once_miou, once_acc = MeanIoU(4), PixelAccuracy()
    for x, t in zip(logits, targets, strict=True):
        once_miou.update(x, t)
        once_acc.update(x, t)
    assert np.array_equal(miou.state["counts"], 100 * once_miou.state["counts"])
    assert miou.compute() == pytest.approx(once_miou.compute()) and acc.compute() == pytest.approx(once_acc.compute())
    assert int(acc.state["total"]) == 200 * 16 * 64 * 64 - 100 * sum(int((t == 255).sum()) for t in targets)


def _lines_run_in_metrics(fn) -> int:
    """Python lines executed inside cnnkit.metrics while ``fn()`` runs."""
    folder = str(Path(cnnkit.metrics.__file__).parent)
    count = 0

    def tracer(frame, event, arg):
        nonlocal count
        if not frame.f_code.co_filename.startswith(folder):
            return None

        def local(frame, event, arg):
            nonlocal count
            count += event == "line"
            return local

        return local

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        fn()
    finally:
        sys.settrace(previous)
    return count


@pytest.mark.parametrize("make", [lambda: MeanIoU(4), PixelAccuracy, lambda: IoU(4)])
def test_update_is_vectorised(make):
    """An update runs the same few Python lines for 4 pixels as for 65536: no loop per pixel or per sample."""
    rng = np.random.default_rng(1)

    def lines(n, h, w):
        x = rng.standard_normal((n, 4, h, w)).astype(np.float32)
        t = rng.integers(0, 4, (n, h, w))
        t[0, 0, 0] = 255
        metric = make()
        return _lines_run_in_metrics(lambda: metric.update(x, t))

    small, large = lines(1, 2, 2), lines(16, 64, 64)
    assert small < 200
    assert large == small
