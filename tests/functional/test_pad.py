"""F.pad in every mode (constant, reflect, replicate, circular): parity with PyTorch forward and backward over a
grid of paddings (negative ones crop), padded dimensions and batched/unbatched inputs, float64 gradchecks, the
memory order of result and gradient, empty inputs, and the errors where PyTorch errors."""

import numpy as np
import pytest
from oracle import compare_with_torch, gradcheck, rand, requires_torch, torch

import cnnkit as ck
import cnnkit.functional as F
from cnnkit.kernels.elementwise import memory_order

DTYPES = [np.float32, np.float64]
MODES = ["constant", "reflect", "replicate", "circular"]

# (input shape, pad): 1, 2 and 3 padded dimensions, batched and unbatched, odd sizes, batch 1 and > 1,
# negative pads (cropping) mixed with positive ones, pads up to the largest each mode allows
GRID = [
    ((2, 3, 7), (2, 3)),
    ((3, 7), (6, 0)),  # unbatched 1-D; reflect's largest pad is size - 1
    ((1, 2, 5), (-2, 4)),
    ((2, 3, 5, 6), (1, 2, 3, 0)),
    ((1, 2, 5, 6), (5, 5, 4, 4)),
    ((3, 5, 6), (2, -1, -3, 4)),  # unbatched 2-D
    ((2, 2, 4, 7), (-2, -3, 1, 1)),
    ((1, 2, 3, 4, 5), (1, 2, 0, 1, 2, 2)),  # 3-D padding of a batch
    ((2, 3, 4, 5), (-1, 2, 1, -1, 2, 0)),  # 3-D padding of an unbatched (C, D, H, W)
]


def _id(case):
    shape, pad = case
    return f"{'x'.join(map(str, shape))}-pad{','.join(map(str, pad))}"


