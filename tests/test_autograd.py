"""The Tensor type and the backpropagation engine."""

import gc

import numpy as np
import pytest
from oracle import assert_close, rand, requires_torch, torch

import cnnkit as ck


def test_tensor_defaults_and_dtypes():
    assert ck.tensor([1.0, 2.0]).dtype == np.float32
    assert ck.tensor([1, 2]).dtype == np.int64
    assert ck.tensor(np.zeros(3)).dtype == np.float64  # NumPy arrays keep their dtype, as torch.tensor does
    assert ck.tensor([1.0], dtype="float64").dtype == np.float64
    assert ck.zeros(2, 3).shape == (2, 3) and ck.ones((2, 3)).dtype == np.float32
    t = ck.tensor([[1.0, 2.0]])
    assert t.shape == (1, 2) and t.ndim == 2 and t.numel() == 2 and t.size(1) == 2
    assert (t.float().dtype, t.double().dtype) == (np.float32, np.float64)


def test_tensor_copies_but_as_tensor_shares():
    a = np.ones(3, dtype=np.float32)
    t = ck.tensor(a)
    a[0] = 5
    assert t.data[0] == 1
    assert ck.as_tensor(a).data is a


def test_mixed_dtypes_promote_like_numpy():
    a = ck.tensor([1.0, 2.0])
    b = ck.tensor(np.array([1.0, 2.0]))
    assert (a + b).dtype == np.float64
    assert (a * 2.5).dtype == np.float32  # Python scalars do not promote


def test_item_numpy_detach():
    x = ck.tensor([3.0], requires_grad=True)
    y = x * 2
    assert y.item() == 6.0
    d = y.detach()
    assert d.grad_fn is None and not d.requires_grad and d.data is y.data
    assert isinstance(x.numpy(), np.ndarray)
    with pytest.raises(ValueError, match="one-element"):
        ck.tensor([1.0, 2.0]).item()


def test_requires_grad_only_on_floats():
    with pytest.raises(TypeError, match="floating-point"):
        ck.tensor([1, 2], requires_grad=True)


def test_scalar_backward_and_accumulation():
    x = ck.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2, 4, 6])
    (x * 3).sum().backward()  # accumulates, as PyTorch
    np.testing.assert_allclose(x.grad.numpy(), [5, 7, 9])
    assert isinstance(x.grad, ck.Tensor) and x.grad.dtype == np.float32


def test_backward_on_non_scalar_needs_grad():
    x = ck.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="scalar output.*shape \\(2,\\)"):
        y.backward()
    y.backward(np.array([1.0, 10.0], dtype=np.float32))
    np.testing.assert_allclose(x.grad.numpy(), [2, 20])
    with pytest.raises(ValueError, match="grad has shape"):
        (x * 2).backward(np.ones(3))


def test_backward_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        ck.tensor([1.0]).sum().backward()


def test_second_backward_needs_retain_graph():
    x = ck.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4, 8])
    z = (x * x).sum()
    z.backward()
    with pytest.raises(RuntimeError, match="second time"):
        z.backward()


def test_diamond_graph_accumulates():
    x = ck.tensor([2.0], requires_grad=True)
    a = x * 3
    y = a * a + a  # dy/dx = (2a + 1) * 3 = 39
    y.backward(np.ones(1, dtype=np.float32))
    np.testing.assert_allclose(x.grad.numpy(), [39.0])


def test_shared_node_waits_for_every_consumer():
    # i feeds the numerator directly and the denominator through another node: its gradient is complete only
    # after both consumers ran (d/dx of x^2 / (5 - x^2) at x = 2 is 2x * 5 / (5 - x^2)^2 = 20)
    x = ck.tensor([2.0], requires_grad=True, dtype="float64")
    i = x * x
    (i / (5.0 - i)).backward(np.ones(1))
    np.testing.assert_allclose(x.grad.numpy(), [20.0])
    y = ck.tensor([1.5, 0.5], requires_grad=True, dtype="float64")
    assert ck.gradcheck(lambda t: (lambda s: s[:1] - (t[1:] - s[:1]) * s[1:])(t * 2), (y,))


def test_deep_chain_has_no_recursion_limit():
    x = ck.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(5000):
        y = y + 1.0
    y.backward(np.ones(1, dtype=np.float32))
    assert x.grad.item() == 1.0


def test_no_grad_records_nothing():
    x = ck.tensor([1.0], requires_grad=True)
    with ck.no_grad():
        y = x * 2
    assert y.grad_fn is None and not y.requires_grad
    assert ck.is_grad_enabled()

    @ck.no_grad()
    def f(t):
        return t * 2

    assert f(x).grad_fn is None


