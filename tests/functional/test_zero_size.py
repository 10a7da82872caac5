"""Empty inputs as PyTorch 2.13 handles them: a batch of 0 images runs forward and backward through every op
(parameters get zero gradients), transposed convolutions with a side of size 0 give an empty result, mean-reduced
losses of nothing are NaN; where PyTorch raises, cnnkit raises an InputError."""

import numpy as np
import pytest
from oracle import assert_close, compare_with_torch, rand, requires_torch, torch

import cnnkit as ck
import cnnkit.functional as F
import cnnkit.nn as nn

if torch is not None:
    import torch.nn.functional as TF

pytestmark = requires_torch

DTYPES = [np.float32, np.float64]


# (name, ours, torch's, input shapes): every input is float and gets a gradient
EMPTY_BATCH = [
    ("conv2d", lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1, groups=2),
     lambda x, w, b: TF.conv2d(x, w, b, stride=2, padding=1, groups=2), [(0, 4, 7, 6), (6, 2, 3, 3), (6,)]),
    ("conv2d same", lambda x, w: F.conv2d(x, w, padding="same"), lambda x, w: TF.conv2d(x, w, padding="same"),
     [(0, 3, 5, 5), (2, 3, 3, 3)]),
    ("conv_transpose2d", lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1),
     lambda x, w, b: TF.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1),
     [(0, 2, 3, 4), (2, 3, 3, 3), (3,)]),
    ("max_pool2d", lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True),
     lambda x: TF.max_pool2d(x, 3, 2, 1, ceil_mode=True), [(0, 3, 7, 6)]),
    ("avg_pool2d", lambda x: F.avg_pool2d(x, 2, count_include_pad=False, padding=1),
     lambda x: TF.avg_pool2d(x, 2, count_include_pad=False, padding=1), [(0, 3, 7, 6)]),
    ("adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, (2, 3)), lambda x: TF.adaptive_avg_pool2d(x, (2, 3)),
     [(0, 3, 7, 6)]),
    ("adaptive_max_pool2d", lambda x: F.adaptive_max_pool2d(x, 2), lambda x: TF.adaptive_max_pool2d(x, 2),
     [(0, 3, 7, 6)]),
    ("relu", F.relu, lambda x: TF.relu(x), [(0, 3, 4, 4)]),
    ("relu6", F.relu6, lambda x: TF.relu6(x), [(0, 3, 4, 4)]),
    ("leaky_relu", lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2), [(0, 3, 4, 4)]),
    ("elu", F.elu, lambda x: TF.elu(x), [(0, 3, 4, 4)]),
    ("gelu", F.gelu, lambda x: TF.gelu(x), [(0, 3, 4, 4)]),
    ("gelu tanh", lambda x: F.gelu(x, approximate="tanh"), lambda x: TF.gelu(x, approximate="tanh"),
     [(0, 3, 4, 4)]),
    ("sigmoid", F.sigmoid, lambda x: torch.sigmoid(x), [(0, 3, 4, 4)]),
    ("tanh", F.tanh, lambda x: torch.tanh(x), [(0, 3, 4, 4)]),
    ("hardtanh", F.hardtanh, lambda x: TF.hardtanh(x), [(0, 3, 4, 4)]),
    ("softmax", lambda x: F.softmax(x, 1), lambda x: TF.softmax(x, 1), [(0, 5)]),
    ("log_softmax", lambda x: F.log_softmax(x, 1), lambda x: TF.log_softmax(x, 1), [(0, 5)]),
    ("linear", F.linear, lambda x, w, b: TF.linear(x, w, b), [(0, 4), (3, 4), (3,)]),
    ("linear 3-D", F.linear, lambda x, w, b: TF.linear(x, w, b), [(2, 0, 4), (3, 4), (3,)]),
    ("linear no features", F.linear, lambda x, w, b: TF.linear(x, w, b), [(2, 0), (3, 0), (3,)]),
    ("dropout eval", lambda x: F.dropout(x, 0.5, training=False), lambda x: TF.dropout(x, 0.5, training=False),
     [(0, 3)]),
    ("interpolate", lambda x: F.interpolate(x, scale_factor=2, mode="bilinear"),
     lambda x: TF.interpolate(x, scale_factor=2, mode="bilinear"), [(0, 2, 3, 3)]),
    ("interpolate bicubic", lambda x: F.interpolate(x, size=(2, 5), mode="bicubic", antialias=True),
     lambda x: TF.interpolate(x, size=(2, 5), mode="bicubic", antialias=True), [(0, 2, 6, 3)]),
    ("pad reflect", lambda x: F.pad(x, (1, 2, 2, 1), mode="reflect"),
     lambda x: TF.pad(x, (1, 2, 2, 1), mode="reflect"), [(0, 2, 3, 4)]),
    ("pad constant", lambda x: F.pad(x, (1, 2, 2, 1)), lambda x: TF.pad(x, (1, 2, 2, 1)), [(0, 2, 3, 4)]),
    ("flatten", lambda x: F.flatten(x, 1), lambda x: torch.flatten(x, 1), [(0, 3, 4, 4)]),
    ("reshape", lambda x: x.reshape(-1, 48), lambda x: x.reshape(-1, 48), [(0, 3, 4, 4)]),
    ("local_response_norm", lambda x: F.local_response_norm(x, 2), lambda x: TF.local_response_norm(x, 2),
     [(0, 3, 4, 4)]),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,ours,theirs,shapes", EMPTY_BATCH, ids=[c[0] for c in EMPTY_BATCH])
