"""dropout and dropout2d: mask statistics and scale, identity outside training, seeded repeatability, the
backward pass reusing the mask, whole-channel masks, torch parity given the same mask, and errors."""

import numpy as np
import pytest
from oracle import assert_close, rand, requires_torch, torch

import cnnkit as ck
import cnnkit.functional as F

if torch is not None:
    import torch.nn.functional as TF


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_mask_statistics_and_scale(p, dtype):
    x = ck.tensor(np.ones((200, 100), dtype=dtype))
    y = F.dropout(x, p=p)
    assert y.dtype == dtype and y.shape == x.shape
    zeros = float(np.mean(y.data == 0))
    assert abs(zeros - p) < 0.02  # 20,000 draws: the standard deviation is at most 0.0036
    kept = y.data[y.data != 0]
    np.testing.assert_array_equal(kept, np.asarray(1 / (1 - p), dtype=dtype))
    assert abs(float(y.data.mean()) - 1.0) < 0.1  # inverted dropout keeps the expectation


@pytest.mark.parametrize("fn", [F.dropout, F.dropout2d], ids=["dropout", "dropout2d"])
def test_identity_when_not_training_or_p_zero(fn):
    x = ck.tensor(rand(2, 3, 4, 5, dtype=np.float32), requires_grad=True)
    assert fn(x, 0.5, training=False) is x
    assert fn(x, p=0.0) is x
    assert fn(x, p=1.0, training=False) is x


@pytest.mark.parametrize("fn", [F.dropout, F.dropout2d], ids=["dropout", "dropout2d"])
def test_p_one_gives_zeros_and_zero_grad(fn):
    x = ck.tensor(rand(2, 3, 4, 5, dtype=np.float32), requires_grad=True)
    y = fn(x, p=1.0)
    assert np.all(y.data == 0) and np.all(np.isfinite(y.data))
    y.backward(np.ones(y.shape, dtype=np.float32))
    assert np.all(x.grad.data == 0)


@pytest.mark.parametrize("fn", [F.dropout, F.dropout2d], ids=["dropout", "dropout2d"])
def test_seeded_repeatability(fn):
    x = ck.tensor(rand(4, 6, 3, 3, dtype=np.float32))
    ck.manual_seed(7)
    a = fn(x, 0.5).data
    b = fn(x, 0.5).data
    ck.manual_seed(7)
    c = fn(x, 0.5).data
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fn", [F.dropout, F.dropout2d], ids=["dropout", "dropout2d"])
def test_backward_uses_the_forward_mask(fn, dtype):
    p = 0.3
    x = ck.tensor(rand(3, 8, 2, 2, dtype=dtype, low=1.0), requires_grad=True)  # no zeros in x
    y = fn(x, p)
    g = rand(*y.shape, dtype=dtype, seed=5)
    y.backward(g)
    assert x.grad.dtype == dtype
    kept = y.data != 0
    scale = np.asarray(1 / (1 - p), dtype=dtype)
    np.testing.assert_array_equal(x.grad.data, np.where(kept, g * scale, 0))
    np.testing.assert_array_equal(y.data, np.where(kept, x.data * scale, 0))


@pytest.mark.parametrize("shape", [(6, 50, 3, 4), (300, 2, 3)], ids=str)
def test_dropout2d_zeroes_whole_channels(shape):
    p = 0.4
    x = ck.tensor(rand(*shape, dtype=np.float32, low=1.0))
    y = F.dropout2d(x, p).data
    planes = y.reshape(-1, shape[-2] * shape[-1])  # one row per (sample, channel), or per channel
    dead = np.all(planes == 0, axis=1)
    alive = np.all(planes != 0, axis=1)
    assert np.all(dead | alive)
    assert abs(float(dead.mean()) - p) < 0.08
    ref = x.data.reshape(planes.shape) * np.float32(1 / (1 - p))
    np.testing.assert_array_equal(planes[alive], ref[alive])


def test_dropout_zeroes_elements_independently():
    x = ck.tensor(np.ones((8, 16, 4, 4), dtype=np.float32))
    planes = F.dropout(x, 0.5).data.reshape(8 * 16, 16)
    assert np.any(np.any(planes == 0, axis=1) & np.any(planes != 0, axis=1))


@requires_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fn", ["dropout", "dropout2d"])
def test_matches_torch_given_the_same_mask(fn, dtype):
    """Torch's inverted dropout with our mask: x * m / (1 - p) forward and g * m / (1 - p) backward; and the
    same identity / all-zero results as torch at training=False and p=1."""
    p = 0.25
    arr = rand(2, 5, 3, 3, dtype=dtype, low=0.5)
    ours = getattr(F, fn)
    theirs = getattr(TF, fn)
    x = ck.tensor(arr, requires_grad=True)
    y = ours(x, p)
    mask = torch.tensor(y.data != 0)
    xt = torch.tensor(arr, requires_grad=True)
    ref = torch.where(mask, xt / (1 - p), torch.zeros((), dtype=xt.dtype))
    assert_close(y, ref, f"{fn} forward")
    g = rand(*arr.shape, dtype=dtype, seed=3)
    y.backward(g)
    ref.backward(torch.tensor(g))
    assert_close(x.grad, xt.grad, f"{fn} backward")
    assert_close(ours(x, p, training=False), theirs(torch.tensor(arr), p, training=False), f"{fn} eval")
    assert_close(ours(x, 1.0), theirs(torch.tensor(arr), 1.0), f"{fn} p=1")
    assert_close(ours(x, 0.0), theirs(torch.tensor(arr), 0.0), f"{fn} p=0")


def test_errors():
    x = ck.tensor(rand(2, 3, 4, 4, dtype=np.float32))
    with pytest.raises(ValueError, match=r"^dropout: dropout probability p must be between 0 and 1, got 1.5"):
        F.dropout(x, 1.5)
    with pytest.raises(ValueError, match=r"^dropout2d: dropout probability p must be between 0 and 1, got -0.1"):
        F.dropout2d(x, -0.1)
    with pytest.raises(ValueError, match=r"^dropout: dropout probability"):
        F.dropout(x, 2.0, training=False)  # checked in eval mode too, as torch
    with pytest.raises(TypeError, match=r"^dropout: p must be a real number, got '0.5'"):
        F.dropout(x, "0.5")
    with pytest.raises(TypeError, match=r"^dropout: expected a floating-point input, got dtype int64"):
        F.dropout(ck.tensor([1, 2, 3]))
    with pytest.raises(TypeError, match=r"^dropout: training must be a bool, got 'yes'"):
        F.dropout(x, 0.5, "yes")
    with pytest.raises(ValueError, match=r"^dropout2d: expected a 4-D input \(N, C, H, W\) or a 3-D unbatched input \(C, H, W\), "
                                         r"got shape \(2, 3\)"):
        F.dropout2d(ck.tensor(rand(2, 3, dtype=np.float32)))
