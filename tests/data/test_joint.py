"""Joint transforms: the mask and the boxes move exactly with the image (hand-worked cases)."""

import numpy as np
import pytest

from cnnkit.data import TransformDataset
from cnnkit.data import joint as J
from cnnkit.data import transforms as T
from cnnkit.errors import InputError


def _scene(h=6, w=8):
    """An image whose value is its pixel index, a mask marking a 2x3 block, and that block's box."""
    img = np.arange(h * w, dtype=np.float32).reshape(1, h, w)
    mask = np.zeros((h, w), np.int64)
    mask[1:3, 2:5] = 2  # rows 1-2, cols 2-4 -> box [2, 1, 5, 3] in pixel-edge coordinates
    target = {"boxes": np.array([[2, 1, 5, 3]], np.float32), "labels": np.array([1], np.int64)}
    return img, mask, target


def _mask_box(mask, value):
    rows, cols = np.nonzero(mask == value)
    return [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]


def test_flips_move_mask_and_boxes_with_the_image():
    img, mask, target = _scene()
    out, m = J.hflip(img, mask)
    np.testing.assert_array_equal(out, img[:, :, ::-1])
    np.testing.assert_array_equal(m, mask[:, ::-1])
    _, t = J.hflip(img, target)
    np.testing.assert_array_equal(t["boxes"], [[3, 1, 6, 3]])  # x -> 8 - x
    assert t["boxes"].tolist()[0] == _mask_box(m, 2)
    _, t = J.vflip(img, target)
    np.testing.assert_array_equal(t["boxes"], [[2, 3, 5, 5]])  # y -> 6 - y
    np.testing.assert_array_equal(t["labels"], [1])
    assert target["boxes"].tolist() == [[2, 1, 5, 3]]  # the input is not changed


def test_crop_shifts_clips_and_drops_boxes_with_their_labels():
    img = np.zeros((3, 10, 10), np.float32)
    target = {"boxes": np.array([[1, 1, 4, 4], [6, 6, 9, 9], [4.5, 0, 5.2, 3]], np.float32),
              "labels": np.array([0, 1, 2], np.int64)}
    out, t = J.crop(img, target, top=2, left=3, height=5, width=5)  # window x 3..8, y 2..7
    assert out.shape == (3, 5, 5)
    # box 0 -> [-2, -1, 1, 2] clipped [0, 0, 1, 2]; box 1 -> [3, 4, 6, 7] clipped [3, 4, 5, 5];
    # box 2 -> [1.5, -2, 2.2, 1] clipped [1.5, 0, 2.2, 1]: 0.7 px wide, dropped (min_size 1)
    np.testing.assert_allclose(t["boxes"], [[0, 0, 1, 2], [3, 4, 5, 5]])
    np.testing.assert_array_equal(t["labels"], [0, 1])
    assert t["boxes"].dtype == np.float32
    _, t = J.crop(img, target, 2, 3, 5, 5, min_visibility=0.5)  # box 0 keeps 2/9 of its area, box 1 2/9 too
    assert t["boxes"].shape == (0, 4) and t["labels"].shape == (0,)
    _, t = J.crop(img, target, 0, 0, 10, 10, min_size=0.5)
    np.testing.assert_allclose(t["boxes"], target["boxes"])


def test_empty_box_lists_pass_through_every_transform():
    img = np.random.default_rng(0).random((3, 16, 16)).astype(np.float32)
    empty = {"boxes": np.zeros((0, 4), np.float32), "labels": np.zeros((0,), np.int64)}
    for t in (J.RandomHorizontalFlip(1.0), J.RandomVerticalFlip(1.0), J.RandomCrop(8, seed=0), J.Resize(20),
              J.RandomResizedCrop(12, seed=0), J.RandomRotation(30, seed=0)):
        _, out = t(img, empty)
        assert out["boxes"].shape == (0, 4) and out["labels"].shape == (0,), t


