"""conv2d and conv_transpose2d: parity with PyTorch (forward and every gradient, float32 and float64) over a
generated grid of configurations, float64 finite-difference gradchecks, dtypes, and the error messages."""

import itertools
import random

import numpy as np
import pytest
from oracle import assert_close, compare_with_torch, gradcheck, per_backend, rand, requires_torch, torch

import cnnkit as ck
from cnnkit.functional import conv2d, conv_transpose2d
from cnnkit.kernels.conv_arith import conv_output_size, conv_transpose_output_size, pair, same_padding

KERNELS = [1, 3, 5, 7, (3, 5), (1, 7), (2, 2)]
# (in channels, out channels, groups): plain, grouped, depthwise, depthwise with channel multiplier 2
GROUPINGS = [(3, 4, 1), (4, 2, 2), (2, 4, 2), (3, 3, 3), (2, 4, 2)]


def _conv_configs():
    """Deterministic grid: every kernel with every grouping, cycling stride, padding, dilation, bias, batch."""
    rng = random.Random(0)
    strides = itertools.cycle([1, 2, 3, (2, 1), 1])
    paddings = itertools.cycle([0, 1, 2, "same", "valid", (1, 2), (0, 2), "same"])
    dilations = itertools.cycle([1, 2, (1, 2), 1])
    batches = itertools.cycle([1, 2, 3])
    configs = []
    for k, (c, o, g), _ in itertools.product(KERNELS, GROUPINGS, range(2)):
        stride, padding, dilation = next(strides), next(paddings), next(dilations)
        if padding == "same":
            stride = 1
        kh, kw = pair(k)
        (dh, dw), (sh, sw) = pair(dilation), pair(stride)
        ph, pw = (0, 0) if isinstance(padding, str) else pair(padding)
        # an odd or non-square image at least as large as the dilated kernel
        h = max(dh * (kh - 1) + 1 - 2 * ph, rng.choice([3, 5, 6, 7]))
        w = max(dw * (kw - 1) + 1 - 2 * pw, rng.choice([4, 5, 8, 9]))
        h, w = min(h, 13), min(w, 13)
        configs.append(dict(n=next(batches), c=c, o=o, h=h, w=w, k=(kh, kw), stride=(sh, sw), padding=padding,
                            dilation=(dh, dw), groups=g, bias=len(configs) % 3 != 2))
    return configs


def _transpose_configs():
    rng = random.Random(1)
    strides = itertools.cycle([1, 2, 3, (2, 1), (1, 3)])
    paddings = itertools.cycle([0, 1, 2, (1, 0), (0, 2)])
    dilations = itertools.cycle([1, 2, 1, (2, 1)])
    batches = itertools.cycle([2, 1, 3])
    configs = []
    for k, (c, o, g), _ in itertools.product(KERNELS, GROUPINGS, range(2)):
        stride, padding, dilation = pair(next(strides)), pair(next(paddings)), pair(next(dilations))
        kh, kw = pair(k)
        # the largest allowed output_padding on one axis, 0 on the other (or both when possible)
        op = tuple(max(s, d) - 1 if (len(configs) + a) % 2 == 0 else 0
                   for a, s, d in zip((0, 1), stride, dilation, strict=True))
        h, w = rng.choice([2, 3, 5]), rng.choice([3, 4, 6])
        while conv_transpose_output_size(h, kh, stride[0], padding[0], op[0], dilation[0]) < 1:
            h += 1
        while conv_transpose_output_size(w, kw, stride[1], padding[1], op[1], dilation[1]) < 1:
            w += 1
        configs.append(dict(n=next(batches), c=c, o=o, h=h, w=w, k=(kh, kw), stride=stride, padding=padding,
                            output_padding=op, dilation=dilation, groups=g, bias=len(configs) % 3 != 1))
    return configs


CONV = _conv_configs()
TRANSPOSE = _transpose_configs()


