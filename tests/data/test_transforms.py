"""Transforms: geometry against NumPy/PyTorch references, randomness under seeds, presets and errors."""

from __future__ import annotations

import numpy as np
import pytest

import cnnkit as ck
from cnnkit.data import transforms as T


def image(c=3, h=9, w=9, seed=0):
    return np.random.default_rng(seed).random((c, h, w), dtype=np.float32)


# ------------------------------------------------------------------------------------ geometry
@pytest.mark.parametrize("k, angle", [(1, 90), (2, 180), (3, 270), (3, -90)])
def test_rotation_by_right_angles_equals_rot90(k, angle):
    img = image(h=11, w=11)
    np.testing.assert_array_equal(T.rotate(img, angle), np.rot90(img, k, axes=(1, 2)))


def test_rotation_of_a_non_square_image_matches_rot90_away_from_borders():
    img = image(h=12, w=8)
    out = T.rotate(img, 90)
    ref = np.zeros_like(img)
    r = np.rot90(img, 1, axes=(1, 2))  # (3, 8, 12) turned about the centre, placed back on 12x8
    ref[:, 2:10, :] = r[:, :, 2:10]
    np.testing.assert_allclose(out[:, 2:10, :], ref[:, 2:10, :], atol=1e-6)
    assert np.all(out[:, :2, :] == 0) and np.all(out[:, 10:, :] == 0)  # outside the source: fill


def test_rotation_turns_counter_clockwise_as_shown():
    img = np.zeros((1, 5, 5), np.float32)
    img[0, 2, 4] = 1  # a dot right of the centre
    out = T.rotate(img, 90)
    assert out[0, 0, 2] == 1 and out.sum() == 1  # moves to the top


def test_identity_affine_returns_the_input():
    img = image(h=7, w=10)
    np.testing.assert_array_equal(T.affine(img, 0, (0, 0), 1.0, 0.0), img)
    np.testing.assert_array_equal(T.RandomAffine(0, seed=0)(img), img)
    np.testing.assert_array_equal(T.RandomRotation((0, 0), seed=0)(img), img)


def test_affine_integer_translation_is_a_shift_with_fill():
    img = image(h=6, w=7)
    out = T.affine(img, translate=(2, -1), fill=0.5)
    np.testing.assert_array_equal(out[:, :5, 2:], img[:, 1:, :5])
    assert np.all(out[:, :, :2] == 0.5) and np.all(out[:, 5, :] == 0.5)


def test_affine_scale_and_shear():
    img = np.zeros((1, 9, 9), np.float32)
    img[0, 4, 6] = 1  # two pixels right of the centre
    out = T.affine(img, scale=2.0)
    assert out[0, 4, 8] == 1  # twice as far
    sheared = T.affine(np.ones((1, 5, 5), np.float32), shear=30.0)
    assert sheared[0, 2, :].min() == 1.0  # the centre row does not move under an x-shear
    # rows below the centre move right, rows above move left: two corners slide out and the fill shows
    assert sheared[0, 4, 0] == 0.0 and sheared[0, 0, 4] == 0.0
    assert sheared[0, 0, 0] == 1.0 and sheared[0, 4, 4] == 1.0
    with pytest.raises(ValueError, match="scale must be positive"):
        T.affine(img, scale=0)


def test_bilinear_rotation_keeps_a_constant_image_inside():
    img = np.full((2, 16, 16), 0.7, np.float32)
    out = T.rotate(img, 33.0, fill=0.7)
    np.testing.assert_allclose(out, 0.7, atol=1e-6)
    assert out.dtype == np.float32


def test_flips():
    img = image(h=4, w=5)
    np.testing.assert_array_equal(T.hflip(img), img[:, :, ::-1])
    np.testing.assert_array_equal(T.vflip(img), img[:, ::-1, :])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(img), img[:, :, ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0.0)(img), img)
    np.testing.assert_array_equal(T.RandomVerticalFlip(p=1.0)(img), img[:, ::-1, :])
    flips = [np.array_equal(T.RandomHorizontalFlip(seed=s)(img), img) for s in range(200)]
    assert 60 < sum(flips) < 140


def test_normalize():
    img = image()
    out = T.Normalize((0.5, 0.4, 0.3), (0.1, 0.2, 0.5))(img)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[1], (img[1] - 0.4) / 0.2, rtol=1e-6)
    np.testing.assert_allclose(T.Normalize(0.5, 0.25)(img), (img - 0.5) / 0.25, rtol=1e-6)
    with pytest.raises(ValueError, match="std must be positive"):
        T.Normalize(0.0, 0.0)
    with pytest.raises(ValueError, match="2 values but the image has 3 channels"):
        T.Normalize((0.1, 0.2), (1, 1))(img)