def test_empty_batch_forward_and_backward(name, ours, theirs, shapes, dtype):
    arrays = [rand(*s, dtype=dtype, seed=i) for i, s in enumerate(shapes)]
    out, ref = compare_with_torch(ours, theirs, arrays, what=name)
    assert out.shape == tuple(ref.shape) and out.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("shape", [(0, 3, 4, 4), (0, 3), (2, 3, 0, 4)])
def test_batch_norm_of_nothing(shape, training, dtype):
    """PyTorch returns an empty result (no 'more than 1 value' error) and leaves the running statistics alone."""
    c = shape[1]
    rm, rv = rand(c, dtype=dtype, seed=1), rand(c, dtype=dtype, seed=2, low=0.5)
    ours_rm, ours_rv = rm.copy(), rv.copy()
    theirs_rm, theirs_rv = torch.tensor(rm), torch.tensor(rv)
    compare_with_torch(lambda x, w, b: F.batch_norm(x, ours_rm, ours_rv, w, b, training=training),
                       lambda x, w, b: TF.batch_norm(x, theirs_rm, theirs_rv, w, b, training=training),
                       [rand(*shape, dtype=dtype), rand(c, dtype=dtype, seed=3), rand(c, dtype=dtype, seed=4)],
                       what=f"batch_norm training={training}")
    np.testing.assert_array_equal(ours_rm, rm)
    np.testing.assert_array_equal(ours_rv, rv)
    assert_close(ours_rm, theirs_rm)
    assert_close(ours_rv, theirs_rv)


def test_batch_norm_of_one_value_per_channel_is_still_an_error():
    with pytest.raises(ValueError):
        TF.batch_norm(torch.zeros(1, 3, 1, 1), None, None, training=True)
    with pytest.raises(ck.InputError, match="expected more than 1 value per channel when training"):
        F.batch_norm(ck.tensor(np.zeros((1, 3, 1, 1))), None, None, training=True)


def test_dropout_of_an_empty_batch_in_training():
    for fn in (F.dropout, F.dropout2d):
        x = ck.tensor(np.zeros((0, 3, 4, 4)), requires_grad=True)
        y = fn(x, 0.5, training=True)
        y.backward(np.zeros(y.shape))
        assert y.shape == (0, 3, 4, 4) and x.grad.shape == (0, 3, 4, 4)


def test_max_pool_indices_of_an_empty_batch():
    out, idx = F.max_pool2d(ck.tensor(np.zeros((0, 2, 6, 6), np.float32)), 2, return_indices=True)
    ref, ref_idx = TF.max_pool2d(torch.zeros(0, 2, 6, 6), 2, return_indices=True)
    assert out.shape == tuple(ref.shape) and idx.shape == tuple(ref_idx.shape) and idx.dtype == np.int64


# ------------------------------------------------------------------------------ transposed conv, empty output

TRANSPOSE_EMPTY = [
    # (input shape, weight shape, kwargs): output sides (OH, OW)
    ((2, 2, 3, 1), (2, 3, 1, 2), dict(padding=(0, 1))),  # 3x0
    ((2, 2, 1, 1), (2, 3, 2, 2), dict(padding=1)),  # 0x0
    ((3, 4, 2, 1), (4, 3, 2, 2), dict(padding=(1, 1), stride=(2, 1), groups=2)),  # 2x0, grouped
    ((0, 2, 3, 1), (2, 3, 1, 2), dict(padding=(0, 1))),  # and an empty batch too
]


