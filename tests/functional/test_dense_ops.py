"""Dense-prediction ops: max_unpool2d (parity with PyTorch forward and backward over a grid, output_size, errors),
the bilinear initialisation of transposed convolutions, and the soft Dice loss (gradcheck, PyTorch formula)."""

import numpy as np
import pytest

import cnnkit as ck
import cnnkit.functional as F
import cnnkit.nn as nn
from cnnkit.kernels import pool as K
from tests.oracle import assert_close, gradcheck, rand, requires_torch, torch

if torch is not None:
    import torch.nn.functional as TF

DTYPES = [np.float32, np.float64]

# shape, kernel_size, stride, padding, whether output_size asks for the pooling's input size
UNPOOL_CONFIGS = [
    ((2, 3, 8, 8), 2, None, 0, False),
    ((1, 2, 7, 9), 2, None, 0, True),  # odd input: output_size recovers the odd size
    ((2, 3, 7, 9), 3, 2, 1, False),  # overlapping windows: an index may repeat
    ((2, 2, 9, 8), 2, 3, 0, True),  # stride > kernel
    ((2, 2, 10, 11), (3, 2), (2, 1), (1, 0), True),  # non-square
    ((1, 1, 5, 5), 5, 1, 2, False),
    ((2, 2, 6, 5), 3, 3, 1, True),
]


def _pool_then_unpool(x, k, s, p, to_input, lib):
    """max-pool ``x`` with indices, then unpool (to the input's size with ``to_input``): the SegNet round trip."""
    pool = F.max_pool2d if lib == "ck" else TF.max_pool2d
    unpool = F.max_unpool2d if lib == "ck" else TF.max_unpool2d
    y, idx = pool(x, k, s, p, return_indices=True)
    size = tuple(x.shape[-2:]) if to_input else None
    return y, idx, unpool(y * 1.5, idx, k, s, p, output_size=size)


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,k,s,p,extra", UNPOOL_CONFIGS)
def test_max_unpool2d_matches_pytorch_forward_and_backward(shape, k, s, p, extra, dtype):
    x = rand(*shape, dtype=dtype, seed=3)
    ours_x, ref_x = ck.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, idx, out = _pool_then_unpool(ours_x, k, s, p, extra, "ck")
    ry, ridx, ref = _pool_then_unpool(ref_x, k, s, p, extra, "torch")
    np.testing.assert_array_equal(idx.data, ridx.numpy())
    assert out.shape == tuple(ref.shape)
    # where windows overlap several pooled values may name one position; PyTorch leaves any one of them there
    # (in practice the last), which equals the others because they are the same input element
    assert_close(out, ref, "max_unpool2d forward")
    g = rand(*ref.shape, dtype=dtype, seed=4)
    out.backward(g)
    ref.backward(torch.tensor(g))
    assert_close(ours_x.grad, ref_x.grad, "max_unpool2d backward through the pooling")


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_max_unpool2d_gradient_of_the_values_matches_pytorch(dtype):
    x = rand(2, 3, 4, 5, dtype=dtype, seed=5)
    idx = np.stack([np.random.default_rng(i).permutation(8 * 10)[:20] for i in range(6)]).reshape(2, 3, 4, 5)
    ours, ref = ck.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out = F.max_unpool2d(ours, ck.tensor(idx), 2)
    r = TF.max_unpool2d(ref, torch.tensor(idx), 2)
    assert_close(out, r, "forward")
    g = rand(*r.shape, dtype=dtype, seed=6)
    out.backward(g)
    r.backward(torch.tensor(g))
    assert_close(ours.grad, ref.grad, "backward")


def test_max_unpool2d_gradcheck_and_reference_loops():
    x = rand(2, 2, 3, 3, seed=1)
    idx = np.stack([np.random.default_rng(i).permutation(36)[:9] for i in range(4)]).reshape(2, 2, 3, 3)
    assert gradcheck(lambda t: F.max_unpool2d(t, ck.tensor(idx), 2), [x])
    np.testing.assert_array_equal(K.max_unpool2d_forward(x, idx, (6, 6)), K.max_unpool2d_reference(x, idx, (6, 6)))


def test_max_unpool2d_module_unbatched_and_sizes():
    x = ck.tensor(rand(3, 7, 9, dtype=np.float32))
    y, idx = nn.MaxPool2d(2, return_indices=True)(x)
    unpool = nn.MaxUnpool2d(2)
    assert unpool(*nn.MaxPool2d(2, return_indices=True)(x[:, :6, :8])).shape == (3, 6, 8)
    assert unpool(y, idx, output_size=(7, 9)).shape == (3, 7, 9)
    assert unpool(y, idx, output_size=(1, 3, 7, 9)).shape == (3, 7, 9)
    assert "kernel_size=2, stride=2" in repr(unpool)


def test_max_unpool2d_errors_name_expected_and_received():
    y, idx = F.max_pool2d(ck.tensor(rand(1, 1, 6, 6, dtype=np.float32)), 2, return_indices=True)
    with pytest.raises(ck.InputError, match=r"output_size \(9, 6\) is not possible.*\(4, 8\)"):
        F.max_unpool2d(y, idx, 2, output_size=(9, 6))
    with pytest.raises(ck.InputError, match="indices must have the input's shape"):
        F.max_unpool2d(y, idx.data[:, :, :2], 2)
    with pytest.raises(ck.InputError, match=r"index 99 is outside the output plane of 6x6"):
        F.max_unpool2d(y, np.full(y.shape, 99), 2)
    with pytest.raises(ck.InputError, match="indices must be integers"):
        F.max_unpool2d(y, y, 2)