def test_crop_outside_the_image_fills_mask_with_ignore():
    img, mask, _ = _scene()
    out, m = J.crop(img, mask, top=-1, left=6, height=3, width=4)
    assert out.shape == (1, 3, 4) and m.shape == (3, 4)
    assert (m[0] == J.IGNORE).all() and (m[:, 2:] == J.IGNORE).all()
    np.testing.assert_array_equal(out[0, 1:, :2], img[0, 0:2, 6:8])
    np.testing.assert_array_equal(m[1:, :2], mask[0:2, 6:8])


def test_resize_nearest_mask_and_scaled_boxes():
    img, mask, target = _scene()
    out, m = J.resize(img, mask, (12, 16))
    assert out.shape == (1, 12, 16) and m.dtype == mask.dtype
    np.testing.assert_array_equal(m, mask.repeat(2, 0).repeat(2, 1))  # nearest: no new values
    _, t = J.resize(img, target, (12, 16))
    np.testing.assert_allclose(t["boxes"], [[4, 2, 10, 6]])
    assert t["boxes"].tolist()[0] == _mask_box(m, 2)


def test_rotation_by_90_degrees_is_exact():
    img, mask, target = _scene(8, 8)
    out, m = J.rotate(img, mask, 90)
    np.testing.assert_array_equal(m, np.rot90(mask))  # counter-clockwise, nearest
    np.testing.assert_allclose(out[0], np.rot90(img[0]), atol=1e-5)
    _, t = J.rotate(img, target, 90)
    assert t["boxes"].tolist()[0] == _mask_box(m, 2)


def test_rotation_box_contains_the_turned_object_and_mask_gets_ignore_in_corners():
    img = np.zeros((1, 32, 32), np.float32)
    mask = np.zeros((32, 32), np.int64)
    mask[10:20, 12:18] = 1
    target = {"boxes": np.array([[12, 10, 18, 20]], np.float32), "labels": np.array([0])}
    _, m = J.rotate(img, mask, 30)
    _, t = J.rotate(img, target, 30)
    x1, y1, x2, y2 = t["boxes"][0]
    bx1, by1, bx2, by2 = _mask_box(m, 1)
    half = 0.5  # nearest sampling takes a pixel whose centre falls inside: up to half a pixel beyond the edge
    assert x1 <= bx1 + half and y1 <= by1 + half and x2 >= bx2 - half and y2 >= by2 - half
    assert x2 - x1 > 6 + 1 and y2 - y1 > 10  # the box around the turned corners is larger than the object
    assert m[0, 0] == J.IGNORE and set(np.unique(m)) <= {0, 1, J.IGNORE}


def test_random_transforms_are_seeded_and_move_mask_with_image():
    rng = np.random.default_rng(1)
    img = rng.random((3, 20, 20)).astype(np.float32)
    mask = (img[0] * 3).astype(np.int64)  # the mask is a function of the image
    for t in (J.RandomHorizontalFlip(1.0), J.RandomCrop(12, padding=2, seed=3), J.RandomResizedCrop(20, seed=4)):
        out, m = t(img, mask)
        if isinstance(t, J.RandomResizedCrop):
            continue  # bilinear image vs nearest mask: checked by the identity below
        known = m != J.IGNORE
        np.testing.assert_array_equal(m[known], (out[0] * 3).astype(np.int64)[known])
    a = J.segmentation_augmentation(20, seed=7)(img, mask)
    b = J.segmentation_augmentation(20, seed=7)(img, mask)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    # a full-size window at scale 1 and ratio 1 is the identity
    out, m = J.RandomResizedCrop(20, scale=(1, 1), ratio=(1, 1), seed=0)(img, mask)
    np.testing.assert_array_equal(m, mask)
    np.testing.assert_allclose(out, img)


def test_compose_passes_plain_transforms_the_image_only():
    img, mask, _ = _scene()
    t = J.Compose([J.RandomHorizontalFlip(1.0), T.Lambda(lambda x: x + 1)])
    out, m = t(img, mask)
    np.testing.assert_array_equal(out, img[:, :, ::-1] + 1)
    np.testing.assert_array_equal(m, mask[:, ::-1])
    only, none = t(img)
    assert none is None and only.shape == img.shape