@pytest.mark.parametrize("x_shape,w_shape,kwargs", TRANSPOSE_EMPTY)
def test_conv_transpose2d_with_an_empty_output_like_torch(x_shape, w_shape, kwargs):
    """PyTorch's batched float32 path returns the empty result (its float64 and single-image paths raise 'Output
    size is too small' instead); cnnkit returns it for every dtype and batch size, with zero gradients."""
    out, ref = compare_with_torch(lambda x, w, b: F.conv_transpose2d(x, w, b, **kwargs),
                                  lambda x, w, b: TF.conv_transpose2d(x, w, b, **kwargs),
                                  [rand(*x_shape, dtype=np.float32), rand(*w_shape, dtype=np.float32, seed=1),
                                   rand(w_shape[1] * kwargs.get("groups", 1), dtype=np.float32, seed=2)],
                                  what=f"conv_transpose2d {kwargs}")
    assert 0 in out.shape


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch", [1, 2])
def test_conv_transpose2d_with_an_empty_output_any_dtype_and_batch(batch, dtype):
    x = ck.tensor(rand(batch, 2, 3, 1, dtype=dtype), requires_grad=True)
    w = ck.tensor(rand(2, 3, 1, 2, dtype=dtype, seed=1), requires_grad=True)
    b = ck.tensor(rand(3, dtype=dtype, seed=2), requires_grad=True)
    y = F.conv_transpose2d(x, w, b, padding=(0, 1))
    assert y.shape == (batch, 3, 3, 0) and y.dtype == dtype
    y.backward(np.zeros(y.shape, dtype))
    for t in (x, w, b):
        assert t.grad.dtype == dtype and not t.grad.data.any()
    unbatched = F.conv_transpose2d(ck.tensor(rand(2, 3, 1, dtype=dtype)), w, padding=(0, 1))
    assert unbatched.shape == (3, 3, 0)


# ------------------------------------------------------------------------------ losses of nothing


LOSSES = [
    ("cross_entropy", lambda: (rand(0, 4), np.zeros(0, np.int64)), {}),
    ("cross_entropy", lambda: (rand(0, 4, 2, 3), np.zeros((0, 2, 3), np.int64)), {}),
    ("cross_entropy", lambda: (rand(0, 4), np.zeros(0, np.int64)), dict(label_smoothing=0.1)),
    ("cross_entropy", lambda: (rand(0, 4), np.zeros(0, np.int64)), dict(weight=np.arange(1.0, 5.0))),
    ("cross_entropy", lambda: (rand(0, 4), np.zeros((0, 4))), {}),  # class probabilities
    ("nll_loss", lambda: (rand(0, 4), np.zeros(0, np.int64)), {}),
    ("mse_loss", lambda: (rand(0, 3), rand(0, 3)), {}),
    ("l1_loss", lambda: (rand(0, 3), rand(0, 3)), {}),
    ("smooth_l1_loss", lambda: (rand(0, 3), rand(0, 3)), {}),
    ("huber_loss", lambda: (rand(0, 3), rand(0, 3)), {}),
    ("binary_cross_entropy", lambda: (rand(0, 3, low=0.0) * 0.5, rand(0, 3, low=0.0)), {}),
    ("binary_cross_entropy_with_logits", lambda: (rand(0, 3), rand(0, 3, low=0.0)), {}),
]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name,make,kwargs", LOSSES, ids=[f"{c[0]}-{i}" for i, c in enumerate(LOSSES)])
def test_losses_of_an_empty_batch_like_torch(name, make, kwargs, reduction):
    """'mean' of nothing is NaN (PyTorch: 0/0), 'sum' is 0, 'none' is empty; the input gradient is empty."""
    x, t = make()
    tkw = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    xo, xt = ck.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    lo = getattr(F, name)(xo, t, reduction=reduction, **kwargs)
    lt = getattr(TF, name)(xt, torch.tensor(t), reduction=reduction, **tkw)
    assert lo.shape == tuple(lt.shape)
    np.testing.assert_array_equal(np.isnan(lo.data), np.isnan(lt.detach().numpy()))
    if reduction != "mean":
        assert_close(lo, lt)
    lo.backward(np.ones(lo.shape))
    lt.backward(torch.ones(lt.shape, dtype=lt.dtype))
    assert xo.grad.shape == tuple(xt.grad.shape) == x.shape


# ------------------------------------------------------------------------------ where PyTorch raises


