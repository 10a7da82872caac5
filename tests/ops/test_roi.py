"""RoI pooling, RoI align and spatial pyramid pooling: compiled kernels against the plain loops written from
torchvision's definitions, hand-worked cases, float64 gradient checks."""

import numpy as np
import pytest

import cnnkit as ck
import cnnkit.nn as nn
from cnnkit.errors import InputError
from cnnkit.kernels import roi as kroi
from cnnkit.ops import roi_align, roi_pool


def random_rois(k, n, h, w, rng, scale=1.0):
    """Regions in image coordinates, some partly or wholly outside the (h, w) feature map / scale."""
    xy = rng.uniform(-3, np.array([w, h]) / scale, (k, 2))
    wh = rng.uniform(0, np.array([w, h]) / scale * 0.8, (k, 2))
    return np.concatenate([rng.integers(0, n, (k, 1)), xy, xy + wh], axis=1)


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sampling_ratio", [-1, 2, 1])
@pytest.mark.parametrize("scale,out", [(1.0, (2, 3)), (0.5, (7, 7))])
def test_roi_align_kernel_equals_reference(aligned, sampling_ratio, scale, out):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 9, 11))
    rois = random_rois(6, 2, 9, 11, rng, scale)
    rois[0, 1:] = [2.0, 3.0, 2.0, 3.0]  # an empty box
    rois[1, 1:] = [-30.0, -30.0, -20.0, -25.0]  # wholly outside
    got = kroi.roi_align_forward(x, rois, out, scale, sampling_ratio, aligned)
    ref = kroi.roi_align_reference(x, rois, out, scale, sampling_ratio, aligned)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(got.shape)
    np.testing.assert_allclose(kroi.roi_align_backward(g, rois, x.shape, scale, sampling_ratio, aligned),
                               kroi.roi_align_backward_reference(g, rois, x.shape, scale, sampling_ratio, aligned),
                               rtol=1e-12, atol=1e-12)
    got32 = kroi.roi_align_forward(x.astype(np.float32), rois, out, scale, sampling_ratio, aligned)
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, ref, rtol=1e-5, atol=1e-5)


def test_roi_align_hand_worked_on_a_ramp():
    # x[h, w] = w: bilinear sampling of a linear ramp is exact, so a bin is the mean of its samples' x positions
    x = np.tile(np.arange(6.0), (6, 1))[None, None]
    box = np.array([[0, 0.0, 0.0, 4.0, 4.0]])
    # aligned=False: bins of width 2, samples at x = 0.5, 1.5 | 2.5, 3.5 (grid 2 either way)
    for ratio in (-1, 2):
        np.testing.assert_allclose(roi_align(x, box, 2, sampling_ratio=ratio)[0, 0], [[1.0, 3.0], [1.0, 3.0]])
    # aligned=True: the box shifts by half a pixel, samples at x = 0, 1 | 2, 3
    np.testing.assert_allclose(roi_align(x, box, 2, aligned=True)[0, 0], [[0.5, 2.5], [0.5, 2.5]])
    # sampling_ratio=1: one sample at each bin's centre
    np.testing.assert_allclose(roi_align(x, box, 2, sampling_ratio=1)[0, 0], [[1.0, 3.0], [1.0, 3.0]])
    # a box past the right edge reads the border column (x clamped to W - 1 = 5), beyond W + 1 nothing
    far = np.array([[0, 5.0, 0.0, 7.0, 2.0]])
    np.testing.assert_allclose(roi_align(x, far, 1, sampling_ratio=2)[0, 0], [[(5.0 + 5.0 + 0.0 + 0.0) / 4]])
    # aligned=False floors a tiny box at 1x1; aligned=True keeps it empty (grid 0 -> output 0)
    tiny = np.array([[0, 2.0, 2.0, 2.0, 2.0]])
    np.testing.assert_allclose(roi_align(x, tiny, 1)[0, 0], [[2.5]])
    np.testing.assert_allclose(roi_align(x, tiny, 1, aligned=True)[0, 0], [[0.0]])


@pytest.mark.parametrize("scale,out", [(1.0, (2, 2)), (0.5, (3, 2)), (0.25, (7, 7))])
def test_roi_pool_kernel_equals_reference(scale, out):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 8, 10)).astype(np.float32)
    rois = random_rois(7, 2, 8, 10, rng, scale)
    rois[0, 1:] = [2.5 / scale, 1.5 / scale, 2.5 / scale, 1.5 / scale]  # halves round away from zero
    got, arg = kroi.roi_pool_forward(x, rois, out, scale)
    ref, ref_arg = kroi.roi_pool_reference(x, rois, out, scale)
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(arg, ref_arg)
    g = rng.standard_normal(got.shape).astype(np.float32)
    np.testing.assert_allclose(kroi.roi_pool_backward(g, rois, arg, x.shape),
                               kroi.roi_pool_backward_reference(g, rois, arg, x.shape), rtol=1e-6)


