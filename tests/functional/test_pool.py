"""Max, average and adaptive pooling: parity with PyTorch (forward, backward, indices), gradchecks, errors."""

import numpy as np
import pytest

import cnnkit as ck
import cnnkit.functional as F
from tests.oracle import assert_close, compare_with_torch, gradcheck, per_backend, rand, requires_torch, torch

if torch is not None:
    import torch.nn.functional as TF

DTYPES = [np.float32, np.float64]

# shape, kernel_size, stride, padding, dilation, ceil_mode
MAX_CONFIGS = [
    ((2, 3, 8, 8), 2, None, 0, 1, False),
    ((2, 3, 7, 9), 3, 2, 1, 1, False),  # odd sizes, ResNet stem style
    ((2, 3, 7, 9), 3, 2, 1, 1, True),
    ((1, 2, 6, 5), 3, 1, 1, 1, False),  # overlapping windows, batch 1
    ((2, 2, 9, 8), 2, 3, 0, 1, False),  # stride > kernel
    ((2, 2, 9, 8), 2, 3, 1, 1, True),
    ((2, 2, 10, 11), (3, 2), (2, 1), (1, 0), 1, True),  # non-square kernel/stride/padding
    ((2, 2, 10, 11), (2, 3), (1, 2), (0, 1), (2, 1), False),  # dilation
    ((1, 3, 11, 11), 3, 2, 1, 2, True),
    ((2, 2, 5, 5), 5, 1, 2, 1, False),  # padding == kernel // 2
    ((2, 2, 5, 7), (5, 7), None, 0, 1, False),  # one window over the whole plane
    ((2, 2, 5, 6), 4, 3, 0, 1, True),  # ceil mode adds a partial last window
]

AVG_CONFIGS = [
    ((2, 3, 8, 8), 2, None, 0, False),
    ((2, 3, 7, 9), 3, 2, 1, False),
    ((2, 3, 7, 9), 3, 2, 1, True),
    ((1, 2, 6, 5), 3, 1, 1, False),
    ((2, 2, 9, 8), 2, 3, 1, True),  # the last window runs past the padded input
    ((2, 2, 10, 11), (3, 2), (2, 1), (1, 0), True),
    ((2, 2, 5, 6), 4, 3, 2, True),
    ((2, 2, 5, 7), (5, 7), None, 0, False),
]


# ------------------------------------------------------------------------------ max_pool2d


@per_backend
@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", MAX_CONFIGS)
def test_max_pool2d_matches_torch(cfg, dtype, backend):
    shape, k, s, p, d, cm = cfg
    x = rand(*shape, dtype=dtype, seed=3)
    compare_with_torch(lambda t: F.max_pool2d(t, k, s, p, d, cm),
                       lambda t: TF.max_pool2d(t, k, s, p, d, cm), [x], what=f"max_pool2d{cfg[1:]}")
    out, idx = F.max_pool2d(ck.tensor(x), k, s, p, d, cm, return_indices=True)
    ref, ref_idx = TF.max_pool2d(torch.tensor(x), k, s, p, d, cm, return_indices=True)
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(idx.data, ref_idx.numpy())
    assert_close(out, ref)


@per_backend
@requires_torch
@pytest.mark.parametrize("cfg", MAX_CONFIGS)
@pytest.mark.parametrize("kind", ["constant", "integers", "negative"])
def test_max_pool2d_ties_route_gradient_like_torch(cfg, kind, backend):
    shape, k, s, p, d, cm = cfg
    rng = np.random.default_rng(7)
    if kind == "constant":
        x = np.full(shape, 1.5)
    elif kind == "integers":
        x = rng.integers(0, 3, shape).astype(np.float64)
    else:  # all negative: the -inf padding must never win
        x = -rng.integers(1, 3, shape).astype(np.float64)
    compare_with_torch(lambda t: F.max_pool2d(t, k, s, p, d, cm),
                       lambda t: TF.max_pool2d(t, k, s, p, d, cm), [x], what=f"tied max_pool2d{cfg[1:]}")
    _, idx = F.max_pool2d(ck.tensor(x), k, s, p, d, cm, return_indices=True)
    np.testing.assert_array_equal(idx.data, TF.max_pool2d(torch.tensor(x), k, s, p, d, cm, return_indices=True)[1])