# ------------------------------------------------------------------------------------------------ bilinear_
def test_bilinear_kernel_values():
    np.testing.assert_allclose(nn.init.bilinear_kernel(4)[0], [0.0625, 0.1875, 0.1875, 0.0625])
    np.testing.assert_allclose(nn.init.bilinear_kernel(3)[0], [0.25, 0.5, 0.25])


@pytest.mark.parametrize("channels,size", [(1, (5, 6)), (3, (8, 8)), (4, (7, 5))])
def test_bilinear_transposed_conv_equals_bilinear_interpolation_inside_the_border(channels, size):
    up = nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1, bias=False)
    nn.init.bilinear_(up.weight)
    x = ck.tensor(rand(2, channels, *size, dtype=np.float32, seed=channels))
    ours = up(x).numpy()
    ref = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False).numpy()
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours[..., 1:-1, 1:-1], ref[..., 1:-1, 1:-1], atol=1e-5)
    assert not np.allclose(ours[..., 0, :], ref[..., 0, :])  # the border is where they differ (zero padding)


def test_bilinear_fill_rules():
    w = np.ones((3, 3, 4, 4), np.float32)
    nn.init.bilinear_(w)
    assert w[0, 1].sum() == 0 and np.isclose(w[2, 2].sum(), 4.0)
    depthwise = nn.ConvTranspose2d(3, 3, 4, stride=2, groups=3)
    nn.init.bilinear_(depthwise.weight)
    assert np.allclose(depthwise.weight.numpy().sum(axis=(2, 3)), 4.0)
    with pytest.raises(ck.InputError, match="4-D weight"):
        nn.init.bilinear_(np.ones((3, 3), np.float32))


# ------------------------------------------------------------------------------------------------ Dice loss
def _torch_dice(x, t, smooth=1.0, ignore_index=-100, weight=None):
    valid = (t != ignore_index)
    p = torch.softmax(x, 1) * valid[:, None]
    onehot = TF.one_hot(torch.where(valid, t, 0), x.shape[1]).movedim(-1, 1).to(x.dtype) * valid[:, None]
    dims = (0, *range(2, x.ndim))
    dice = (2 * (p * onehot).sum(dims) + smooth) / (p.sum(dims) + onehot.sum(dims) + smooth)
    loss = 1 - dice
    return loss.mean() if weight is None else (loss * weight).sum() / weight.sum()


def test_dice_loss_gradcheck_float64():
    x = rand(2, 3, 4, 5, seed=2)
    t = np.random.default_rng(0).integers(0, 3, (2, 4, 5))
    t[0, 0] = 255
    assert gradcheck(lambda a: F.dice_loss(a, ck.tensor(t), ignore_index=255), [x])
    assert gradcheck(lambda a: F.dice_loss(a, ck.tensor(t), ignore_index=255, weight=np.array([1.0, 2.0, 0.5]),
                                           smooth=0.0), [x])


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,smooth,ignore,weighted", [((2, 3, 4, 5), 1.0, 255, False),
                                                           ((1, 4, 7, 3), 0.0, -100, True),
                                                           ((3, 2, 6), 0.5, 255, False),
                                                           ((2, 5, 3, 3, 2), 1.0, -100, False)])
def test_dice_loss_matches_the_formula_in_pytorch(shape, smooth, ignore, weighted, dtype):
    x = rand(*shape, dtype=dtype, seed=7)
    t = np.random.default_rng(1).integers(0, shape[1], (shape[0], *shape[2:]))
    if ignore == 255:
        t.reshape(-1)[::3] = 255
    w = np.linspace(0.5, 2.0, shape[1]).astype(dtype) if weighted else None
    ours, ref = ck.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    loss = F.dice_loss(ours, ck.tensor(t), weight=w, ignore_index=ignore, smooth=smooth)
    r = _torch_dice(ref, torch.tensor(t), smooth, ignore, None if w is None else torch.tensor(w))
    assert_close(loss, r, "dice forward")
    loss.backward()
    r.backward()
    assert_close(ours.grad, ref.grad, "dice backward")


def test_dice_loss_perfect_prediction_is_near_zero_and_module_reductions():
    t = np.random.default_rng(0).integers(0, 3, (2, 8, 8))
    logits = ck.tensor(np.eye(3, dtype=np.float32)[t].transpose(0, 3, 1, 2) * 30)
    assert F.dice_loss(logits, t).item() < 1e-3
    assert nn.DiceLoss(reduction="none")(logits, t).shape == (3,)
    assert nn.DiceLoss(reduction="sum")(logits, t).item() < 3e-3
    with pytest.raises(ck.InputError, match=r"target must have shape \(2, 8, 8\)"):
        F.dice_loss(logits, t[:, :4])
    with pytest.raises(ck.InputError, match="out of range for 3 classes"):
        F.dice_loss(logits, t + 5)
