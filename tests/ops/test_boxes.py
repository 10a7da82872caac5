"""Box ops against reference loops written from torchvision's definitions, and hand-worked cases."""


import numpy as np
import pytest

import cnnkit as ck
from cnnkit.errors import InputError, InputTypeError
from cnnkit.kernels import boxes as kboxes
from cnnkit.ops import (
    batched_nms,
    box_area,
    box_convert,
    box_iou,
    clip_boxes_to_image,
    generalized_box_iou,
    nms,
    remove_small_boxes,
)


def random_boxes(n, rng, size=100.0, max_wh=40.0, dtype=np.float64):
    xy = rng.uniform(0, size, (n, 2))
    wh = rng.uniform(1, max_wh, (n, 2))
    return np.concatenate([xy, xy + wh], axis=1).astype(dtype)


def iou_loop(a, b):
    out = np.zeros((len(a), len(b)))
    for i, p in enumerate(a):
        for j, q in enumerate(b):
            iw = max(0.0, min(p[2], q[2]) - max(p[0], q[0]))
            ih = max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
            inter = iw * ih
            union = (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter
            out[i, j] = inter / union
    return out


def giou_loop(a, b):
    out = iou_loop(a, b)
    for i, p in enumerate(a):
        for j, q in enumerate(b):
            iw = max(0.0, min(p[2], q[2]) - max(p[0], q[0]))
            ih = max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
            union = (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - iw * ih
            enclosing = (max(p[2], q[2]) - min(p[0], q[0])) * (max(p[3], q[3]) - min(p[1], q[1]))
            out[i, j] -= (enclosing - union) / enclosing
    return out


def test_area_iou_giou_match_loops():
    rng = np.random.default_rng(1)
    a, b = random_boxes(7, rng), random_boxes(5, rng)
    np.testing.assert_allclose(box_area(a), (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]))
    np.testing.assert_allclose(box_iou(a, b), iou_loop(a, b), rtol=1e-12)
    np.testing.assert_allclose(generalized_box_iou(a, b), giou_loop(a, b), rtol=1e-12, atol=1e-12)


def test_hand_worked_iou_and_giou():
    a = np.array([[0.0, 0.0, 2.0, 2.0]])
    b = np.array([[1.0, 1.0, 3.0, 3.0], [0.0, 0.0, 2.0, 2.0], [4.0, 0.0, 6.0, 2.0]])
    np.testing.assert_allclose(box_iou(a, b), [[1 / 7, 1.0, 0.0]])
    # enclosing boxes: 3x3 = 9, 2x2 = 4, 6x2 = 12; unions 7, 4, 8
    np.testing.assert_allclose(generalized_box_iou(a, b), [[1 / 7 - 2 / 9, 1.0, 0.0 - 4 / 12]])


def test_tensors_in_tensors_out_and_float32_kept():
    a = ck.tensor(np.array([[0, 0, 2, 2]], np.float32))
    for fn in (box_area, lambda x: box_iou(x, x), lambda x: generalized_box_iou(x, x),
               lambda x: box_convert(x, "xyxy", "cxcywh"), lambda x: clip_boxes_to_image(x, (1, 1))):
        out = fn(a)
        assert isinstance(out, ck.Tensor) and out.dtype == np.float32
        assert not isinstance(fn(a.data), ck.Tensor)
    for fn in (lambda x: nms(x, x[:, 0], 0.5), lambda x: remove_small_boxes(x, 1.0),
               lambda x: batched_nms(x, x[:, 0], np.zeros(1, np.int64), 0.5)):
        out = fn(a)
        assert isinstance(out, ck.Tensor) and out.dtype == np.int64
        assert isinstance(fn(a.data), np.ndarray)


def test_iou_and_giou_gradcheck():
    rng = np.random.default_rng(2)
    a = ck.tensor(random_boxes(3, rng, size=10, max_wh=8), requires_grad=True)
    b = ck.tensor(random_boxes(4, rng, size=10, max_wh=8), requires_grad=True)
    assert ck.gradcheck(box_iou, (a, b))
    assert ck.gradcheck(generalized_box_iou, (a, b))
    assert ck.gradcheck(lambda x: box_convert(x, "xyxy", "cxcywh"), (a,))
    assert ck.gradcheck(lambda x: clip_boxes_to_image(x, (6, 7)), (a,))


@pytest.mark.parametrize("fmt", ["xywh", "cxcywh", "xyxy"])
def test_box_convert_hand_and_round_trip(fmt):
    xyxy = np.array([[1.0, 2.0, 5.0, 8.0]])
    expected = {"xyxy": [[1, 2, 5, 8]], "xywh": [[1, 2, 4, 6]], "cxcywh": [[3, 5, 4, 6]]}[fmt]
    out = box_convert(xyxy, "xyxy", fmt)
    np.testing.assert_allclose(out, expected)
    for other in ("xyxy", "xywh", "cxcywh"):
        np.testing.assert_allclose(box_convert(box_convert(out, fmt, other), other, fmt), out)
    assert box_convert(xyxy, "xyxy", "xyxy") is not xyxy


def test_box_convert_rejects_unknown_format():
    with pytest.raises(InputError, match="box_convert: unsupported in_fmt 'xyz'"):
        box_convert(np.zeros((1, 4)), "xyz", "xyxy")


def test_clip_and_remove_small():
    boxes = np.array([[-5.0, -1.0, 20.0, 8.0], [3.0, 4.0, 3.5, 9.0]])
    np.testing.assert_allclose(clip_boxes_to_image(boxes, (6, 10)), [[0, 0, 10, 6], [3, 4, 3.5, 6]])
    batched = np.stack([boxes, boxes])
    assert clip_boxes_to_image(batched, (6, 10)).shape == (2, 2, 4)
    np.testing.assert_array_equal(remove_small_boxes(boxes, 1.0), [0])
    np.testing.assert_array_equal(remove_small_boxes(boxes, 0.5), [0, 1])  # >= min_size is kept
    assert remove_small_boxes(np.zeros((0, 4)), 1.0).shape == (0,)


def test_nms_hand_worked_with_ties():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 10, 10.0]])
    scores = np.array([0.9, 0.8, 0.9, 0.9, 0.1])
    # ties in score keep input order: 0, 2, 3; box 2 equals box 0 (IoU 1) and goes; box 1 overlaps 0 by 81/119
    np.testing.assert_array_equal(nms(boxes, scores, 0.5), [0, 3])
    np.testing.assert_array_equal(nms(boxes, scores, 0.99), [0, 3, 1])
    # IoU exactly at the threshold is kept (suppression needs IoU > threshold)
    two = np.array([[0, 0, 2, 1], [1, 0, 3, 1.0]])  # IoU 1/3
    np.testing.assert_array_equal(nms(two, np.array([1.0, 0.5]), 1 / 3), [0, 1])
    np.testing.assert_array_equal(nms(two, np.array([1.0, 0.5]), 0.33), [0])