@per_backend
@requires_torch
def test_max_pool2d_nan_and_inf_like_torch(backend):
    x = np.array([[[[np.nan, 1, np.nan, 0, -np.inf],
                    [2, np.nan, 5, -np.inf, -np.inf],
                    [-np.inf, 2, 3, 4, -np.inf]]]], dtype=np.float32)
    for args in [(2, 1, 0), (3, (1, 2), 1), ((2, 3), (2, 1), (1, 0)), (2, 2, 1)]:
        out, idx = F.max_pool2d(ck.tensor(x), *args, return_indices=True)
        ref, ref_idx = TF.max_pool2d(torch.tensor(x), *args, return_indices=True)
        np.testing.assert_array_equal(idx.data, ref_idx.numpy())
        np.testing.assert_array_equal(out.data, ref.numpy())


@pytest.mark.parametrize("cfg", [((1, 2, 5, 6), 3, 2, 1, 1, True), ((2, 1, 6, 5), 2, 1, 0, 1, False),
                                 ((1, 2, 7, 7), (3, 2), 1, (1, 1), (2, 1), False)])
def test_max_pool2d_gradcheck(cfg):
    shape, k, s, p, d, cm = cfg
    x = rand(*shape, seed=11)  # continuous values: no ties, so the arg-max is stable under the perturbation
    assert gradcheck(lambda t: F.max_pool2d(t, k, s, p, d, cm), [x])


@per_backend
@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool2d_unbatched_input(dtype, backend):
    x = rand(3, 7, 6, dtype=dtype, seed=2)
    out, _ = compare_with_torch(lambda t: F.max_pool2d(t, 3, 2, 1, ceil_mode=True),
                                lambda t: TF.max_pool2d(t, 3, 2, 1, ceil_mode=True), [x], what="max_pool2d (C,H,W)")
    assert out.shape == (3, 4, 4)
    _, idx = F.max_pool2d(ck.tensor(x), 3, 2, 1, ceil_mode=True, return_indices=True)
    np.testing.assert_array_equal(idx.data, TF.max_pool2d(torch.tensor(x), 3, 2, 1, ceil_mode=True,
                                                          return_indices=True)[1].numpy())


def test_max_pool2d_return_indices_without_grad_and_records_attributes():
    x = ck.tensor(rand(2, 3, 6, 6, dtype=np.float32), requires_grad=True)
    with ck.no_grad():
        out, idx = F.max_pool2d(x, 2, return_indices=True)
    assert out.grad_fn is None and not out.requires_grad and idx.shape == (2, 3, 3, 3)
    y, idx2 = F.max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(idx.data, idx2.data)
    np.testing.assert_array_equal(out.data, F.max_pool2d(x, 2).data)
    assert not idx2.requires_grad and idx2.dtype == np.int64
    assert y.dtype == np.float32
    attrs = y.grad_fn.attrs
    assert attrs["kernel_size"] == (2, 2) and attrs["stride"] == (2, 2) and attrs["padding"] == (0, 0)
    assert attrs["dilation"] == (1, 1) and attrs["ceil_mode"] is False
    y.sum().backward()
    assert x.grad.dtype == np.float32

@per_backend

def test_max_pool2d_window_of_only_padding_gets_no_gradient(backend):
    # dilation 3 on a 2x2 input: the single window's taps all fall in the padding -> -inf, no gradient
    x = ck.tensor(np.arange(4.0).reshape(1, 1, 2, 2), requires_grad=True)
    y = F.max_pool2d(x, 2, stride=1, padding=1, dilation=3)
    assert y.shape == (1, 1, 1, 1) and y.item() == -np.inf
    y.backward(np.ones((1, 1, 1, 1)))
    np.testing.assert_array_equal(x.grad.data, np.zeros((1, 1, 2, 2)))


@per_backend
@requires_torch
def test_ceil_mode_window_larger_than_input_like_torch(backend):
    x = rand(1, 2, 2, 2, seed=1)
    compare_with_torch(lambda t: F.max_pool2d(t, 3, 2, ceil_mode=True),
                       lambda t: TF.max_pool2d(t, 3, 2, ceil_mode=True), [x], what="max_pool2d k > input")
    compare_with_torch(lambda t: F.avg_pool2d(t, 3, 2, ceil_mode=True),
                       lambda t: TF.avg_pool2d(t, 3, 2, ceil_mode=True), [x], what="avg_pool2d k > input")


