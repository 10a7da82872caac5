"""Shape and indexing ops: torch parity (forward and backward), gradchecks and errors."""

import numpy as np
import pytest
from oracle import compare_with_torch, gradcheck, rand, requires_torch

import cnnkit as ck

CASES = [
    ("reshape", lambda t: t.reshape(4, 6), lambda t: t.reshape(4, 6)),
    ("reshape-1", lambda t: t.reshape(-1, 3), lambda t: t.reshape(-1, 3)),
    ("view", lambda t: t.view(2, 12), lambda t: t.view(2, 12)),
    ("flatten", lambda t: t.flatten(1), lambda t: t.flatten(1)),
    ("permute", lambda t: t.permute(2, 0, 1), lambda t: t.permute(2, 0, 1)),
    ("transpose", lambda t: t.transpose(0, 2), lambda t: t.transpose(0, 2)),
    ("unsqueeze", lambda t: t.unsqueeze(1), lambda t: t.unsqueeze(1)),
    ("squeeze", lambda t: t[:, :1].squeeze(1), lambda t: t[:, :1].squeeze(1)),
    ("slice", lambda t: t[1:, ::2, -1], lambda t: t[1:, ::2, -1]),
    ("int-array", lambda t: t[[0, 1, 0], 2], lambda t: t[[0, 1, 0], 2]),
    ("bool-mask", lambda t: t[t > 0], lambda t: t[t > 0]),
    ("cat", lambda t: ck.cat([t, t * 2], axis=1), lambda t: __import__("torch").cat([t, t * 2], dim=1)),
    ("stack", lambda t: ck.stack([t, t + 1], axis=-1), lambda t: __import__("torch").stack([t, t + 1], dim=-1)),
    ("split", lambda t: t.split([1, 2], axis=1)[1], lambda t: t.split([1, 2], dim=1)[1]),
    ("chunk", lambda t: t.chunk(2, axis=2)[1], lambda t: t.chunk(2, dim=2)[1]),
    ("pad", lambda t: ck.pad(t, (1, 2, 0, 1)), lambda t: __import__("torch").nn.functional.pad(t, (1, 2, 0, 1))),
    ("where", lambda t: ck.where(t > 0, t, t * 3), lambda t: __import__("torch").where(t > 0, t, t * 3)),
    ("expand", lambda t: t[:, :1].expand(2, 3, 4), lambda t: t[:, :1].expand(2, 3, 4)),
]


@requires_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,ours,theirs", CASES, ids=[c[0] for c in CASES])
def test_shape_ops_match_torch(name, ours, theirs, dtype):
    x = rand(2, 3, 4, dtype=dtype)
    compare_with_torch(ours, theirs, [x], what=name)
    if dtype == np.float64:
        assert gradcheck(ours, [x])


def test_repeated_integer_indices_accumulate():
    x = ck.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 0, 2]].sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2, 0, 1])


def test_tensor_index_accepted():
    x = ck.tensor(rand(5, 2), requires_grad=True)
    idx = ck.tensor([4, 1])
    assert x[idx].shape == (2, 2)


def test_split_and_chunk_sizes():
    x = ck.arange(10)
    assert [p.shape[0] for p in ck.split(x.float(), 3)] == [3, 3, 3, 1]
    assert [p.shape[0] for p in ck.chunk(x.float(), 3)] == [4, 4, 2]


def test_errors_name_the_op_and_shapes():
    x = ck.tensor(rand(2, 3))
    with pytest.raises(ValueError, match=r"reshape: cannot reshape a tensor of shape \(2, 3\) \(6 elements\) into \(4, 2\)"):
        x.reshape(4, 2)
    with pytest.raises(ValueError, match="cat: tensor 1 has shape"):
        ck.cat([x, ck.tensor(rand(2, 4))], axis=0)
    with pytest.raises(ValueError, match="stack: tensor 1 has shape"):
        ck.stack([x, ck.tensor(rand(3, 2))])
    with pytest.raises(ValueError, match="permute"):
        x.permute(0, 0)
    with pytest.raises(ValueError, match="split: sections"):
        ck.split(x, [1, 1], axis=1)
    with pytest.raises(ValueError, match="pad: expected an even number"):
        ck.pad(x, (1,))


def test_pad_and_indexing_gradient_keep_a_channels_last_layout():
    """A channels-last input (what convolutions return) gives a channels-last pad result and indexing gradient."""
    rng = np.random.default_rng(3)
    nhwc = rng.standard_normal((2, 5, 6, 4)).astype(np.float32)
    x = ck.tensor(nhwc.transpose(0, 3, 1, 2), requires_grad=True)  # an NCHW view of NHWC memory
    assert not x.data.flags.c_contiguous
    padded = ck.functional.pad(x[:, :, ::2, ::2], (1, 0, 0, 2, 1, 1))
    want = np.pad(x.data[:, :, ::2, ::2], ((0, 0), (1, 1), (0, 2), (1, 0)))
    np.testing.assert_array_equal(padded.data, want)
    assert padded.data.transpose(0, 2, 3, 1).flags.c_contiguous
    g = rng.standard_normal(padded.shape).astype(np.float32)
    padded.backward(g)
    assert x.grad.data.transpose(0, 2, 3, 1).flags.c_contiguous
    expected = np.zeros(x.shape, np.float32)
    expected[:, :, ::2, ::2] = g[:, 1:5, 0:3, 1:]
    np.testing.assert_array_equal(x.grad.data, expected)
