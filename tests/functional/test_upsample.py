"""interpolate (nearest, nearest-exact, bilinear, bicubic, antialiased bilinear/bicubic, area): parity with PyTorch,
kernels vs loop references, gradchecks, empty batches and errors."""

import itertools

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
    (dict(size=4, mode="trilinear"), ValueError, "interpolate: mode 'trilinear' is not supported"),
    (dict(size=4, mode="cubic"), ValueError, "interpolate: unknown mode 'cubic'; expected one of nearest"),
    (dict(), ValueError, "interpolate: exactly one of size and scale_factor must be given, got neither"),
    (dict(size=4, scale_factor=2), ValueError, "interpolate: exactly one of size and scale_factor must be given, "
                                              "got both"),
    (dict(size=4, align_corners=True), ValueError, "interpolate: align_corners can only be set with the "
                                                   "interpolating modes (bilinear, bicubic)"),
    (dict(size=4, mode="area", align_corners=False), ValueError, "interpolate: align_corners can only be set"),
    (dict(size=4, mode="bilinear", align_corners="yes"), TypeError, "interpolate: align_corners must be a bool"),
    (dict(size=(4, 4, 4)), ValueError, "interpolate: size must have one entry per spatial dimension"),
    (dict(size=(4, 2.5)), TypeError, "interpolate: size must hold ints"),
    (dict(size=(0, 3)), ValueError, "interpolate: the output size must be positive, got (0, 3)"),
    (dict(scale_factor=0.1), ValueError, "interpolate: the output size must be positive, got (0, 0)"),
    (dict(scale_factor=-2), ValueError, "interpolate: scale_factor must be positive and finite"),
    (dict(scale_factor="2"), TypeError, "interpolate: scale_factor must be a number or a pair"),
    (dict(size=4, recompute_scale_factor=True), ValueError, "interpolate: recompute_scale_factor is only"),
    (dict(size=4, mode="nearest", antialias=True), ValueError,
     "interpolate: antialias=True is only supported with mode 'bilinear' or 'bicubic', got mode='nearest'"),
    (dict(size=4, mode="area", antialias=True), ValueError, "interpolate: antialias=True is only supported"),
    (dict(size=4, mode="bicubic", antialias="yes"), TypeError, "interpolate: antialias must be a bool"),
    (dict(size=4, mode="bicubic", align_corners=1), TypeError, "interpolate: align_corners must be a bool"),
])
def test_errors(kwargs, exc, message):
    x = ck.tensor(rand(1, 2, 3, 5, dtype=np.float32))
    with pytest.raises(exc) as info:
        F.interpolate(x, **kwargs)
    assert str(info.value).startswith(message), str(info.value)


def test_input_errors():
    with pytest.raises(ValueError, match=r"^interpolate: expected a 4-D input \(N, C, H, W\), got shape \(2, 3, 5\)"):
        F.interpolate(ck.tensor(rand(2, 3, 5)), size=4)
    with pytest.raises(ValueError, match=r"^interpolate: input must have non-empty channel and spatial dimensions "
                                         r"\(only the batch may be empty\), got shape \(1, 0, 3, 3\)"):
        F.interpolate(ck.tensor(rand(1, 0, 3, 3)), size=4)
    with pytest.raises(ValueError, match=r"^interpolate: input must have non-empty"):
        F.interpolate(ck.tensor(rand(1, 2, 0, 3)), size=4, mode="bicubic")
    with pytest.raises(TypeError, match="^interpolate: expected a floating-point input, got dtype int64"):
        F.interpolate(ck.tensor(np.ones((1, 1, 2, 2), np.int64)), size=4)
    with pytest.raises(TypeError, match="^interpolate: expected a Tensor, got list"):
        F.interpolate([[[[1.0]]]], size=4)


# ------------------------------------------------------------------------------ bicubic and antialiased