# ------------------------------------------------------------------------------ avg_pool2d


@per_backend
@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", AVG_CONFIGS)
@pytest.mark.parametrize("count_include_pad,divisor_override", [(True, None), (False, None), (True, 5)])
def test_avg_pool2d_matches_torch(cfg, dtype, count_include_pad, divisor_override, backend):
    shape, k, s, p, cm = cfg
    x = rand(*shape, dtype=dtype, seed=4)
    out, _ = compare_with_torch(lambda t: F.avg_pool2d(t, k, s, p, cm, count_include_pad, divisor_override),
                                lambda t: TF.avg_pool2d(t, k, s, p, cm, count_include_pad, divisor_override),
                                [x], what=f"avg_pool2d{cfg[1:]} cip={count_include_pad} div={divisor_override}")
    assert out.dtype == dtype


@pytest.mark.parametrize("cfg", [((1, 2, 5, 6), 3, 2, 1, True, False), ((2, 1, 6, 5), 2, 1, 1, False, True)])
def test_avg_pool2d_gradcheck(cfg):
    shape, k, s, p, cm, cip = cfg
    assert gradcheck(lambda t: F.avg_pool2d(t, k, s, p, cm, cip), [rand(*shape, seed=5)])
    assert gradcheck(lambda t: F.avg_pool2d(t, k, s, p, cm, divisor_override=2), [rand(*shape, seed=6)])


@per_backend
@requires_torch
def test_avg_pool2d_unbatched_input(backend):
    x = rand(2, 7, 6, dtype=np.float32, seed=8)
    out, _ = compare_with_torch(lambda t: F.avg_pool2d(t, 3, 2, 1, ceil_mode=True, count_include_pad=False),
                                lambda t: TF.avg_pool2d(t, 3, 2, 1, ceil_mode=True, count_include_pad=False),
                                [x], what="avg_pool2d (C,H,W)")
    assert out.shape == (2, 4, 4)


# ------------------------------------------------------------------------------ adaptive pooling

ADAPTIVE = [((2, 3, 7, 7), 1), ((2, 3, 7, 7), (1, 1)), ((2, 3, 5, 7), (2, 3)), ((1, 2, 5, 7), (3, 4)),
            ((2, 2, 6, 6), 3), ((2, 2, 4, 5), (6, 7)), ((2, 2, 9, 4), (None, 3)), ((2, 2, 9, 4), (4, None))]


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,size", ADAPTIVE)
def test_adaptive_avg_pool2d_matches_torch(shape, size, dtype):
    x = rand(*shape, dtype=dtype, seed=9)
    compare_with_torch(lambda t: F.adaptive_avg_pool2d(t, size), lambda t: TF.adaptive_avg_pool2d(t, size),
                       [x], what=f"adaptive_avg_pool2d {size}")


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,size", ADAPTIVE)
@pytest.mark.parametrize("kind", ["normal", "integers"])
def test_adaptive_max_pool2d_matches_torch(shape, size, dtype, kind):
    x = rand(*shape, dtype=dtype, seed=10)
    if kind == "integers":  # ties everywhere
        x = np.random.default_rng(1).integers(0, 3, shape).astype(dtype)
    compare_with_torch(lambda t: F.adaptive_max_pool2d(t, size), lambda t: TF.adaptive_max_pool2d(t, size),
                       [x], what=f"adaptive_max_pool2d {size}")
    _, idx = F.adaptive_max_pool2d(ck.tensor(x), size, return_indices=True)
    np.testing.assert_array_equal(idx.data, TF.adaptive_max_pool2d(torch.tensor(x), size, return_indices=True)[1])


@requires_torch
def test_adaptive_pools_unbatched_input():
    x = rand(3, 5, 7, seed=12)
    compare_with_torch(lambda t: F.adaptive_avg_pool2d(t, (2, 3)), lambda t: TF.adaptive_avg_pool2d(t, (2, 3)),
                       [x], what="adaptive_avg_pool2d (C,H,W)")
    compare_with_torch(lambda t: F.adaptive_max_pool2d(t, (2, 3)), lambda t: TF.adaptive_max_pool2d(t, (2, 3)),
                       [x], what="adaptive_max_pool2d (C,H,W)")
    _, idx = F.adaptive_max_pool2d(ck.tensor(x), (2, 3), return_indices=True)
    assert idx.shape == (3, 2, 3)