def test_crops_and_padding():
    img = image(h=8, w=10)
    assert T.RandomCrop(5, seed=0)(img).shape == (3, 5, 5)
    assert T.RandomCrop((8, 10), padding=4, seed=0)(img).shape == (3, 8, 10)
    np.testing.assert_array_equal(T.RandomCrop((8, 10))(img), img)
    padded = T.Pad((1, 2, 3, 4), fill=9)(img)
    assert padded.shape == (3, 14, 14) and padded[0, 0, 0] == 9
    np.testing.assert_array_equal(padded[:, 2:10, 1:11], img)
    assert T.Pad(2)(img).shape == (3, 12, 14) and T.Pad((1, 2))(img).shape == (3, 12, 12)
    np.testing.assert_array_equal(T.CenterCrop(4)(img), img[:, 2:6, 3:7])
    np.testing.assert_array_equal(T.CenterCrop((3, 3))(img), img[:, 2:5, 4:7])  # round((8-3)/2) = 2
    big = T.CenterCrop((10, 12))(img)
    assert big.shape == (3, 10, 12) and np.all(big[:, 0] == 0)
    np.testing.assert_array_equal(T.crop(img, 1, 2, 3, 4), img[:, 1:4, 2:6])
    with pytest.raises(ValueError, match="larger than the"):
        T.RandomCrop(9)(img)
    with pytest.raises(ValueError, match="does not fit"):
        T.crop(img, 6, 0, 3, 3)


def test_random_crop_with_padding_is_a_shifted_window():
    img = image(h=6, w=6)
    padded = T.pad(img, 2, fill=0)
    for seed in range(20):
        out = T.RandomCrop(6, padding=2, seed=seed)(img)
        hits = [
            (i, j) for i in range(5) for j in range(5) if np.array_equal(out, padded[:, i : i + 6, j : j + 6])
        ]  # fmt: skip
        assert hits


def test_resize_matches_torch_bilinear():
    torch = pytest.importorskip("torch")
    img = image(h=7, w=10)
    for size in [(14, 20), (3, 4), (7, 13), (11, 5)]:
        ours = T.Resize(size)(img)
        ref = torch.nn.functional.interpolate(torch.from_numpy(img)[None], size=size, mode="bilinear",
                                              align_corners=False)[0].numpy()  # fmt: skip
        assert ours.shape == (3, *size) and ours.dtype == np.float32
        np.testing.assert_allclose(ours, ref, atol=1e-6)
    assert T.Resize(14)(img).shape == (3, 14, 20)  # shorter side to 14, aspect kept
    np.testing.assert_array_equal(T.Resize((7, 10))(img), img)


def test_uint8_images_stay_uint8_through_interpolation():
    img = (image() * 255).astype(np.uint8)
    out = T.Resize((18, 18))(img)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(T.rotate(img, 90), np.rot90(img, 1, axes=(1, 2)))


# ------------------------------------------------------------------------------------ randomness
def test_random_transforms_are_deterministic_under_a_seed():
    img = image(h=12, w=12)
    for make in (
        lambda s: T.RandomCrop(8, padding=2, seed=s),
        lambda s: T.RandomAffine(20, translate=(0.2, 0.2), scale=(0.8, 1.2), shear=10, seed=s),
        lambda s: T.RandomRotation(30, seed=s),
        lambda s: T.ColorJitter(0.4, 0.4, 0.4, seed=s),
        lambda s: T.RandomErasing(p=1.0, value="random", seed=s),
        lambda s: T.Cutout(4, seed=s),
    ):
        a, b = make(1), make(1)
        outs_a = [a(img) for _ in range(3)]
        outs_b = [b(img) for _ in range(3)]
        for x, y in zip(outs_a, outs_b, strict=True):
            np.testing.assert_array_equal(x, y)
        assert any(not np.array_equal(outs_a[0], o) for o in outs_a[1:]) or not np.array_equal(outs_a[0], make(2)(img))


def test_global_generator_drives_unseeded_transforms():
    img = image(h=12, w=12)
    t = T.RandomAffine(25, translate=(0.2, 0.2))
    ck.manual_seed(4)
    a = t(img)
    ck.manual_seed(4)
    np.testing.assert_array_equal(t(img), a)
    with pytest.raises(ValueError, match="not both"):
        T.RandomCrop(3, rng=np.random.default_rng(0), seed=1)
    with pytest.raises(TypeError, match="Generator"):
        T.RandomCrop(3, rng=5)


def test_random_rotation_angles_stay_in_range():
    t = T.RandomRotation(10, seed=0)
    angles = [t.get_params(8, 8, t.rng)[0] for _ in range(500)]
    assert -10 <= min(angles) < -9 and 9 < max(angles) <= 10
    shifts = T.RandomAffine(0, translate=(0.125, 0.125), seed=0)
    moves = {shifts.get_params(8, 8, shifts.rng)[1] for _ in range(200)}
    assert moves <= {(dx, dy) for dx in (-1.0, 0.0, 1.0) for dy in (-1.0, 0.0, 1.0)} and len(moves) == 9


def test_random_erasing_area_bounds():
    img = np.ones((3, 32, 32), np.float32)
    t = T.RandomErasing(p=1.0, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0, seed=0)
    fractions = []
    for _ in range(300):
        out = t(img)
        erased = out[0] == 0
        assert np.array_equal(erased, out[1] == 0) and np.array_equal(erased, out[2] == 0)
        rows, cols = np.nonzero(erased)
        assert erased.sum() == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)  # one rectangle
        h, w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert 0.3 * 0.8 <= h / w <= 3.3 * 1.25
        fractions.append(erased.mean())
    # round() of each side lets the area stray a little beyond the nominal scale range
    assert 0.015 <= min(fractions) and max(fractions) <= 0.36
    assert T.RandomErasing(p=0.0)(img) is img
    np.testing.assert_array_equal(img, 1)  # the input is never modified in place