def _allowed(shape, pad, mode):
    """Whether PyTorch takes these arguments (the grid keeps only those; test_errors covers the rest)."""
    for i in range(len(pad) // 2):
        n, (b, e) = shape[-1 - i], pad[2 * i: 2 * i + 2]
        if mode == "reflect" and max(b, e) >= n:
            return False
        if mode == "circular" and max(b, e) > n + min(b, 0) + min(e, 0):
            return False
    return True


PARITY = [(case, mode) for mode in MODES for case in GRID if _allowed(*case, mode)]


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case,mode", PARITY, ids=[f"{mode}-{_id(case)}" for case, mode in PARITY])
def test_pad_matches_torch(case, mode, dtype):
    shape, pad = case
    out, _ = compare_with_torch(lambda t: F.pad(t, pad, mode=mode), lambda t: torch.nn.functional.pad(t, pad, mode=mode),
                                [rand(*shape, dtype=dtype, seed=3)], what=f"pad {mode} {pad}")
    assert out.dtype == dtype


def test_grid_covers_every_mode_and_rank():
    for mode in MODES:
        kept = [case for case, m in PARITY if m == mode]
        assert {len(pad) // 2 for _, pad in kept} == {1, 2, 3}, mode
        assert any(min(pad) < 0 for _, pad in kept), mode
        assert {len(shape) - len(pad) // 2 for shape, pad in kept} == {1, 2}, mode  # unbatched and batched


@requires_torch
def test_constant_value_and_any_number_of_dimensions():
    x = rand(2, 3, 4, 5, seed=4)
    for pad in [(1, 2), (1, 0, 2, 1, 0, 3, 1, 1), (-1, 2, 0, 0, 1, -1)]:
        compare_with_torch(lambda t, p=pad: F.pad(t, p, value=-2.5),
                           lambda t, p=pad: torch.nn.functional.pad(t, p, value=-2.5), [x], what=f"constant {pad}")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape,pad", [((1, 2, 3, 4), (2, -1, 1, 2)), ((2, 4, 3), (3, 2)),
                                       ((1, 1, 2, 3, 3), (1, 1, 2, 0, 0, 2))])
def test_pad_gradcheck(shape, pad, mode):
    if not _allowed(shape, pad, mode):
        pad = tuple(min(p, 1) for p in pad)
    assert gradcheck(lambda t: F.pad(t, pad, mode=mode), [rand(*shape, seed=5)])


@pytest.mark.parametrize("mode", MODES)
def test_channels_last_stays_channels_last(mode):
    rng = np.random.default_rng(0)
    x = ck.tensor(np.ascontiguousarray(rng.standard_normal((2, 5, 6, 4)).astype(np.float32)).transpose(0, 3, 1, 2),
                  requires_grad=True)  # an (N, C, H, W) view of NHWC memory, as a convolution returns
    y = F.pad(x, (2, 1, 1, 3), mode=mode)
    want = np.pad(x.data, ((0, 0), (0, 0), (1, 3), (2, 1)),
                  mode={"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode])
    np.testing.assert_array_equal(y.data, want)
    assert y.data.transpose(0, 2, 3, 1).flags.c_contiguous
    g = np.ascontiguousarray(rng.standard_normal(y.shape).astype(np.float32).transpose(0, 2, 3, 1))
    y.backward(g.transpose(0, 3, 1, 2))  # a channels-last upstream gradient (what a convolution's backward gives)
    assert memory_order(x.grad.data) == (0, 2, 3, 1)
    assert x.grad.dtype == np.float32
    if mode != "constant":  # a gathered gradient takes the input's layout whatever the upstream one
        x.grad = None
        F.pad(x, (2, 1, 1, 3), mode=mode).backward(np.ones(y.shape, np.float32))
        assert x.grad.data.transpose(0, 2, 3, 1).flags.c_contiguous


@requires_torch
@pytest.mark.parametrize("mode", MODES)
def test_empty_batch_like_torch(mode):
    out, _ = compare_with_torch(lambda t: F.pad(t, (1, 2, 2, 1), mode=mode),
                                lambda t: torch.nn.functional.pad(t, (1, 2, 2, 1), mode=mode),
                                [np.zeros((0, 2, 3, 4))], what=f"pad {mode} of an empty batch")
    assert out.shape == (0, 2, 6, 7)


@requires_torch
@pytest.mark.parametrize("mode,shape,pad", [
    ("constant", (1, 2, 0, 3), (1, 1, 1, 1)),  # constant pads an empty plane
    ("constant", (1, 2, 3, 3), (-3, 0, 1, 1)),  # cropping to an empty dimension
    ("circular", (1, 0, 3, 3), (1, 1, 1, 1)),  # no channels: circular does not mind
    ("circular", (1, 2, 3, 3), (-3, 0, 1, 1)),
    ("replicate", (1, 2, 3, 3), (-3, 0, 1, 1)),
    ("reflect", (1, 2, 3, 3), (-2, -1, 1, 1)),
])
def test_empty_results_like_torch(mode, shape, pad):
    out, ref = compare_with_torch(lambda t: F.pad(t, pad, mode=mode),
                                  lambda t: torch.nn.functional.pad(t, pad, mode=mode), [rand(*shape)],
                                  what=f"pad {mode} {shape} {pad}")
    assert out.shape == tuple(ref.shape) and 0 in shape + out.shape


ERRORS = [
    # (mode, input shape, pad, value, message) -- every case is one PyTorch rejects too
    ("reflect", (2, 2, 4, 5), (5, 0, 0, 0), None,
     r"pad: reflect padding must be smaller than the padded dimension, got padding \(5, 0\) for dimension 3 of "
     r"size 5"),
    ("reflect", (2, 2, 4, 5), (0, 0, 4, 0), None, r"pad: reflect padding must be smaller"),
    ("reflect", (2, 2, 4, 5), (-2, 7, 0, 0), None, r"pad: reflect padding must be smaller"),
    ("circular", (2, 2, 4, 5), (0, 0, 5, 0), None, r"pad: circular padding may wrap around at most once"),
    ("circular", (1, 1, 5), (4, -2), None, r"pad: circular padding may wrap around at most once, got padding "
                                           r"\(4, -2\) for dimension 2 of size 3 after cropping"),
    ("circular", (2, 2, 4, 5), (-3, -3, 0, 0), None, r"pad: padding \(-3, -3\) would give dimension 3"),
    ("constant", (2, 2, 4, 5), (0, -6, 0, 0), None, r"pad: padding \(0, -6\) would give dimension 3 \(size 5\) "
                                                    r"the negative size -1"),
    ("replicate", (2, 2, 4, 5), (-3, -3, 0, 0), None, r"would give dimension 3"),
    ("reflect", (3, 3, 3, 3), (1, 1), None, r"pad: mode 'reflect' pads the last 1, 2 or 3 dimensions"),
    ("replicate", (3, 3), (1, 1, 1, 1), None, r"pad: mode 'replicate' pads the last 1, 2 or 3 dimensions"),
    ("circular", (3, 3, 3, 3, 3, 3), (1,) * 8, None, r"pad: mode 'circular' pads the last"),
    ("reflect", (3,), (1, 1), None, r"pad: mode 'reflect' pads the last"),
    ("reflect", (1, 0, 3, 3), (1, 1, 1, 1), None, r"pad: mode 'reflect' needs non-empty dimensions \(only the "
                                                  r"batch may be empty\)"),
    ("replicate", (0, 3, 3), (1, 1, 1, 1), None, r"pad: mode 'replicate' needs non-empty dimensions"),
    ("reflect", (1, 2, 3, 0), (1, 1, 1, 1), None, r"needs non-empty dimensions"),
    ("reflect", (2, 2, 4, 5), (1, 1), 1.0, r"pad: mode 'reflect' takes no value"),
    ("constant", (2, 2, 4, 5), (1, 1, 1), None, r"pad: expected an even number of at most 8 values, got 3"),
    ("constant", (2, 3), (1, 1, 1, 1, 1, 1), None, r"pad: expected an even number of at most 4 values, got 6"),
    ("wrap", (2, 2, 4, 5), (1, 1), None, r"pad: unknown mode 'wrap'; expected one of constant, reflect"),
]


@requires_torch
@pytest.mark.parametrize("mode,shape,pad,value,message", ERRORS, ids=[f"{e[0]}-{e[2]}" for e in ERRORS])
def test_errors(mode, shape, pad, value, message):
    x = np.zeros(shape)
    with pytest.raises((RuntimeError, NotImplementedError, ValueError)):
        torch.nn.functional.pad(torch.tensor(x), pad, mode=mode if mode != "wrap" else "wrap", value=value)
    with pytest.raises(ck.InputError, match=message):
        F.pad(ck.tensor(x), pad, mode=mode, value=value)


def test_type_errors():
    x = ck.tensor(np.zeros((1, 1, 3, 3)))
    with pytest.raises(ck.InputTypeError, match=r"^pad: pad must be a tuple of ints, got \(1.0, 1\)"):
        F.pad(x, (1.0, 1))
    with pytest.raises(ck.InputTypeError, match=r"^pad: expected a Tensor, got list"):
        F.pad([[1.0]], (1, 1))
    with pytest.raises(ck.InputTypeError, match=r"^pad: value must be a real number, got 'a'"):
        F.pad(x, (1, 1), value="a")


def test_reflect_accepts_a_zero_value_like_torch():
    x = ck.tensor(rand(1, 1, 3, 4))
    np.testing.assert_array_equal(F.pad(x, (1, 1, 2, 1), mode="reflect", value=0).data,
                                  F.pad(x, (1, 1, 2, 1), mode="reflect").data)


def test_records_mode_and_widths():
    x = ck.tensor(rand(1, 2, 3, 4), requires_grad=True)
    y = F.pad(x, (1, 2, -1, 0), mode="replicate")
    assert y.grad_fn.attrs == dict(widths=((0, 0), (0, 0), (-1, 0), (1, 2)), mode="replicate", value=0.0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", MODES)
def test_every_mode_keeps_the_dtype(mode, dtype):
    x = ck.tensor(rand(1, 2, 3, 4, dtype=dtype), requires_grad=True)
    y = F.pad(x, (1, 1, 2, 0), mode=mode)
    y.sum().backward()
    assert y.dtype == x.grad.dtype == dtype