def _cid(cfg):
    return "-".join(f"{k}{v}" for k, v in cfg.items()).replace(" ", "")


def test_grids_cover_the_spec():
    assert len(CONV) >= 60 and len(TRANSPOSE) >= 60
    for grid in (CONV, TRANSPOSE):
        assert {s for cfg in grid for s in cfg["stride"]} >= {1, 2, 3}
        assert {d for cfg in grid for d in cfg["dilation"]} == {1, 2}
        assert {cfg["k"] for cfg in grid} >= {(1, 1), (3, 3), (5, 5), (7, 7), (3, 5), (1, 7)}
        assert {cfg["n"] for cfg in grid} >= {1, 2}
        assert {cfg["bias"] for cfg in grid} == {True, False}
        assert any(cfg["groups"] == cfg["c"] and cfg["o"] > cfg["c"] for cfg in grid)  # depthwise, multiplier 2
        assert any(cfg["h"] != cfg["w"] and cfg["h"] % 2 for cfg in grid)
    assert {p for cfg in CONV if not isinstance(cfg["padding"], str) for p in pair(cfg["padding"])} == {0, 1, 2}
    assert {"same", "valid"} <= {cfg["padding"] for cfg in CONV if isinstance(cfg["padding"], str)}
    assert any(max(cfg["output_padding"]) > 0 for cfg in TRANSPOSE)