def test_random_erasing_value_forms():
    img = np.ones((3, 16, 16), np.float32)
    out = T.RandomErasing(p=1.0, value=(0.1, 0.2, 0.3), seed=1)(img)
    np.testing.assert_allclose(np.unique(out[2]), [0.3, 1.0], rtol=1e-6)
    with pytest.raises(ValueError, match="value"):
        T.RandomErasing(value="noise")
    with pytest.raises(ValueError, match="scale"):
        T.RandomErasing(scale=(0.5, 0.1))


def test_cutout():
    img = np.ones((1, 10, 10), np.float32)
    for seed in range(30):
        out = T.Cutout(4, seed=seed)(img)
        zeros = int((out == 0).sum())
        assert 4 <= zeros <= 16
    assert (T.Cutout(4, p=0.0)(img) == 1).all()


def test_color_jitter_bounds():
    img = image()
    for s in range(20):
        out = T.ColorJitter(brightness=0.5, contrast=0.5, saturation=0.5, seed=s)(img)
        assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1
    np.testing.assert_array_equal(T.ColorJitter()(img), img)
    dark = T.ColorJitter(brightness=(0.5, 0.5))(img)
    np.testing.assert_allclose(dark, img * 0.5, rtol=1e-6)
    flat = T.ColorJitter(contrast=(0.0, 0.0))(img[:1])
    np.testing.assert_allclose(flat, img[:1].mean(), rtol=1e-5)


# ------------------------------------------------------------------------------------ conversions and input forms
def test_to_float_and_to_tensor():
    u8 = np.array([[[0, 255, 51]]], np.uint8)
    out = T.ToFloat()(u8)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[[0.0, 1.0, 0.2]]], rtol=1e-6)
    hwc = np.zeros((4, 5, 3), np.uint8)
    hwc[..., 1] = 255
    chw = T.ToTensor()(hwc)
    assert chw.shape == (3, 4, 5) and chw[1].min() == 1.0 and chw[0].max() == 0.0
    from PIL import Image

    assert T.ToTensor()(Image.fromarray(hwc)).shape == (3, 4, 5)
    assert T.ToTensor()(np.zeros((4, 5), np.uint8)).shape == (1, 4, 5)


def test_tensors_and_2d_images_are_accepted():
    img = image(c=1, h=6, w=6)
    out = T.RandomHorizontalFlip(p=1.0)(ck.tensor(img))
    assert isinstance(out, ck.Tensor)
    np.testing.assert_array_equal(out.data, img[:, :, ::-1])
    flat = T.rotate(img[0], 90)
    assert flat.shape == (6, 6)
    np.testing.assert_array_equal(flat, np.rot90(img[0]))
    with pytest.raises(ValueError, match=r"\(C, H, W\) or \(H, W\)"):
        T.hflip(np.zeros((1, 1, 2, 2)))
    with pytest.raises(TypeError, match="NumPy array or Tensor"):
        T.Normalize(0, 1)([[1.0]])


def test_compose_and_lambda():
    t = T.Compose([T.Lambda(lambda x: x + 1), T.Normalize(1.0, 2.0)])
    np.testing.assert_allclose(t(np.zeros((1, 2, 2), np.float32)), 0.0)
    assert "Normalize" in repr(t)
    with pytest.raises(TypeError, match="callable"):
        T.Compose([1])


# ------------------------------------------------------------------------------------ presets
def test_digits_augmentation_has_no_flips_and_small_rotations():
    aug = T.digits_augmentation(seed=0)
    assert not any(isinstance(t, (T.RandomHorizontalFlip, T.RandomVerticalFlip)) for t in aug.transforms)
    affine = aug.transforms[0]
    assert affine.degrees == (-10.0, 10.0)
    assert "flip" in T.digits_augmentation.__doc__.lower()
    from cnnkit.data import Digits

    x, _ = Digits()[0]
    out = aug(x)
    assert out.shape == (1, 8, 8) and out.dtype == np.float32
    with pytest.raises(ValueError, match="change a digit"):
        T.digits_augmentation(degrees=90)


def test_cifar_augmentation():
    aug = T.cifar_augmentation(seed=0)
    kinds = [type(t) for t in aug.transforms]
    assert kinds == [T.RandomCrop, T.RandomHorizontalFlip]
    assert aug.transforms[0].padding == (4, 4, 4, 4)
    img = image(h=32, w=32)
    assert aug(img).shape == (3, 32, 32)
    a, b = T.cifar_augmentation(seed=3), T.cifar_augmentation(seed=3)
    np.testing.assert_array_equal(a(img), b(img))
    norm = T.cifar_augmentation(mean=T.CIFAR10_MEAN, std=T.CIFAR10_STD)
    assert isinstance(norm.transforms[-1], T.Normalize)