@pytest.mark.parametrize("size", [1, (2, 3), (3, 4), (6, 7)])
def test_adaptive_pools_gradcheck(size):
    x = rand(1, 2, 5, 6, seed=13)
    assert gradcheck(lambda t: F.adaptive_avg_pool2d(t, size), [x])
    assert gradcheck(lambda t: F.adaptive_max_pool2d(t, size), [x])


def test_global_pooling_equals_mean_and_max():
    x = rand(2, 3, 4, 5, dtype=np.float32, seed=14)
    assert_close(F.adaptive_avg_pool2d(ck.tensor(x), 1), x.mean(axis=(2, 3), keepdims=True))
    assert_close(F.adaptive_max_pool2d(ck.tensor(x), 1), x.max(axis=(2, 3), keepdims=True))


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize("call,exc,message", [
    (lambda x: F.max_pool2d(x[0, 0], 2), ValueError,
     "max_pool2d: expected a 4-D input (N, C, H, W) or a 3-D unbatched input (C, H, W), got shape (6, 6)"),
    (lambda x: F.avg_pool2d(x[None], 2), ValueError, "avg_pool2d: expected a 4-D input (N, C, H, W) or a 3-D unbatched input"),
    (lambda x: F.max_pool2d(x, 3, padding=2), ValueError,
     "max_pool2d: padding must be at most half of kernel_size (padding <= kernel_size // 2), got padding=(2, 2) "
     "and kernel_size=(3, 3)"),
    (lambda x: F.avg_pool2d(x, (4, 2), padding=(1, 2)), ValueError, "avg_pool2d: padding must be at most half"),
    (lambda x: F.max_pool2d(x, 0), ValueError, "max_pool2d: kernel_size must be positive, got (0, 0)"),
    (lambda x: F.max_pool2d(x, 2, stride=(1, 0)), ValueError, "max_pool2d: stride must be positive"),
    (lambda x: F.max_pool2d(x, 2, padding=-1), ValueError, "max_pool2d: padding must be non-negative"),
    (lambda x: F.max_pool2d(x, 2, dilation=0), ValueError, "max_pool2d: dilation must be positive"),
    (lambda x: F.max_pool2d(x, 2.5), TypeError, "max_pool2d: kernel_size must be an int or a pair of ints"),
    (lambda x: F.max_pool2d(x, 7), ValueError,
     "max_pool2d: input of spatial size (6, 6) is too small for kernel_size=(7, 7)"),
    (lambda x: F.avg_pool2d(x, 2, divisor_override=0), ValueError, "avg_pool2d: divisor_override must be non-zero"),
    (lambda x: F.adaptive_avg_pool2d(x, 0), ValueError, "adaptive_avg_pool2d: output_size must be positive, got 0"),
    (lambda x: F.adaptive_max_pool2d(x, (2, -1)), ValueError, "adaptive_max_pool2d: output_size must be positive"),
    (lambda x: F.adaptive_avg_pool2d(x, (1, 2, 3)), ValueError, "adaptive_avg_pool2d: output_size must be an int or"),
    (lambda x: F.adaptive_max_pool2d(x, None), TypeError, "adaptive_max_pool2d: output_size must be an int or"),
    (lambda x: F.max_pool2d(x.astype("int64"), 2), TypeError,
     "max_pool2d: expected a floating-point input, got dtype int64"),
    (lambda x: F.avg_pool2d(x.data.tolist(), 2), TypeError, "avg_pool2d: expected a Tensor, got list"),
    (lambda x: F.adaptive_avg_pool2d(x[:, :0], 1), ValueError,
     "adaptive_avg_pool2d: input must have non-empty channel and spatial dimensions"),
])
def test_errors(call, exc, message):
    x = ck.tensor(rand(1, 2, 6, 6, dtype=np.float32))
    with pytest.raises(exc) as info:
        call(x)
    assert str(info.value).startswith(message), str(info.value)
