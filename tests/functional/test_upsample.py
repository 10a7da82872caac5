"""interpolate (nearest, nearest-exact, bilinear, area): parity with PyTorch, kernels vs loop references,
gradchecks and errors."""

import numpy as np
import pytest

import cnnkit as ck
import cnnkit.functional as F
from cnnkit.kernels import upsample as U
from tests.oracle import assert_close, compare_with_torch, gradcheck, rand, requires_torch, torch

if torch is not None:
    import torch.nn.functional as TF

DTYPES = [np.float32, np.float64]

RESIZES = [
    dict(size=(6, 10)), dict(size=(2, 3)), dict(size=(7, 4)), dict(size=(1, 1)), dict(size=8), dict(size=(3, 5)),
    dict(scale_factor=2), dict(scale_factor=3), dict(scale_factor=0.5), dict(scale_factor=(2.5, 0.75)),
    dict(scale_factor=1.7), dict(scale_factor=1.7, recompute_scale_factor=True), dict(scale_factor=(1 / 3, 2.1)),
    dict(scale_factor=1.2), dict(scale_factor=2.1),  # sizes equal to / twice the input: PyTorch's special cases
]
MODES = [("nearest", None), ("nearest-exact", None), ("bilinear", False), ("bilinear", True), ("bilinear", None),
         ("area", None)]


def _kwargs(resize, mode, align):
    kw = dict(resize, mode=mode)
    if align is not None:
        kw["align_corners"] = align
    return kw


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode,align", MODES)
@pytest.mark.parametrize("resize", RESIZES, ids=lambda r: ",".join(f"{k}={v}" for k, v in r.items()))
def test_interpolate_matches_torch(resize, mode, align, dtype):
    x = rand(2, 3, 3, 5, dtype=dtype, seed=1)
    kw = _kwargs(resize, mode, align)
    out, _ = compare_with_torch(lambda t: F.interpolate(t, **kw), lambda t: TF.interpolate(t, **kw), [x],
                                what=f"interpolate {kw}")
    assert out.dtype == dtype


@requires_torch
@pytest.mark.parametrize("mode,align", [("nearest", None), ("bilinear", False), ("bilinear", True)])
@pytest.mark.parametrize("shape,size", [((1, 2, 7, 4), (16, 9)), ((2, 1, 13, 10), (5, 6)), ((1, 1, 9, 9), (4, 19))])
def test_interpolate_odd_sizes_match_torch(shape, size, mode, align):
    x = rand(*shape, dtype=np.float32, seed=2)
    kw = _kwargs(dict(size=size), mode, align)
    compare_with_torch(lambda t: F.interpolate(t, **kw), lambda t: TF.interpolate(t, **kw), [x],
                       what=f"interpolate {shape} {kw}")


@requires_torch
def test_scale_factor_is_used_unless_recomputed():
    # 5 -> 8 by scale 1.7: stepping by 1/1.7 and by 5/8 read different pixels
    x = np.arange(5, dtype=np.float32).reshape(1, 1, 1, 5)
    a = F.interpolate(ck.tensor(x), scale_factor=(1, 1.7))
    b = F.interpolate(ck.tensor(x), scale_factor=(1, 1.7), recompute_scale_factor=True)
    c = F.interpolate(ck.tensor(x), size=(1, 8))
    assert not np.array_equal(a.data, b.data)
    np.testing.assert_array_equal(b.data, c.data)
    np.testing.assert_array_equal(a.data, TF.interpolate(torch.tensor(x), scale_factor=(1, 1.7)).numpy())
    np.testing.assert_array_equal(b.data, TF.interpolate(torch.tensor(x), scale_factor=(1, 1.7),
                                                         recompute_scale_factor=True).numpy())


@requires_torch
def test_nearest_integer_upsampling_repeats_pixels():
    x = rand(2, 3, 4, 5, dtype=np.float32, seed=3)
    out = F.interpolate(ck.tensor(x), scale_factor=2)
    np.testing.assert_array_equal(out.data, x.repeat(2, axis=2).repeat(2, axis=3))
    out = F.interpolate(ck.tensor(x), scale_factor=(3, 1), mode="nearest")
    np.testing.assert_array_equal(out.data, x.repeat(3, axis=2))