def _conv_arrays(cfg, dtype):
    arrays = [rand(cfg["n"], cfg["c"], cfg["h"], cfg["w"], dtype=dtype, seed=1),
              rand(cfg["o"], cfg["c"] // cfg["groups"], *cfg["k"], dtype=dtype, seed=2)]
    if cfg["bias"]:
        arrays.append(rand(cfg["o"], dtype=dtype, seed=3))
    return arrays


def _transpose_arrays(cfg, dtype):
    arrays = [rand(cfg["n"], cfg["c"], cfg["h"], cfg["w"], dtype=dtype, seed=1),
              rand(cfg["c"], cfg["o"] // cfg["groups"], *cfg["k"], dtype=dtype, seed=2)]
    if cfg["bias"]:
        arrays.append(rand(cfg["o"], dtype=dtype, seed=3))
    return arrays


def _conv_fns(cfg, lib):
    kw = dict(stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"], groups=cfg["groups"])
    fn = conv2d if lib == "ck" else torch.nn.functional.conv2d
    return lambda x, w, b=None: fn(x, w, b, **kw)


def _transpose_fns(cfg, lib):
    kw = dict(stride=cfg["stride"], padding=cfg["padding"], output_padding=cfg["output_padding"],
              dilation=cfg["dilation"], groups=cfg["groups"])
    fn = conv_transpose2d if lib == "ck" else torch.nn.functional.conv_transpose2d
    return lambda x, w, b=None: fn(x, w, b, **kw)


@per_backend
@requires_torch
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cfg", CONV, ids=_cid)
def test_conv2d_matches_torch(cfg, dtype, backend):
    out, ref = compare_with_torch(_conv_fns(cfg, "ck"), _conv_fns(cfg, "torch"), _conv_arrays(cfg, dtype),
                                  what="conv2d")
    assert out.dtype == dtype
    if cfg["padding"] == "same":
        assert out.shape[2:] == (cfg["h"], cfg["w"])


@per_backend
@requires_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cfg", TRANSPOSE, ids=_cid)
def test_conv_transpose2d_matches_torch(cfg, dtype, backend):
    out, _ = compare_with_torch(_transpose_fns(cfg, "ck"), _transpose_fns(cfg, "torch"),
                                _transpose_arrays(cfg, dtype), what="conv_transpose2d")
    assert out.dtype == dtype


GRADCHECK_CONV = [
    dict(n=1, c=2, o=2, h=4, w=5, k=(3, 3), stride=(1, 1), padding=1, dilation=(1, 1), groups=1, bias=True),
    dict(n=2, c=2, o=4, h=5, w=4, k=(2, 3), stride=(2, 1), padding="same", dilation=(1, 1), groups=2, bias=True),
    dict(n=1, c=2, o=2, h=6, w=5, k=(2, 2), stride=(1, 1), padding="same", dilation=(2, 1), groups=2, bias=False),
    dict(n=1, c=1, o=2, h=5, w=6, k=(3, 2), stride=(2, 3), padding=(1, 0), dilation=(2, 1), groups=1, bias=True),
]
GRADCHECK_TRANSPOSE = [
    dict(n=1, c=2, o=2, h=3, w=3, k=(3, 3), stride=(2, 2), padding=(1, 1), output_padding=(1, 0),
         dilation=(1, 1), groups=1, bias=True),
    dict(n=2, c=2, o=4, h=2, w=3, k=(2, 3), stride=(1, 2), padding=(0, 1), output_padding=(1, 1),
         dilation=(2, 1), groups=2, bias=True),
    dict(n=1, c=3, o=3, h=3, w=2, k=(1, 2), stride=(3, 1), padding=(0, 0), output_padding=(2, 0),
         dilation=(1, 2), groups=3, bias=False),
]


@pytest.mark.parametrize("cfg", GRADCHECK_CONV, ids=_cid)
def test_conv2d_gradcheck(cfg):
    cfg = dict(cfg, stride=(1, 1) if cfg["padding"] == "same" else cfg["stride"])
    assert gradcheck(_conv_fns(cfg, "ck"), _conv_arrays(cfg, np.float64))


@pytest.mark.parametrize("cfg", GRADCHECK_TRANSPOSE, ids=_cid)
def test_conv_transpose2d_gradcheck(cfg):
    assert gradcheck(_transpose_fns(cfg, "ck"), _transpose_arrays(cfg, np.float64))


@per_backend
@pytest.mark.parametrize("op", ["conv2d", "conv_transpose2d"])
def test_float32_output_and_gradients_are_float32(op, backend):
    fn, w_shape = (conv2d, (4, 1, 3, 3)) if op == "conv2d" else (conv_transpose2d, (2, 2, 3, 3))
    x = ck.tensor(rand(2, 2, 5, 6, dtype=np.float32), requires_grad=True)
    w = ck.tensor(rand(*w_shape, dtype=np.float32, seed=1), requires_grad=True)
    b = ck.tensor(rand(4, dtype=np.float32, seed=2), requires_grad=True)
    y = fn(x, w, b, stride=2, padding=1, groups=2)
    y.backward(np.ones(y.shape, np.float32))
    assert y.dtype == np.float32
    assert x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32


def test_same_padding_puts_the_extra_row_bottom_right():
    x = ck.tensor(rand(1, 1, 5, 6))
    w = ck.tensor(np.ones((1, 1, 2, 4)))
    y = conv2d(x, w, padding="same", dilation=(3, 1))
    assert y.shape == (1, 1, 5, 6)
    assert y.grad_fn is None
    assert same_padding(2, 3) == (1, 2) and same_padding(4, 1) == (1, 2)
    expected = conv2d(ck.tensor(np.pad(x.data, ((0, 0), (0, 0), (1, 2), (1, 2)))), w, dilation=(3, 1))
    np.testing.assert_allclose(y.data, expected.data, atol=1e-12)


def test_output_size_matches_conv_arith():
    x = ck.tensor(rand(1, 2, 11, 9, dtype=np.float32))
    w = ck.tensor(rand(3, 2, 3, 5, dtype=np.float32))
    y = conv2d(x, w, stride=(2, 3), padding=(2, 1), dilation=(1, 2))
    assert y.shape == (1, 3, conv_output_size(11, 3, 2, 2, 1), conv_output_size(9, 5, 3, 1, 2))
    wt = ck.tensor(rand(2, 3, 3, 5, dtype=np.float32))
    yt = conv_transpose2d(x, wt, stride=(2, 3), padding=(2, 1), output_padding=(1, 2), dilation=(1, 2))
    assert yt.shape == (1, 3, conv_transpose_output_size(11, 3, 2, 2, 1, 1), conv_transpose_output_size(9, 5, 3, 1, 2, 2))


@per_backend
@requires_torch
@pytest.mark.parametrize("op", ["conv2d", "conv_transpose2d"])
def test_unbatched_input(op, backend):
    ours, theirs = (conv2d, torch.nn.functional.conv2d) if op == "conv2d" else \
        (conv_transpose2d, torch.nn.functional.conv_transpose2d)
    w_shape = (4, 3, 3, 3) if op == "conv2d" else (3, 4, 3, 3)
    out, _ = compare_with_torch(lambda x, w, b: ours(x, w, b, stride=2, padding=1),
                                lambda x, w, b: theirs(x, w, b, stride=2, padding=1),
                                [rand(3, 5, 6), rand(*w_shape, seed=1), rand(4, seed=2)], what=op)
    assert out.ndim == 3


@requires_torch
def test_only_the_requested_gradients_are_computed():
    x, w = rand(2, 3, 6, 6, dtype=np.float32), rand(4, 3, 3, 3, dtype=np.float32, seed=1)
    cx, cw = ck.tensor(x), ck.tensor(w, requires_grad=True)  # the first conv of a net: no input gradient
    y = conv2d(cx, cw, padding=1)
    assert y.grad_fn.x is not None and y.grad_fn.w is None  # the weight is not kept for an unneeded dx
    g = rand(*y.shape, dtype=np.float32, seed=3)
    y.backward(g)
    assert cx.grad is None
    tw = torch.tensor(w, requires_grad=True)
    torch.nn.functional.conv2d(torch.tensor(x), tw, padding=1).backward(torch.tensor(g))
    assert_close(cw.grad, tw.grad, "weight grad")
    cx2, cw2 = ck.tensor(x, requires_grad=True), ck.tensor(w)
    y2 = conv2d(cx2, cw2, padding=1)
    assert y2.grad_fn.x is None and y2.grad_fn.w is not None
    y2.backward(g)
    assert cw2.grad is None and cx2.grad.shape == x.shape


def test_records_attributes_for_export():
    x = ck.tensor(rand(1, 2, 6, 6), requires_grad=True)
    y = conv2d(x, ck.tensor(rand(4, 1, 2, 3)), padding="same", groups=2)
    assert type(y.grad_fn).__name__ == "Conv2d"
    assert y.grad_fn.attrs == dict(stride=(1, 1), padding=((0, 1), (1, 1)), dilation=(1, 1), groups=2)
    yt = conv_transpose2d(x, ck.tensor(rand(2, 3, 3, 3)), stride=2, padding=1, output_padding=1)
    assert yt.grad_fn.attrs == dict(stride=(2, 2), padding=(1, 1), output_padding=(1, 1), dilation=(1, 1),
                                    groups=1)


def test_no_grad_records_nothing():
    x = ck.tensor(rand(1, 2, 5, 5), requires_grad=True)
    with ck.no_grad():
        y = conv2d(x, ck.tensor(rand(3, 2, 3, 3), requires_grad=True))
    assert y.grad_fn is None and not y.requires_grad


def test_empty_batch():
    y = conv2d(ck.tensor(np.zeros((0, 2, 5, 5))), ck.tensor(rand(3, 2, 3, 3)), padding=1)
    assert y.shape == (0, 3, 5, 5)


# ------------------------------------------------------------------------------ errors


def _t(*shape, dtype=np.float32):
    return ck.tensor(np.zeros(shape, dtype=dtype))


CONV_ERRORS = [
    ("integer input", dict(x=_t(1, 1, 5, 5, dtype=np.int64)), TypeError,
     "conv2d: expected a float32 or float64 input, got dtype int64"),
    ("dtype mismatch", dict(w=_t(2, 1, 3, 3, dtype=np.float64)), TypeError,
     "conv2d: input and weight must have the same dtype, got input float32 and weight float64"),
    ("bias dtype", dict(b=_t(2, dtype=np.float64)), TypeError,
     "conv2d: input and bias must have the same dtype, got input float32 and bias float64"),
    ("not a tensor", dict(x=[[1.0]]), TypeError, "conv2d: expected a Tensor, got list"),
    ("2-D input", dict(x=_t(5, 5)), ValueError,
     r"conv2d: expected a 4-D input \(N, C, H, W\) or a 3-D unbatched input \(C, H, W\), got shape \(5, 5\)"),
    ("3-D weight", dict(w=_t(2, 1, 3)), ValueError,
     r"conv2d: expected a 4-D weight \(out_channels, in_channels/groups, kH, kW\), got shape \(2, 1, 3\)"),
    ("empty channels", dict(x=_t(1, 0, 5, 5)), ValueError, "conv2d: input must have non-empty channel"),
    ("channel mismatch", dict(x=_t(1, 3, 32, 32), w=_t(6, 1, 5, 5), b=None), ValueError,
     r"conv2d: input has 3 channels but weight expects 1 \(weight shape \(6, 1, 5, 5\)\)"),
    ("channel mismatch groups", dict(x=_t(1, 4, 8, 8), w=_t(6, 1, 3, 3), groups=2, b=None), ValueError,
     r"conv2d: input has 4 channels but weight expects 2 \(weight shape \(6, 1, 3, 3\), groups=2\)"),
    ("groups vs input channels", dict(x=_t(1, 3, 8, 8), w=_t(4, 1, 3, 3), groups=2, b=None), ValueError,
     r"conv2d: input channels \(3\) must be divisible by groups \(2\)"),
    ("groups vs output channels", dict(x=_t(1, 4, 8, 8), w=_t(3, 2, 3, 3), groups=2, b=None), ValueError,
     r"conv2d: weight's out_channels \(3\) must be divisible by groups \(2\)"),
    ("zero groups", dict(groups=0), ValueError, "conv2d: groups must be a positive integer, got 0"),
    ("float groups", dict(groups=1.5), TypeError, "conv2d: groups must be an int, got 1.5"),
    ("kernel larger than padded input", dict(x=_t(1, 1, 2, 6), w=_t(2, 1, 5, 5), padding=1), ValueError,
     r"conv2d: kernel 5x5 \(dilation \(1, 1\)\) is larger than the padded input 4x8 \(input 2x6, "
     r"padding \(\(1, 1\), \(1, 1\)\)\): the output size would be 0x4"),
    ("dilated kernel too large", dict(x=_t(1, 1, 5, 5), dilation=3), ValueError,
     r"conv2d: kernel 3x3 \(dilation \(3, 3\)\) is larger than the padded input 5x5 .* would be -1x-1"),
    ("zero stride", dict(stride=(0, 1)), ValueError, r"conv2d: stride must be positive, got \(0, 1\)"),
    ("zero dilation", dict(dilation=0), ValueError, r"conv2d: dilation must be positive, got \(0, 0\)"),
    ("negative padding", dict(padding=(-1, 0)), ValueError, r"conv2d: padding must be non-negative, got \(-1, 0\)"),
    ("bad padding string", dict(padding="full"), ValueError,
     "conv2d: padding must be 'same', 'valid', an int or a pair of ints, got 'full'"),
    ("stride type", dict(stride="2"), TypeError, "conv2d: stride must be an int or a pair of ints, got '2'"),
    ("padding triple", dict(padding=(1, 1, 1)), TypeError, "conv2d: padding must be an int or a pair of ints"),
    ("same with stride", dict(padding="same", stride=2), ValueError,
     r"conv2d: padding='same' is only supported with stride 1, got stride \(2, 2\)"),
    ("bias shape", dict(b=_t(3)), ValueError,
     r"conv2d: bias must have shape \(2,\) \(one value per output channel\), got \(3,\)"),
]


@pytest.mark.parametrize("name,args,exc,message", CONV_ERRORS, ids=[e[0] for e in CONV_ERRORS])
def test_conv2d_errors(name, args, exc, message):
    args = dict(args)
    x, w, b = args.pop("x", _t(1, 1, 5, 5)), args.pop("w", _t(2, 1, 3, 3)), args.pop("b", _t(2))
    with pytest.raises(exc, match=message):
        conv2d(x, w, b, **args)


TRANSPOSE_ERRORS = [
    ("integer input", dict(x=_t(1, 2, 4, 4, dtype=np.int32)), TypeError,
     "conv_transpose2d: expected a float32 or float64 input, got dtype int32"),
    ("dtype mismatch", dict(w=_t(2, 3, 3, 3, dtype=np.float64)), TypeError,
     "conv_transpose2d: input and weight must have the same dtype"),
    ("5-D input", dict(x=_t(1, 1, 2, 4, 4)), ValueError, "conv_transpose2d: expected a 4-D input"),
    ("3-D weight", dict(w=_t(2, 3, 3)), ValueError,
     r"conv_transpose2d: expected a 4-D weight \(in_channels, out_channels/groups, kH, kW\), got shape \(2, 3, 3\)"),
    ("channel mismatch", dict(x=_t(1, 3, 4, 4), w=_t(4, 2, 3, 3), b=None), ValueError,
     r"conv_transpose2d: input has 3 channels but weight expects 4 \(weight shape \(4, 2, 3, 3\)\)"),
    ("groups vs channels", dict(x=_t(1, 3, 4, 4), w=_t(3, 2, 3, 3), groups=2, b=None), ValueError,
     r"conv_transpose2d: input channels \(3\) must be divisible by groups \(2\)"),
    ("zero groups", dict(groups=-1), ValueError, "conv_transpose2d: groups must be a positive integer, got -1"),
    ("output_padding too large", dict(stride=2, output_padding=(0, 2)), ValueError,
     r"conv_transpose2d: output_padding must be smaller than either stride or dilation, got output_padding "
     r"\(0, 2\) with stride \(2, 2\) and dilation \(1, 1\)"),
    ("output_padding without stride", dict(output_padding=1), ValueError,
     "conv_transpose2d: output_padding must be smaller than either stride or dilation"),
    ("negative output_padding", dict(output_padding=-1), ValueError,
     r"conv_transpose2d: output_padding must be non-negative, got \(-1, -1\)"),
    ("non-positive output", dict(x=_t(1, 2, 1, 4), w=_t(2, 3, 1, 1), padding=1, b=None), ValueError,
     r"conv_transpose2d: the output size would be -1x2, which is not positive \(input 1x4, kernel 1x1"),
    ("string padding", dict(padding="same"), ValueError,
     "conv_transpose2d: padding must be an int or a pair of ints, got 'same'"),
    ("negative padding", dict(padding=-1), ValueError, r"conv_transpose2d: padding must be non-negative"),
    ("zero stride", dict(stride=0), ValueError, r"conv_transpose2d: stride must be positive, got \(0, 0\)"),
    ("bias shape", dict(b=_t(2)), ValueError, r"conv_transpose2d: bias must have shape \(3,\)"),
]


@pytest.mark.parametrize("name,args,exc,message", TRANSPOSE_ERRORS, ids=[e[0] for e in TRANSPOSE_ERRORS])
def test_conv_transpose2d_errors(name, args, exc, message):
    args = dict(args)
    x, w, b = args.pop("x", _t(1, 2, 4, 4)), args.pop("w", _t(2, 3, 3, 3)), args.pop("b", _t(3))
    with pytest.raises(exc, match=message):
        conv_transpose2d(x, w, b, **args)
