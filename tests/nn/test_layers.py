"""Every layer against its PyTorch counterpart: torch's state_dict is loaded into ours, then forward output,
input gradient and parameter gradients are compared in float32 and float64 (training and eval mode), and
BatchNorm's running statistics and num_batches_tracked after several training steps."""

import numpy as np
import pytest
from oracle import assert_close, rand, requires_torch, torch

import cnnkit as ck
import cnnkit.nn as nn

pytestmark = requires_torch

DTYPES = [np.float32, np.float64]
TDTYPE = {np.float32: "float32", np.float64: "float64"}


def sync(ours, theirs, dtype):
    """Cast both to ``dtype`` and copy torch's parameters and buffers into ours."""
    theirs.to(getattr(torch, TDTYPE[dtype]))
    ours.to(dtype)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})


def check(ours, theirs, x, dtype, train=True, steps=1, what="layer", grad_seed=1):
    """Forward/backward parity on ``x`` (cast to dtype) for ``steps`` steps; returns the last outputs."""
    sync(ours, theirs, dtype)
    ours.train(train)
    theirs.train(train)
    x = np.asarray(x, dtype=dtype)
    for step in range(steps):
        xo, xt = ck.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        ours.zero_grad()
        theirs.zero_grad()
        yo, yt = ours(xo), theirs(xt)
        assert yo.dtype == dtype, f"{what}: output dtype {yo.dtype}"
        assert_close(yo, yt, f"{what} forward (step {step})")
        g = rand(*yt.shape, dtype=dtype, seed=grad_seed + step)
        yo.backward(g)
        yt.backward(torch.tensor(g))
        assert_close(xo.grad, xt.grad, f"{what} input grad (step {step})")
        for name, p in theirs.named_parameters():
            mine = ours.get_parameter(name)
            assert mine.grad is not None, f"{what}: {name} got no gradient"
            assert_close(mine.grad, p.grad, f"{what} grad of {name} (step {step})")
        for name, b in theirs.state_dict().items():
            assert_close(ours.state_dict()[name], b, f"{what} state {name} (step {step})")
        x = x[::-1].copy()  # a different batch next step
    return yo, yt


# ------------------------------------------------------------------ convolution

CONV_CASES = [
    dict(args=(3, 4, 3)),
    dict(args=(3, 6, (3, 2)), kwargs=dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2))),
    dict(args=(4, 6, 3), kwargs=dict(groups=2, padding=2, dilation=2, bias=False)),
    dict(args=(4, 4, 4), kwargs=dict(padding="same", groups=4)),
    dict(args=(2, 3, 3), kwargs=dict(padding="valid", stride=3)),
]


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", range(len(CONV_CASES)))
def test_conv2d(case, dtype):
    c = CONV_CASES[case]
    ours, theirs = nn.Conv2d(*c["args"], **c.get("kwargs", {})), torch.nn.Conv2d(*c["args"], **c.get("kwargs", {}))
    x = rand(2, c["args"][0], 7, 6, dtype=dtype, seed=case)
    check(ours, theirs, x, dtype, what=f"Conv2d{c}")