def _same_size_with_factor(shape, resize, align):
    """An axis whose size does not change although a scale factor (!= 1, not recomputed) steps the source
    positions. There PyTorch 2.13's backward is not the adjoint of its forward (bicubic: the backward copies while
    the forward interpolates; antialiased: the forward copies while the backward interpolates): the forward is
    compared with PyTorch and the backward with finite differences (test_same_size_with_a_scale_factor)."""
    factor = resize.get("scale_factor")
    if factor is None or resize.get("recompute_scale_factor") or align:
        return False
    factors = factor if isinstance(factor, tuple) else (factor, factor)
    return any(int(np.floor(n * f)) == n and f != 1 for n, f in zip(shape[2:], factors, strict=True))


def _width_one_after_height_change(shape, out_hw):
    """PyTorch 2.13's antialiased forward repeats its first output row whenever the output is one pixel wide and
    the height changes (its backward is right): test_antialias_one_pixel_wide_output checks those against PyTorch
    run on the transposed image."""
    return out_hw[1] == 1 and out_hw[0] != shape[2]


def _out_hw(shape, resize):
    if "size" in resize:
        size = resize["size"]
        return size if isinstance(size, tuple) else (size, size)
    factor = resize["scale_factor"]
    factors = factor if isinstance(factor, tuple) else (factor, factor)
    return tuple(int(np.floor(n * f)) for n, f in zip(shape[2:], factors, strict=True))


CUBIC_SHAPE = (2, 3, 5, 7)
CUBIC_RESIZES = RESIZES + [dict(size=(9, 4)), dict(size=(1, 6)), dict(scale_factor=(0.6, 1.3)),
                           dict(scale_factor=0.7, recompute_scale_factor=True),
                           dict(scale_factor=(1.5, 2), recompute_scale_factor=False)]
CUBIC_CASES = [(r, align) for r in CUBIC_RESIZES for align in (False, True)
               if not _same_size_with_factor(CUBIC_SHAPE, r, align)]


def _resize_id(case):
    resize, flag = case
    return ",".join(f"{k}={v}" for k, v in resize.items()) + f"-{flag}"


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CUBIC_CASES, ids=_resize_id)
def test_bicubic_matches_torch(case, dtype):
    resize, align = case
    kw = dict(resize, mode="bicubic", align_corners=align)
    out, _ = compare_with_torch(lambda t: F.interpolate(t, **kw), lambda t: TF.interpolate(t, **kw),
                                [rand(*CUBIC_SHAPE, dtype=dtype, seed=11)], what=f"interpolate {kw}")
    assert out.dtype == dtype


AA_SHAPES = [(2, 3, 13, 17), (1, 2, 8, 5)]
AA_RESIZES = [dict(size=(4, 6)), dict(size=(3, 3)), dict(size=(6, 2)), dict(size=(2, 9)), dict(size=(1, 1)),
              dict(size=(13, 5)), dict(size=(20, 31)), dict(scale_factor=0.3), dict(scale_factor=(0.5, 0.25)),
              dict(scale_factor=0.45, recompute_scale_factor=True), dict(scale_factor=(0.77, 1.6)),
              dict(scale_factor=1.1)]
AA_CASES = [(shape, r, mode, align) for shape in AA_SHAPES for r in AA_RESIZES for mode in ("bilinear", "bicubic")
            for align in (False, True)
            if not _same_size_with_factor(shape, r, align) and not _width_one_after_height_change(shape, _out_hw(shape, r))]


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,resize,mode,align", AA_CASES,
                         ids=[f"{s[2]}x{s[3]}-{_resize_id((r, m))}-align{a}" for s, r, m, a in AA_CASES])
def test_antialias_matches_torch(shape, resize, mode, align, dtype):
    kw = dict(resize, mode=mode, align_corners=align, antialias=True)
    out, _ = compare_with_torch(lambda t: F.interpolate(t, **kw), lambda t: TF.interpolate(t, **kw),
                                [rand(*shape, dtype=dtype, seed=12)], what=f"interpolate {kw}")
    assert out.dtype == dtype