RAISES = [
    ("conv2d, no rows", lambda m: m.conv2d(_t(m, 1, 2, 0, 5), _t(m, 3, 2, 1, 1)), "conv2d: input must have non-empty"),
    ("conv2d, kernel larger than the input", lambda m: m.conv2d(_t(m, 0, 2, 2, 5), _t(m, 3, 2, 3, 3)),
     "is larger than the padded input"),
    ("conv_transpose2d, no rows", lambda m: m.conv_transpose2d(_t(m, 1, 2, 0, 3), _t(m, 2, 3, 3, 3)),
     "conv_transpose2d: input must have non-empty"),
    ("conv_transpose2d, negative output", lambda m: m.conv_transpose2d(_t(m, 2, 2, 3, 1), _t(m, 2, 3, 1, 1),
                                                                       padding=(0, 1)),
     r"the output size would be 3x-1, which is not positive"),
    ("max_pool2d, no channels", lambda m: m.max_pool2d(_t(m, 1, 0, 4, 4), 2), "max_pool2d: input must have non-empty"),
    ("avg_pool2d, no columns", lambda m: m.avg_pool2d(_t(m, 1, 2, 4, 0), 2), "avg_pool2d: input must have non-empty"),
    ("max_pool2d, unbatched without channels", lambda m: m.max_pool2d(_t(m, 0, 4, 4), 2),
     "max_pool2d: input must have non-empty"),
    ("max_pool2d, window too large", lambda m: m.max_pool2d(_t(m, 0, 2, 4, 4), 5), "is too small for kernel_size"),
    ("adaptive_max_pool2d, no rows", lambda m: m.adaptive_max_pool2d(_t(m, 1, 2, 0, 4), 2),
     "adaptive_max_pool2d: input must have non-empty"),
    ("interpolate, no channels", lambda m: m.interpolate(_t(m, 1, 0, 3, 3), size=(6, 6)),
     "interpolate: input must have non-empty"),
    ("interpolate, empty output", lambda m: m.interpolate(_t(m, 0, 2, 3, 3), size=(0, 6)),
     "interpolate: the output size must be positive"),
    ("pad reflect, no channels", lambda m: m.pad(_t(m, 1, 0, 3, 3), (1, 1, 1, 1), mode="reflect"),
     "pad: mode 'reflect' needs non-empty dimensions"),
    ("pad circular, empty rows", lambda m: m.pad(_t(m, 1, 2, 0, 3), (1, 1, 1, 1), mode="circular"),
     "pad: circular padding may wrap around at most once"),
    ("reshape, ambiguous -1", lambda m: _t(m, 0, 3, 4, 4).reshape(0, -1), "reshape: cannot reshape"),
]


def _t(module, *shape):
    if module is F:
        return ck.tensor(np.zeros(shape, np.float32))
    return torch.zeros(shape)


@pytest.mark.parametrize("name,call,message", RAISES, ids=[c[0] for c in RAISES])
def test_raises_where_torch_raises(name, call, message):
    with pytest.raises((RuntimeError, ValueError, NotImplementedError)):
        call(TF)
    with pytest.raises(ck.InputError, match=message):
        call(F)


# ------------------------------------------------------------------------------ a network on an empty batch


def _nets():
    ck.manual_seed(0)
    ours = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(4 * 4 * 4, 5))
    theirs = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                 torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(4 * 4 * 4, 5))
    return ours, theirs


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("training", [True, False])
def test_sequential_conv_bn_relu_pool_linear_on_an_empty_batch(training, dtype):
    ours, theirs = _nets()
    theirs.to(torch.float32 if dtype == np.float32 else torch.float64)
    ours.to(dtype)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    ours.train(training)
    theirs.train(training)
    x = np.zeros((0, 3, 8, 8), dtype)
    xo, xt = ck.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yo, yt = ours(xo), theirs(xt)
    assert yo.shape == tuple(yt.shape) == (0, 5) and yo.dtype == dtype
    lo = F.cross_entropy(yo, np.zeros(0, np.int64))
    lt = TF.cross_entropy(yt, torch.zeros(0, dtype=torch.long))
    assert np.isnan(lo.item()) and np.isnan(lt.item())
    lo.backward()
    lt.backward()
    assert xo.grad.shape == (0, 3, 8, 8)
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        assert p.grad is not None, name
        assert_close(p.grad, theirs_params[name].grad, f"{name} gradient")
        assert not p.grad.data.any(), name
    theirs_state = theirs.state_dict()
    for name, value in ours.state_dict().items():  # running statistics untouched, num_batches_tracked counted
        assert_close(np.asarray(value), theirs_state[name].numpy(), name)