def test_graph_is_freed_after_backward():
    x = ck.tensor(np.ones((100, 100), dtype=np.float32), requires_grad=True)
    y = (x * 2).exp()
    node = y.grad_fn
    y.sum().backward()
    assert not node.__dict__  # saved arrays released


def test_graph_freed_when_output_dropped():
    import weakref

    x = ck.tensor(np.ones(10, dtype=np.float32), requires_grad=True)
    y = (x * 2).exp()
    ref = weakref.ref(y.grad_fn)
    del y
    gc.collect()
    assert ref() is None


def test_tensor_hooks_and_retain_grad():
    x = ck.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    h.retain_grad()
    seen = []
    h.register_hook(lambda g: seen.append(g.numpy().copy()))
    handle = x.register_hook(lambda g: g * 10)
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), [6, 12])
    np.testing.assert_allclose(seen[0], [6, 12])
    np.testing.assert_allclose(x.grad.numpy(), [180, 360])
    handle.remove()
    x.grad = None
    (x * 1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1, 1])


def test_broadcast_gradients_reduce_to_input_shape():
    a = ck.tensor(rand(4, 3), requires_grad=True)
    b = ck.tensor(rand(3, seed=1), requires_grad=True)
    c = ck.tensor(rand(4, 1, seed=2), requires_grad=True)
    ((a * b + c) / (b * b + 1)).sum().backward()
    assert a.grad.shape == (4, 3) and b.grad.shape == (3,) and c.grad.shape == (4, 1)
    assert ck.gradcheck(lambda a, b, c: (a * b + c) / (b * b + 1), [a, b, c])


def test_gradcheck_reports_a_wrong_gradient():
    class Wrong(ck.Function):
        def forward(self, a):
            return a * 2

        def backward(self, g):
            return g * 3

    x = ck.tensor(rand(3), requires_grad=True)
    with pytest.raises(AssertionError, match="backprop 3 vs finite difference 2"):
        ck.gradcheck(lambda t: Wrong.apply(t), [x], grad_output=np.ones(3))


def test_function_records_op_name_and_attributes():
    x = ck.tensor(rand(2, 3), requires_grad=True)
    y = x.sum(axis=1, keepdims=True)
    assert type(y.grad_fn).__name__ == "Sum"
    assert y.grad_fn.attrs == {"axis": (1,), "keepdims": True}
    assert y.grad_fn.inputs[0] is x


def test_manual_seed_repeats():
    ck.manual_seed(3)
    a = ck.randn(4).numpy().copy()
    ck.manual_seed(3)
    assert np.array_equal(a, ck.randn(4).numpy())
    state = ck.get_rng_state()
    b = ck.rand(3).numpy().copy()
    ck.set_rng_state(state)
    assert np.array_equal(b, ck.rand(3).numpy())


def test_setitem_guarded_on_grad_tensors():
    x = ck.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        x[0] = 5.0
    with ck.no_grad():
        x[0] = 5.0
    assert x.data[0] == 5.0


@requires_torch
def test_composite_expression_matches_torch():
    a, b = rand(3, 4), rand(4, 2, seed=1)

    def ours(a, b):
        return ((a @ b).exp() / (1 + (a @ b) ** 2)).sum(axis=0).sqrt()

    def theirs(a, b):
        return ((a @ b).exp() / (1 + (a @ b) ** 2)).sum(dim=0).sqrt()

    x, y = ck.tensor(a, requires_grad=True), ck.tensor(b, requires_grad=True)
    tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    out, ref = ours(x, y), theirs(tx, ty)
    assert_close(out, ref)
    out.sum().backward()
    ref.sum().backward()
    assert_close(x.grad, tx.grad)
    assert_close(y.grad, ty.grad)


def test_declared_tensor_methods_are_the_attached_ones():
    """autograd.py declares (for editors and type checkers) exactly the operators and methods that
    cnnkit.functional attaches to Tensor at import time."""
    import ast
    import inspect

    from cnnkit import autograd
    from cnnkit.functional import math, shape

    tree = ast.parse(inspect.getsource(autograd.Tensor))
    block = next(node for node in ast.walk(tree)
                 if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING")
    declared = {node.name for node in block.body if isinstance(node, ast.FunctionDef)}

    class Probe:
        pass

    math.attach_tensor_methods(Probe)
    shape.attach_tensor_methods(Probe)
    attached = set(vars(Probe)) - set(vars(type("Empty", (), {}))) - {"__hash__"}  # __hash__: object's own
    assert declared == attached
