"""Selective search: graph segmentation against its plain reference, proposals on hand-made images, recall."""

import numpy as np
import pytest

from cnnkit.errors import InputError
from cnnkit.kernels.segment_graph import segment_image
from cnnkit.ops import box_iou, felzenszwalb, selective_search


def _two_squares():
    image = np.zeros((3, 40, 48), np.float32)
    image[:] = np.array([0.2, 0.3, 0.8], np.float32)[:, None, None]
    image[:, 5:17, 4:16] = np.array([0.9, 0.1, 0.1], np.float32)[:, None, None]  # red 12x12 at x 4..16, y 5..17
    image[:, 20:35, 25:45] = np.array([0.1, 0.9, 0.2], np.float32)[:, None, None]  # green 20x15
    return image


def test_segmentation_finds_the_flat_regions():
    labels = felzenszwalb(_two_squares(), scale=100, sigma=0.0, min_size=5)
    assert labels.shape == (40, 48) and labels.max() == 2
    assert len(np.unique(labels[5:17, 4:16])) == 1 and len(np.unique(labels[20:35, 25:45])) == 1
    assert len({labels[0, 0], labels[10, 10], labels[30, 30]}) == 3


def test_compiled_segmentation_equals_the_reference():
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (23, 31, 3))
    for k, min_size in ((50.0, 1), (300.0, 10)):
        fast = segment_image(image, k, min_size)
        slow = segment_image(image, k, min_size, compiled=False)
        np.testing.assert_array_equal(fast, slow)


def test_the_squares_boxes_are_among_the_proposals():
    for mode in ("fast", "quality"):
        boxes = selective_search(_two_squares(), mode=mode)
        assert boxes.dtype == np.float32 and boxes.ndim == 2 and boxes.shape[1] == 4
        for target in ([4, 5, 16, 17], [25, 20, 45, 35], [0, 0, 48, 40]):
            assert (np.abs(boxes - np.array(target, np.float32)).max(1) == 0).any(), (mode, target)
        assert len(np.unique(boxes, axis=0)) == len(boxes)  # deduplicated


def test_proposals_are_deterministic_and_capped():
    image = np.random.default_rng(1).uniform(0, 1, (3, 32, 32))
    a = selective_search(image, max_proposals=30)
    np.testing.assert_array_equal(a, selective_search(image, max_proposals=30))
    assert 0 < len(a) <= 30
    assert np.all(a[:, 2] - a[:, 0] >= 2) and np.all(a[:, 3] - a[:, 1] >= 2)


def test_recall_of_shape_scenes():
    from cnnkit.data.synthetic import ShapeScenes

    scenes = ShapeScenes(n=20, seed=3, train=False, target="boxes")
    found = total = 0
    for image, boxes in zip(scenes.data, scenes.boxes, strict=True):
        if len(boxes):
            found += int((box_iou(boxes, selective_search(image)).max(1) >= 0.7).sum())
            total += len(boxes)
    assert found / total >= 0.9


def test_a_flat_image_gives_the_whole_image():
    boxes = selective_search(np.full((1, 16, 16), 0.5))
    np.testing.assert_array_equal(boxes, [[0, 0, 16, 16]])


@pytest.mark.parametrize("kwargs, match", [
    ({"image": np.zeros((3, 4, 4, 1))}, "shape"),
    ({"image": np.full((3, 8, 8), np.nan)}, "finite"),
    ({"image": np.zeros((3, 8, 8)), "mode": "slow"}, "mode"),
    ({"image": np.zeros((3, 8, 8)), "max_proposals": 0}, "max_proposals"),
    ({"image": [[0.0]]}, "array"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(InputError, match=match):
        selective_search(**kwargs)