def test_transform_dataset_hands_a_joint_transform_the_target():
    img, mask, _ = _scene()
    ds = TransformDataset([(img, mask)], J.RandomHorizontalFlip(1.0))
    out, m = ds[0]
    np.testing.assert_array_equal(m, mask[:, ::-1])
    np.testing.assert_array_equal(out, img[:, :, ::-1])


def test_bad_targets_are_clear():
    img, mask, _ = _scene()
    with pytest.raises(InputError, match="mask is 7x6 but the image 8x6"):
        J.hflip(img, mask[:, :7])
    with pytest.raises(InputError, match=r"boxes must have shape \(K, 4\)"):
        J.hflip(img, {"boxes": np.zeros((2, 3))})
    with pytest.raises(InputError, match="must hold integers"):
        J.hflip(img, mask.astype(np.float32))
    with pytest.raises(InputError, match="p must lie"):
        J.RandomHorizontalFlip(2)


@pytest.mark.parametrize("trial", range(40))
def test_boxes_follow_the_pixels_they_cover(trial):
    """Random integer boxes drawn as masks: after a random flip / padded crop / 2x resize the box the transform
    computes is the box around the moved pixels, and a box is dropped exactly when none of its pixels is left."""
    rng = np.random.default_rng(trial)
    h, w = int(rng.integers(8, 20)), int(rng.integers(8, 20))
    x1, y1 = int(rng.integers(0, w - 1)), int(rng.integers(0, h - 1))
    x2, y2 = int(rng.integers(x1 + 1, w + 1)), int(rng.integers(y1 + 1, h + 1))
    img = rng.random((2, h, w)).astype(np.float32)
    mask = np.zeros((h, w), np.int64)
    mask[y1:y2, x1:x2] = 1
    target = {"boxes": np.array([[x1, y1, x2, y2]], np.float32), "labels": np.array([7]),
              "iscrowd": np.array([0])}
    window = (int(rng.integers(3, h + 4)), int(rng.integers(3, w + 4)))
    transform = [lambda s: J.RandomHorizontalFlip(0.5, seed=s), lambda s: J.RandomVerticalFlip(0.5, seed=s),
                 lambda s: J.RandomCrop(window, padding=2, seed=s), lambda s: J.Resize((2 * h, 2 * w))][trial % 4]
    img_m, m = transform(trial)(img, mask)
    img_b, t = transform(trial)(img, target)
    np.testing.assert_array_equal(img_m, img_b)
    if (m == 1).any():
        assert t["boxes"].tolist() == [_mask_box(m, 1)]
        assert t["labels"].tolist() == [7] and t["iscrowd"].tolist() == [0]
    else:
        assert t["boxes"].shape == (0, 4) and t["labels"].shape == (0,) and t["iscrowd"].shape == (0,)


def test_detection_datasets_augment_boxes_with_their_images(monkeypatch):
    from cnnkit.data import detection
    from cnnkit.data.registry import load_dataset

    monkeypatch.setattr(detection, "SHAPES_TRAIN", 40)
    monkeypatch.setattr(detection, "SHAPES_TEST", 4)
    bundle = load_dataset("shapes", task="detection")
    augmented = TransformDataset(bundle.train, bundle.augmentation())
    size = bundle.info.input_size
    for i in range(20):
        image, target = augmented[i]
        boxes, labels = target["boxes"], target["labels"]
        assert image.shape == (3, size, size) and boxes.dtype == np.float32 and len(boxes) == len(labels)
        assert (boxes[:, :2] >= 0).all() and (boxes[:, 2:] <= size).all() and (boxes[:, 2:] > boxes[:, :2]).all()
        assert set(labels.tolist()) <= set(bundle.train[i][1]["labels"].tolist())