def test_area_mode_is_adaptive_average_pooling():
    x = ck.tensor(rand(2, 2, 7, 9, dtype=np.float32, seed=4))
    assert_close(F.interpolate(x, size=(3, 4), mode="area"), F.adaptive_avg_pool2d(x, (3, 4)))


def test_bilinear_default_is_align_corners_false_and_attributes_recorded():
    x = ck.tensor(rand(1, 2, 3, 4, dtype=np.float32, seed=5), requires_grad=True)
    a = F.interpolate(x, size=(5, 7), mode="bilinear")
    b = F.interpolate(x, size=(5, 7), mode="bilinear", align_corners=False)
    np.testing.assert_array_equal(a.data, b.data)
    attrs = a.grad_fn.attrs
    assert attrs["mode"] == "bilinear" and attrs["size"] == (5, 7) and attrs["align_corners"] is False
    assert attrs["scale_factor"] is None
    a.sum().backward()
    assert x.grad.dtype == np.float32


@pytest.mark.parametrize("mode,align", [("nearest", None), ("nearest-exact", None), ("bilinear", False),
                                        ("bilinear", True)])
@pytest.mark.parametrize("resize", [dict(size=(5, 7)), dict(size=(2, 3)), dict(scale_factor=(1.5, 0.6))])
def test_interpolate_gradcheck(mode, align, resize):
    kw = _kwargs(resize, mode, align)
    assert gradcheck(lambda t: F.interpolate(t, **kw), [rand(1, 2, 3, 4, seed=6)])


# ------------------------------------------------------------------------------ kernels vs loop references


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("in_hw,out_hw,scales", [((3, 5), (7, 11), (None, None)), ((6, 9), (4, 3), (None, None)),
                                                 ((4, 4), (8, 8), (None, None)), ((5, 3), (8, 5), (1.7, 1.9)),
                                                 ((5, 5), (5, 10), (1.1, 2.1))])
def test_kernels_match_loop_references(in_hw, out_hw, scales, dtype):
    x = rand(2, 3, *in_hw, dtype=dtype, seed=7)
    g = rand(2, 3, *out_hw, dtype=dtype, seed=8)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for exact in (False, True):
        np.testing.assert_array_equal(U.upsample_nearest2d(x, out_hw, scales, exact),
                                      U.upsample_nearest2d_reference(x, out_hw, scales, exact))
        np.testing.assert_allclose(U.upsample_nearest2d_backward(g, x.shape, scales, exact),
                                   U.upsample_nearest2d_backward_reference(g, x.shape, scales, exact), rtol=tol,
                                   atol=tol)
    for align in (False, True):
        out = U.upsample_bilinear2d(x, out_hw, align, scales)
        assert out.dtype == dtype
        np.testing.assert_allclose(out, U.upsample_bilinear2d_reference(x, out_hw, align, scales), rtol=tol, atol=tol)
        grad = U.upsample_bilinear2d_backward(g, x.shape, align, scales)
        assert grad.dtype == dtype
        np.testing.assert_allclose(grad, U.upsample_bilinear2d_backward_reference(g, x.shape, align, scales),
                                   rtol=tol, atol=tol)