CONVT_CASES = [
    dict(args=(3, 4, 3)),
    dict(args=(4, 6, 3), kwargs=dict(stride=2, padding=1, output_padding=1)),
    dict(args=(4, 6, (2, 3)), kwargs=dict(stride=(2, 3), groups=2, dilation=(2, 1), bias=False)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", range(len(CONVT_CASES)))
def test_conv_transpose2d(case, dtype):
    c = CONVT_CASES[case]
    ours = nn.ConvTranspose2d(*c["args"], **c.get("kwargs", {}))
    theirs = torch.nn.ConvTranspose2d(*c["args"], **c.get("kwargs", {}))
    x = rand(2, c["args"][0], 5, 4, dtype=dtype, seed=case)
    check(ours, theirs, x, dtype, what=f"ConvTranspose2d{c}")


def test_conv_transpose2d_output_size():
    ours, theirs = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1), torch.nn.ConvTranspose2d(2, 3, 3, stride=2,
                                                                                              padding=1)
    sync(ours, theirs, np.float64)
    x = rand(1, 2, 4, 5)
    for size in [(7, 9), (8, 10), (1, 3, 8, 9)]:
        yo, yt = ours(ck.tensor(x), output_size=size), theirs(torch.tensor(x), output_size=size)
        assert_close(yo, yt, f"output_size={size}")
    with pytest.raises(ValueError, match="valid sizes range"):
        ours(ck.tensor(x), output_size=(12, 9))


def test_conv_constructor_errors():
    with pytest.raises(ValueError, match="in_channels \\(3\\) must be divisible by groups \\(2\\)"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="out_channels \\(3\\) must be divisible by groups \\(2\\)"):
        nn.Conv2d(2, 3, 3, groups=2)
    with pytest.raises(ValueError, match="strided"):
        nn.Conv2d(2, 2, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="invalid padding string 'full'"):
        nn.Conv2d(2, 2, 3, padding="full")
    with pytest.raises(NotImplementedError, match="padding_mode='zeros'"):
        nn.Conv2d(2, 2, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv2d(2, 2, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="in_channels must be a positive int"):
        nn.Conv2d(0, 2, 3)
    with pytest.raises(TypeError, match="kernel_size"):
        nn.Conv2d(1, 2, 2.5)
    with pytest.raises(ValueError, match="output_padding"):
        nn.ConvTranspose2d(1, 1, 3, stride=1, output_padding=1)
    with pytest.raises(ValueError, match="string padding"):
        nn.ConvTranspose2d(1, 1, 3, padding="same")
    conv = nn.Conv2d(3, 4, 3, dtype=np.float64)
    assert conv.weight.shape == (4, 3, 3, 3) and conv.weight.dtype == np.float64
    assert nn.ConvTranspose2d(4, 6, 3, groups=2).weight.shape == (4, 3, 3, 3)


# ------------------------------------------------------------------ linear, identity, flatten


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias,shape", [(True, (5, 4)), (False, (2, 3, 4)), (True, (4,))])
def test_linear(bias, shape, dtype):
    check(nn.Linear(4, 3, bias=bias), torch.nn.Linear(4, 3, bias=bias), rand(*shape, dtype=dtype), dtype,
          what="Linear")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("args", [(), (0, -1), (2, 3), (-3, -2)])
def test_flatten(args, dtype):
    x = rand(2, 3, 4, 5, dtype=dtype)
    yo, _ = check(nn.Flatten(*args), torch.nn.Flatten(*args), x, dtype, what=f"Flatten{args}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_unflatten_and_identity(dtype):
    check(nn.Unflatten(1, (2, -1)), torch.nn.Unflatten(1, (2, -1)), rand(3, 8, 2, dtype=dtype), dtype)
    check(nn.Unflatten(-1, [2, 1]), torch.nn.Unflatten(-1, [2, 1]), rand(3, 2, dtype=dtype), dtype)
    x = ck.ones(2)
    assert nn.Identity(3, key="ignored")(x) is x


def test_flatten_errors():
    with pytest.raises(IndexError, match="start_dim=4"):
        nn.Flatten(4)(ck.ones(2, 3))
    with pytest.raises(TypeError, match="unflattened_size"):
        nn.Unflatten(1, 4)


# ------------------------------------------------------------------ pooling


POOL_CASES = [
    ("MaxPool2d", (2,), {}),
    ("MaxPool2d", (3,), dict(stride=2, padding=1, ceil_mode=True)),
    ("MaxPool2d", ((3, 2),), dict(stride=(1, 2), dilation=(2, 1))),
    ("AvgPool2d", (2,), {}),
    ("AvgPool2d", (3,), dict(stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    ("AvgPool2d", ((2, 3),), dict(stride=1, divisor_override=4)),
    ("AdaptiveAvgPool2d", ((3, 2),), {}),
    ("AdaptiveAvgPool2d", (1,), {}),
    ("AdaptiveAvgPool2d", ((None, 4),), {}),
    ("AdaptiveMaxPool2d", ((4, 3),), {}),
    ("AdaptiveMaxPool2d", (2,), {}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", range(len(POOL_CASES)))
def test_pooling(case, dtype):
    name, args, kwargs = POOL_CASES[case]
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    x = rand(2, 3, 7, 8, dtype=dtype, seed=case)
    check(ours, theirs, x, dtype, what=f"{name}{args}{kwargs}")
    assert repr(ours) == repr(theirs)


def test_pooling_return_indices():
    x = rand(1, 2, 6, 6)
    for ours, theirs in [(nn.MaxPool2d(2, return_indices=True), torch.nn.MaxPool2d(2, return_indices=True)),
                         (nn.AdaptiveMaxPool2d(3, return_indices=True),
                          torch.nn.AdaptiveMaxPool2d(3, return_indices=True))]:
        (yo, io), (yt, it) = ours(ck.tensor(x)), theirs(torch.tensor(x))
        assert_close(yo, yt)
        assert np.array_equal(np.asarray(io.data if isinstance(io, ck.Tensor) else io), it.numpy())


# ------------------------------------------------------------------ normalisation


BN_CASES = [
    ("BatchNorm2d", (3,), {}, (4, 3, 5, 4)),
    ("BatchNorm2d", (3,), dict(momentum=None), (4, 3, 2, 3)),
    ("BatchNorm2d", (3,), dict(affine=False, eps=1e-3, momentum=0.3), (2, 3, 3, 3)),
    ("BatchNorm2d", (3,), dict(track_running_stats=False), (2, 3, 3, 3)),
    ("BatchNorm2d", (3,), dict(bias=False), (2, 3, 3, 3)),
    ("BatchNorm1d", (5,), {}, (6, 5)),
    ("BatchNorm1d", (5,), dict(momentum=None), (3, 5, 4)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", range(len(BN_CASES)))
def test_batchnorm_train_then_eval(case, dtype):
    name, args, kwargs, shape = BN_CASES[case]
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    if ours.weight is not None:  # non-trivial affine parameters
        with torch.no_grad():
            theirs.weight.copy_(torch.linspace(0.5, 1.5, args[0]))
            if theirs.bias is not None:
                theirs.bias.copy_(torch.linspace(-1, 1, args[0]))
    x = rand(*shape, dtype=dtype, seed=case) * 2 + 1
    check(ours, theirs, x, dtype, train=True, steps=3, what=f"{name}{kwargs} train")
    if ours.track_running_stats:
        assert int(ours.num_batches_tracked.data) == 3 == int(theirs.num_batches_tracked)
    ours.eval(), theirs.eval()
    xe = rand(*shape, dtype=dtype, seed=case + 10)
    yo, yt = ours(ck.tensor(xe, requires_grad=True)), theirs(torch.tensor(xe))
    assert_close(yo, yt, f"{name}{kwargs} eval forward")
    check(ours, theirs, xe, dtype, train=False, what=f"{name}{kwargs} eval")
    if ours.track_running_stats:
        assert int(ours.num_batches_tracked.data) == 3  # eval does not count


def test_batchnorm_running_stats_keep_identity_and_dtype():
    bn = nn.BatchNorm2d(2)
    rm, rv = bn.running_mean, bn.running_var
    rm_arr = rm.data
    bn(ck.randn(3, 2, 2, 2))
    assert bn.running_mean is rm and bn.running_var is rv and bn.running_mean.data is rm_arr
    assert rm.dtype == np.float32 and not np.all(rm.data == 0)
    assert bn.num_batches_tracked.dtype == np.int64


def test_batchnorm_input_checks():
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected 4D input \(got 3D input"):
        nn.BatchNorm2d(3)(ck.ones(2, 3, 4))
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected 2D or 3D input \(got 4D input"):
        nn.BatchNorm1d(3)(ck.ones(2, 3, 4, 4))
    with pytest.raises(ValueError, match="expected 3 channels"):
        nn.BatchNorm2d(3)(ck.ones(2, 4, 2, 2))
    assert int(nn.BatchNorm2d(3).num_batches_tracked.data) == 0
    with pytest.raises(ValueError, match="num_features"):
        nn.BatchNorm2d(0)


def test_batchnorm_reset():
    bn = nn.BatchNorm1d(2)
    bn.running_mean.data[...] = 3
    bn.num_batches_tracked.data[...] = 7
    bn.weight.data[...] = 5
    bn.reset_parameters()
    assert np.all(bn.running_mean.data == 0) and int(bn.num_batches_tracked.data) == 0
    assert np.all(bn.weight.data == 1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("args", [(5,), (3, 1e-2, 0.5, 2.0), (2,)])
def test_local_response_norm(args, dtype):
    check(nn.LocalResponseNorm(*args), torch.nn.LocalResponseNorm(*args), rand(2, 6, 3, 4, dtype=dtype), dtype,
          what=f"LocalResponseNorm{args}")


# ------------------------------------------------------------------ activations

ACTIVATIONS = [
    ("ReLU", (), "relu"), ("ReLU", (True,), "relu"), ("ReLU6", (), "relu6"), ("LeakyReLU", (), "leaky_relu"),
    ("LeakyReLU", (0.2,), "leaky_relu"), ("Sigmoid", (), "sigmoid"), ("Tanh", (), "tanh"), ("ELU", (), "elu"),
    ("ELU", (0.5,), "elu"), ("GELU", (), "gelu"), ("GELU", ("tanh",), "gelu"), ("Softmax", (1,), "softmax"),
    ("Softmax", (-1,), "softmax"), ("LogSoftmax", (1,), "log_softmax"), ("LogSoftmax", (0,), "log_softmax"),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", range(len(ACTIVATIONS)))
def test_activations(case, dtype):
    name, args, _ = ACTIVATIONS[case]
    x = rand(3, 4, 5, dtype=dtype, seed=case) * 4
    theirs_args = () if args and args[0] is True else args  # torch cannot run inplace on a leaf; ours ignores inplace
    check(getattr(nn, name)(*args), getattr(torch.nn, name)(*theirs_args), x, dtype, what=f"{name}{args}")


def test_softmax_implicit_dim_warns_like_torch():
    for shape in [(4,), (2, 3), (2, 3, 4), (2, 3, 2, 2)]:
        x = rand(*shape)
        with pytest.warns(UserWarning, match="implicit dimension"):
            yo = nn.Softmax()(ck.tensor(x))
        with pytest.warns(UserWarning):
            yt = torch.nn.Softmax()(torch.tensor(x))
        assert_close(yo, yt, f"Softmax() on {shape}")
        with pytest.warns(UserWarning, match="implicit dimension"):
            nn.LogSoftmax()(ck.tensor(x))


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU("fast")


# ------------------------------------------------------------------ dropout


def test_dropout_eval_is_identity_and_train_statistics():
    x = ck.ones(40, 25, 4, 4)
    for layer in (nn.Dropout(0.3), nn.Dropout2d(0.3)):
        layer.eval()
        assert np.array_equal(layer(x).data, x.data)
        layer.train()
        y = layer(x).data
        kept = y != 0
        assert abs(1 - kept.mean() - 0.3) < 0.03
        np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    y = nn.Dropout2d(0.5)(x).data
    per_channel = y.reshape(40, 25, -1)
    assert np.all((per_channel == 0).all(-1) | (per_channel != 0).all(-1))  # whole channels dropped


def test_dropout_seeded_and_backward():
    ck.manual_seed(3)
    x = ck.tensor(rand(10, 10), requires_grad=True)
    a = nn.Dropout()(x)
    ck.manual_seed(3)
    b = nn.Dropout()(ck.tensor(rand(10, 10)))
    assert np.array_equal(a.data, b.data)
    a.sum().backward()
    np.testing.assert_allclose(x.grad.data, (a.data != 0) * 2.0)


def test_dropout_p_check():
    for p in (-0.1, 1.5, "a"):
        with pytest.raises(ValueError, match="between 0 and 1"):
            nn.Dropout(p)


# ------------------------------------------------------------------ upsampling

UPSAMPLE_CASES = [
    dict(scale_factor=2),
    dict(size=(5, 7)),
    dict(scale_factor=(2, 3), mode="nearest"),
    dict(scale_factor=2, mode="bilinear", align_corners=False),
    dict(size=(6, 5), mode="bilinear", align_corners=True),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", range(len(UPSAMPLE_CASES)))
def test_upsample(case, dtype):
    kwargs = UPSAMPLE_CASES[case]
    check(nn.Upsample(**kwargs), torch.nn.Upsample(**kwargs), rand(2, 3, 3, 4, dtype=dtype), dtype,
          what=f"Upsample({kwargs})")


def test_upsampling_shortcuts():
    x = rand(1, 2, 3, 3)
    for ours, theirs in [(nn.UpsamplingNearest2d(scale_factor=2), torch.nn.UpsamplingNearest2d(scale_factor=2)),
                         (nn.UpsamplingBilinear2d(size=5), torch.nn.UpsamplingBilinear2d(size=5))]:
        check(ours, theirs, x, np.float64)


def test_upsample_rejects_both_size_and_scale():
    with pytest.raises(ValueError, match="only one of size or scale_factor"):
        nn.Upsample(size=4, scale_factor=2)