def test_nms_empty_and_validation():
    out = nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.5)
    assert out.shape == (0,) and out.dtype == np.int64
    assert batched_nms(np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64), 0.5).shape == (0,)
    with pytest.raises(InputError, match=r"nms: scores must have shape \(2,\)"):
        nms(np.zeros((2, 4)), np.zeros(3), 0.5)
    with pytest.raises(InputError, match=r"nms: boxes must have shape \(N, 4\)"):
        nms(np.zeros((2, 5)), np.zeros(2), 0.5)
    with pytest.raises(InputTypeError, match="nms: boxes must be a Tensor or ndarray"):
        nms([[0, 0, 1, 1]], np.zeros(1), 0.5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.7, -0.5])
def test_nms_kernel_equals_reference(dtype, threshold):
    rng = np.random.default_rng(3)
    boxes = random_boxes(300, rng, dtype=dtype)
    boxes[::7, 2:] = boxes[::7, :2]  # some empty boxes
    scores = rng.integers(0, 20, 300).astype(dtype)  # many ties
    np.testing.assert_array_equal(nms(boxes, scores, threshold), kboxes.nms_reference(boxes, scores, threshold))


def test_batched_nms_is_nms_per_category():
    rng = np.random.default_rng(4)
    boxes, scores, idxs = random_boxes(200, rng), rng.random(200), rng.integers(0, 4, 200)
    keep = batched_nms(boxes, scores, idxs, 0.4)
    expected = []
    for c in range(4):
        members = np.nonzero(idxs == c)[0]
        expected.extend(members[kboxes.nms_reference(boxes[members], scores[members], 0.4)])
    assert sorted(keep.tolist()) == sorted(expected)
    assert np.all(np.diff(scores[keep]) <= 0)


def test_nms_on_10000_boxes_keeps_no_overlapping_pair():
    """Its time is measured by ``benchmarks/nms_speed.py`` (timings are no test assertions)."""
    rng = np.random.default_rng(5)
    boxes, scores = random_boxes(10_000, rng, size=1000.0, max_wh=100.0, dtype=np.float32), rng.random(10_000)
    keep = nms(boxes, scores, 0.5)
    assert 0 < len(keep) < 10_000 and np.all(np.diff(scores[keep]) <= 0)
    iou = box_iou(boxes[keep], boxes[keep])
    np.fill_diagonal(iou, 0)
    assert iou.max() <= 0.5