def test_source_indices():
    np.testing.assert_array_equal(U.nearest_source_index(3, 7), [0, 0, 0, 1, 1, 2, 2])
    np.testing.assert_array_equal(U.nearest_source_index(5, 10, 2.1), np.arange(10) // 2)  # twice the size: i // 2
    np.testing.assert_array_equal(U.nearest_source_index(5, 5, 1.1), np.arange(5))  # same size: a copy
    np.testing.assert_array_equal(U.nearest_source_index(4, 6, exact=True), [0, 1, 1, 2, 3, 3])
    i0, i1, l0, l1 = U.linear_source_index(3, 5, align_corners=True)
    np.testing.assert_array_equal(i0, [0, 0, 1, 1, 2])
    np.testing.assert_array_equal(i1, [1, 1, 2, 2, 2])
    np.testing.assert_allclose(l1, [0, 0.5, 0, 0.5, 0])
    i0, i1, l0, l1 = U.linear_source_index(2, 4, align_corners=False, dtype=np.float64)
    np.testing.assert_array_equal(i0, [0, 0, 0, 1])  # src = max((i + 0.5)/2 - 0.5, 0) = 0, 0.25, 0.75, 1.25
    np.testing.assert_allclose(l1, [0, 0.25, 0.75, 0.25])
    np.testing.assert_array_equal(i1, [1, 1, 1, 1])  # past the last pixel both taps read the edge pixel
    np.testing.assert_allclose(l0 + l1, 1)


def test_scatter_sum_handles_any_index_order():
    rng = np.random.default_rng(0)
    values = rng.standard_normal((2, 3, 6, 4))
    index = np.array([3, 0, 3, 1, 0, 3])
    expected = np.zeros((2, 3, 5, 4))
    np.add.at(np.moveaxis(expected, 2, 0), index, np.moveaxis(values, 2, 0))
    np.testing.assert_allclose(U._scatter_sum(values, index, 5, 2), expected)
    order = np.argsort(index, kind="stable")  # the same pairs, sorted: the segment-sum path
    np.testing.assert_allclose(U._scatter_sum(values[:, :, order], index[order], 5, 2), expected)


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize("kwargs,exc,message", [
    (dict(size=4, mode="bicubic"), ValueError, "interpolate: mode 'bicubic' is not supported"),
    (dict(size=4, mode="cubic"), ValueError, "interpolate: unknown mode 'cubic'; expected one of nearest"),
    (dict(), ValueError, "interpolate: exactly one of size and scale_factor must be given, got neither"),
    (dict(size=4, scale_factor=2), ValueError, "interpolate: exactly one of size and scale_factor must be given, "
                                              "got both"),
    (dict(size=4, align_corners=True), ValueError, "interpolate: align_corners can only be set with the "
                                                   "interpolating modes (bilinear)"),
    (dict(size=4, mode="bilinear", align_corners="yes"), TypeError, "interpolate: align_corners must be a bool"),
    (dict(size=(4, 4, 4)), ValueError, "interpolate: size must have one entry per spatial dimension"),
    (dict(size=(4, 2.5)), TypeError, "interpolate: size must hold ints"),
    (dict(size=(0, 3)), ValueError, "interpolate: the output size must be positive, got (0, 3)"),
    (dict(scale_factor=0.1), ValueError, "interpolate: the output size must be positive, got (0, 0)"),
    (dict(scale_factor=-2), ValueError, "interpolate: scale_factor must be positive and finite"),
    (dict(scale_factor="2"), TypeError, "interpolate: scale_factor must be a number or a pair"),
    (dict(size=4, recompute_scale_factor=True), ValueError, "interpolate: recompute_scale_factor is only"),
    (dict(size=4, mode="bilinear", antialias=True), ValueError, "interpolate: antialias=True is not supported"),
])
def test_errors(kwargs, exc, message):
    x = ck.tensor(rand(1, 2, 3, 5, dtype=np.float32))
    with pytest.raises(exc) as info:
        F.interpolate(x, **kwargs)
    assert str(info.value).startswith(message), str(info.value)


def test_input_errors():
    with pytest.raises(ValueError, match=r"^interpolate: expected a 4-D input \(N, C, H, W\), got shape \(2, 3, 5\)"):
        F.interpolate(ck.tensor(rand(2, 3, 5)), size=4)
    with pytest.raises(TypeError, match="^interpolate: expected a floating-point input, got dtype int64"):
        F.interpolate(ck.tensor(np.ones((1, 1, 2, 2), np.int64)), size=4)
    with pytest.raises(TypeError, match="^interpolate: expected a Tensor, got list"):
        F.interpolate([[[[1.0]]]], size=4)