def test_new_grids_cover_the_spec():
    assert {a for _, a in CUBIC_CASES} == {False, True}
    assert any("scale_factor" in r and r.get("recompute_scale_factor") for r, _ in CUBIC_CASES)
    assert any("scale_factor" in r and r.get("recompute_scale_factor") is False for r, _ in CUBIC_CASES)
    downs = [(s, r) for s, r, _, _ in AA_CASES if min(np.subtract(s[2:], _out_hw(s, r))) > 0]
    assert len(downs) >= 10  # antialiasing matters when downsampling
    assert {(m, a) for _, _, m, a in AA_CASES} == {("bilinear", False), ("bilinear", True), ("bicubic", False),
                                                   ("bicubic", True)}
    assert {s[0] for s, _, _, _ in AA_CASES} == {1, 2}


@requires_torch
@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_antialias_one_pixel_wide_output(mode):
    """PyTorch's own forward is wrong here (every output row equals the first); the same resize of the transposed
    image (one pixel high) is right in PyTorch and is the reference. The backward is compared directly."""
    x = rand(2, 3, 9, 4, seed=13)
    kw = dict(mode=mode, antialias=True)
    for out_h in (2, 3, 5):
        ours = F.interpolate(ck.tensor(x), size=(out_h, 1), **kw)
        ref = TF.interpolate(torch.tensor(x).transpose(2, 3), size=(1, out_h), **kw).transpose(2, 3)
        assert_close(ours, ref, f"{mode} ({out_h}, 1)")
        assert not np.allclose(ours.data[:, :, 0], ours.data[:, :, 1])
        xo, xt = ck.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        g = rand(2, 3, out_h, 1, seed=14)
        F.interpolate(xo, size=(out_h, 1), **kw).backward(g)
        TF.interpolate(xt, size=(out_h, 1), **kw).backward(torch.tensor(g))
        assert_close(xo.grad, xt.grad, f"{mode} ({out_h}, 1) gradient")


@requires_torch
@pytest.mark.parametrize("mode,antialias", [("bicubic", False), ("bilinear", True), ("bicubic", True)])
def test_same_size_with_a_scale_factor(mode, antialias):
    """Height 5 times 1.1 is 5 again: the forward matches PyTorch's and the backward is its adjoint."""
    x = rand(1, 2, 5, 7, seed=15)
    kw = dict(scale_factor=(1.1, 0.6), mode=mode, antialias=antialias)
    assert_close(F.interpolate(ck.tensor(x), **kw), TF.interpolate(torch.tensor(x), **kw), f"{kw}")
    assert gradcheck(lambda t: F.interpolate(t, **kw), [x])


@pytest.mark.parametrize("mode,antialias,align", [("bicubic", False, False), ("bicubic", False, True),
                                                  ("bilinear", True, False), ("bicubic", True, False),
                                                  ("bilinear", True, True)])
@pytest.mark.parametrize("resize", [dict(size=(7, 9)), dict(size=(2, 3)), dict(scale_factor=(1.5, 0.4)),
                                    dict(size=(3, 1))])
def test_bicubic_and_antialias_gradcheck(mode, antialias, align, resize):
    kw = dict(resize, mode=mode, antialias=antialias, align_corners=align)
    assert gradcheck(lambda t: F.interpolate(t, **kw), [rand(1, 2, 5, 6, seed=16)])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode,antialias", [("bicubic", False), ("bilinear", True), ("bicubic", True)])
@pytest.mark.parametrize("in_hw,out_hw,scales", [((3, 5), (7, 11), (None, None)), ((9, 8), (4, 3), (None, None)),
                                                 ((6, 6), (6, 2), (None, None)), ((5, 3), (8, 5), (1.7, 1.9)),
                                                 ((7, 9), (2, 1), (0.3, 0.15))])
def test_separable_kernels_match_loop_references(in_hw, out_hw, scales, mode, antialias, dtype):
    x = rand(2, 3, *in_hw, dtype=dtype, seed=17)
    g = rand(2, 3, *out_hw, dtype=dtype, seed=18)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for align in (False, True):
        out = U.upsample_separable2d(x, out_hw, mode, align, scales, antialias)
        assert out.dtype == dtype
        np.testing.assert_allclose(out, U.upsample_separable2d_reference(x, out_hw, mode, align, scales, antialias),
                                   rtol=tol, atol=tol)
        grad = U.upsample_separable2d_backward(g, x.shape, mode, align, scales, antialias)
        assert grad.dtype == dtype
        np.testing.assert_allclose(
            grad, U.upsample_separable2d_backward_reference(g, x.shape, mode, align, scales, antialias), rtol=tol,
            atol=tol)


