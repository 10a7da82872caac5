"""max_pool2d on channels-last input (what convolutions return) takes the compiled NHWC kernels: torch parity of
values, indices and gradients, and the layout is kept."""

import numpy as np
import pytest
from oracle import assert_close, per_backend, rand, requires_torch, torch

import cnnkit as ck
import cnnkit.functional as F


def _channels_last(a):
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


@per_backend
@requires_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("args", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                  dict(kernel_size=(3, 2), stride=(1, 2), dilation=2, ceil_mode=True)], ids=str)
@pytest.mark.parametrize("grad_layout", ["channels_last", "contiguous"])
def test_max_pool2d_channels_last_matches_torch(args, dtype, grad_layout, backend):
    x = rand(4, 5, 9, 8, dtype=dtype)
    xo = ck.Tensor(_channels_last(x), requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    y, idx = F.max_pool2d(xo, return_indices=True, **args)
    ref, ref_idx = torch.nn.functional.max_pool2d(xt, return_indices=True, **args)
    assert_close(y, ref, "values")
    np.testing.assert_array_equal(idx.data, ref_idx.numpy())
    assert np.ascontiguousarray(y.data.transpose(0, 2, 3, 1)).strides == y.data.transpose(0, 2, 3, 1).strides
    g = rand(*ref.shape, dtype=dtype, seed=1)
    y.backward(_channels_last(g) if grad_layout == "channels_last" else g)
    ref.backward(torch.tensor(g))
    assert xo.grad.dtype == dtype
    assert_close(xo.grad, xt.grad, "grad input")