def test_roi_pool_hand_worked():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(roi_pool(x, np.array([[0, 0.0, 0.0, 3.0, 3.0]]), 2)[0, 0], [[5, 7], [13, 15]])
    # partly outside: rows/columns -2..1, bins [-2, 0) (clipped empty -> 0) and [0, 2)
    np.testing.assert_array_equal(roi_pool(x, np.array([[0, -2.0, -2.0, 1.0, 1.0]]), 2)[0, 0], [[0, 0], [0, 5]])
    # 0.5 rounds to 1 (half away from zero, as C's round), so the window starts at column 1
    np.testing.assert_array_equal(roi_pool(x, np.array([[0, 0.5, 0.0, 1.4, 0.0]]), 1)[0, 0], [[1]])
    # all windows -inf: nothing beats -FLT_MAX (torchvision's start), no argmax, no gradient
    neg = ck.tensor(np.full((1, 1, 2, 2), -np.inf), requires_grad=True)
    y = roi_pool(neg, np.array([[0, 0.0, 0.0, 1.0, 1.0]]), 1)
    assert y.item() == np.float64(-3.4028234663852886e38)
    y.backward(np.ones((1, 1, 1, 1)))
    assert not neg.grad.data.any()


def test_list_boxes_equal_k5_boxes_and_empty_lists():
    rng = np.random.default_rng(2)
    x = ck.tensor(rng.standard_normal((3, 2, 8, 8)))
    per_image = [np.array([[0.0, 0.0, 4.0, 5.0], [1.0, 2.0, 7.0, 7.0]]), np.zeros((0, 4)), np.array([[2, 2, 6, 6.0]])]
    k5 = np.array([[0, 0.0, 0.0, 4.0, 5.0], [0, 1.0, 2.0, 7.0, 7.0], [2, 2, 2, 6, 6.0]])
    for fn in (roi_pool, roi_align):
        np.testing.assert_array_equal(fn(x, per_image, 3).data, fn(x, k5, 3).data)
        np.testing.assert_array_equal(fn(x, ck.tensor(k5), 3).data, fn(x, k5, 3).data)
        empty = fn(x, [np.zeros((0, 4))] * 3, (2, 3))
        assert empty.shape == (0, 2, 2, 3)
        xg = ck.tensor(x.data, requires_grad=True)
        fn(xg, np.zeros((0, 5)), 2).sum().backward()
        assert xg.grad.shape == x.shape and not xg.grad.data.any()


def test_gradchecks():
    rng = np.random.default_rng(3)
    x = ck.tensor(rng.standard_normal((2, 2, 6, 7)), requires_grad=True)
    rois = np.array([[0, 0.3, 0.7, 4.2, 5.1], [1, -1.5, 2.0, 3.0, 8.0], [1, 1.0, 1.0, 6.5, 3.5]])
    for aligned in (False, True):
        for ratio in (-1, 2):
            assert ck.gradcheck(lambda t, a=aligned, r=ratio: roi_align(t, rois, (2, 3), 0.9, r, a), (x,))
    assert ck.gradcheck(lambda t: roi_pool(t, rois, (2, 2), 0.9), (x,))
    spp = nn.SpatialPyramidPool2d((3, 2, 1), mode="max")
    assert ck.gradcheck(spp, (x,))
    assert ck.gradcheck(nn.SpatialPyramidPool2d((4, 1), mode="avg"), (x,))


def test_roi_errors():
    x = np.zeros((2, 1, 4, 4))
    with pytest.raises(InputError, match=r"roi_align: batch index 2 of box 0 is not an image of the batch"):
        roi_align(x, np.array([[2, 0, 0, 1, 1.0]]), 2)
    with pytest.raises(InputError, match=r"roi_pool: boxes must be a \(K, 5\) array"):
        roi_pool(x, np.zeros((1, 4)), 2)
    with pytest.raises(InputError, match="one \\(L, 4\\) entry per image, got 1 entries for a batch of 2"):
        roi_pool(x, [np.zeros((1, 4))], 2)
    with pytest.raises(InputError, match="roi_align: boxes must be finite"):
        roi_align(x, np.array([[0, np.nan, 0, 1, 1.0]]), 2)
    with pytest.raises(InputError, match="output_size must be positive"):
        roi_align(x, np.zeros((0, 5)), 0)


def test_modules():
    x = ck.randn(1, 4, 16, 16)
    rois = np.array([[0, 0.0, 0.0, 31.0, 31.0]])
    assert nn.RoIPool(7, 0.5)(x, rois).shape == (1, 4, 7, 7)
    assert nn.RoIAlign((7, 5), 0.5, 2, aligned=True)(x, rois).shape == (1, 4, 7, 5)
    assert "sampling_ratio=2" in repr(nn.RoIAlign(7, 0.5, 2))


@pytest.mark.parametrize("size", [(4, 4), (13, 9), (32, 17)])
def test_spp_fixed_length_for_any_size(size):
    spp = nn.SpatialPyramidPool2d()
    x = ck.randn(2, 3, *size)
    y = spp(x)
    assert y.shape == (2, spp.output_features(3)) == (2, 3 * 21)
    # level 1 is the global maximum, the last C entries
    np.testing.assert_allclose(y.data[:, -3:], x.data.max(axis=(2, 3)))
    levels = [ck.functional.adaptive_max_pool2d(x, n).data.reshape(2, -1) for n in (4, 2, 1)]
    np.testing.assert_array_equal(y.data, np.concatenate(levels, axis=1))


def test_spp_errors():
    with pytest.raises(InputError, match="smaller than the largest pyramid level 4"):
        nn.SpatialPyramidPool2d()(ck.randn(1, 1, 3, 8))
    with pytest.raises(InputError, match="mode must be 'max' or 'avg'"):
        nn.SpatialPyramidPool2d(mode="sum")
    with pytest.raises(InputError, match="levels must be a non-empty sequence"):
        nn.SpatialPyramidPool2d(levels=())