def test_cubic_and_antialias_taps():
    index, weights = U.cubic_taps(4, 8, align_corners=False, dtype=np.float64)
    np.testing.assert_allclose(weights.sum(axis=1), 1)  # the cubic convolution weights sum to one
    np.testing.assert_array_equal(index[0], [0, 0, 0, 1])  # src = -0.25: taps -2..1 clamped to the border
    t = 0.75  # src(0) = 0.5 * 0.5 - 0.5 = -0.25 -> i0 = -1, t = 0.75
    a = U.CUBIC_A
    np.testing.assert_allclose(weights[0, 1], ((a + 2) * t - (a + 3)) * t * t + 1)
    index, weights = U.antialias_taps(8, 2, align_corners=False, kind="bilinear", dtype=np.float64)
    np.testing.assert_allclose(weights.sum(axis=1), 1)
    # centre 2, support 4: pixels 0..5 (centres j + 0.5), triangle 1 - |j + 0.5 - 2| / 4, normalised
    np.testing.assert_array_equal(index[0][index[0] >= 0], [0, 1, 2, 3, 4, 5])
    np.testing.assert_allclose(weights[0][:6], np.array([5, 7, 7, 5, 3, 1]) / 28)
    np.testing.assert_allclose(weights[1][index[1] >= 0], weights[0][:6][::-1])  # the mirror image at the end


@requires_torch
@pytest.mark.parametrize("mode,antialias,align", [("nearest", False, None), ("nearest-exact", False, None),
                                                  ("bilinear", False, False), ("bilinear", True, True),
                                                  ("bicubic", False, True), ("bicubic", True, False),
                                                  ("area", False, None)])
@pytest.mark.parametrize("resize", [dict(size=(6, 2)), dict(scale_factor=2)])
def test_empty_batch_like_torch(mode, antialias, align, resize):
    kw = dict(resize, mode=mode, antialias=antialias, align_corners=align)
    out, ref = compare_with_torch(lambda t: F.interpolate(t, **kw), lambda t: TF.interpolate(t, **kw),
                                  [np.zeros((0, 2, 3, 4))], what=f"interpolate {kw} of an empty batch")
    assert out.shape == tuple(ref.shape) and out.shape[0] == 0


SCALE_MODES = [("nearest", None, False), ("nearest-exact", None, False), ("bilinear", False, False),
               ("bilinear", True, False), ("bicubic", False, False), ("bicubic", True, False), ("area", None, False),
               ("bilinear", False, True), ("bicubic", False, True)]
SCALE_CASES = [(mode, align, aa, factor, recompute)
               for (mode, align, aa), factor, recompute in itertools.product(
                   SCALE_MODES, [0.6, 1.7, (2.5, 0.75), (1 / 3, 2.1)], [None, False, True])
               if not ((mode == "bicubic" or aa) and _same_size_with_factor(
                   (2, 3, 6, 7), dict(scale_factor=factor, recompute_scale_factor=recompute), align))]


@requires_torch
@pytest.mark.parametrize("mode,align,antialias,factor,recompute", SCALE_CASES)
def test_scale_factor_and_recompute_combinations(mode, align, antialias, factor, recompute):
    kw = dict(scale_factor=factor, mode=mode, recompute_scale_factor=recompute)
    if align is not None:
        kw["align_corners"] = align
    if antialias:
        kw["antialias"] = True
    out, ref = compare_with_torch(lambda t: F.interpolate(t, **kw), lambda t: TF.interpolate(t, **kw),
                                  [rand(2, 3, 6, 7, seed=19)], what=f"interpolate {kw}")
    assert out.shape == tuple(ref.shape)
