"""The oneDNN kernel set against the reference kernels and PyTorch (float32): convolution, transposed convolution,
max/average pooling and batch norm over grids of configurations, which geometries run on oneDNN itself, the weight
copies kept per parameter update (and never stale), and inference fusion.

Where the library cannot load, the module is skipped with its reason (shown by ``-ra``); the fallback to the
reference kernels is tested in ``test_backend.py`` wherever the suite runs."""

from __future__ import annotations

import numpy as np
import pytest

import cnnkit as ck
import cnnkit.nn.functional as F
from cnnkit.kernels import backend

if "onednn" not in ck.available_backends():
    pytest.skip(f"oneDNN backend unavailable here: {backend.describe().get('onednn')}", allow_module_level=True)

try:
    import torch
    import torch.nn.functional as TF
except ImportError:  # pragma: no cover - the reference kernels are the oracle then
    torch = None

ONEDNN = backend._load("onednn")
RTOL = ATOL = 2e-4


def _rng():
    return np.random.default_rng(7)


def _run(backend_name, fn, arrays, grad_seed=3):
    """fn(*tensors) on a backend; returns the output and the gradients of every input, as arrays."""
    with ck.set_backend(backend_name):
        ts = [ck.tensor(a, requires_grad=True) for a in arrays]
        y = fn(*ts)
        g = np.random.default_rng(grad_seed).standard_normal(y.shape, dtype=np.float32)
        y.backward(g)
    return [y.numpy()] + [t.grad.numpy() for t in ts], g


def _torch(fn, arrays, g):
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    y = fn(*ts)
    y.backward(torch.tensor(g))
    return [y.detach().numpy()] + [t.grad.numpy() for t in ts]


def _close(ours, ref, what):
    for i, (a, b) in enumerate(zip(ours, ref, strict=True)):
        scale = max(1.0, float(np.abs(b).max()))
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL * scale, err_msg=f"{what}: output {i}")


def _check(fn, tfn, arrays, what, native=True):
    before = sum(ONEDNN.fallbacks.values())
    ours, g = _run("onednn", fn, arrays)
    ran_on_reference = sum(ONEDNN.fallbacks.values()) - before
    ref, _ = _run("numpy", fn, arrays)
    _close(ours, ref, f"{what} vs reference")
    if torch is not None:
        _close(ours, _torch(tfn, arrays, g), f"{what} vs torch")
    if native:
        assert ran_on_reference == 0, f"{what}: ran on the reference kernels ({dict(ONEDNN.fallbacks)})"


# (N, C, H, W), out_channels, kernel, stride, padding, dilation, groups
CONV = [
    ((2, 3, 9, 9), 4, 3, 1, 1, 1, 1),
    ((1, 4, 7, 10), 6, 3, 2, 0, 1, 2),  # batch 1, odd sizes, groups
    ((2, 8, 7, 7), 8, 3, 1, 2, 2, 8),  # depthwise, dilation
    ((3, 5, 11, 11), 7, 2, 3, 1, 1, 1),  # stride > kernel
    ((2, 6, 9, 8), 6, (3, 1), (2, 1), (1, 0), (1, 2), 3),  # non-square everything
    ((2, 1, 12, 12), 6, 5, 1, 2, 1, 1),  # one input channel (LeNet's first layer)
    ((2, 16, 6, 6), 32, 1, 2, 0, 1, 1),  # 1x1 projection with stride
]


@pytest.mark.parametrize("cfg", CONV)
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_matches_reference_and_torch(cfg, bias):
    shape, o, k, s, p, d, g = cfg
    k2 = k if isinstance(k, tuple) else (k, k)
    rng = _rng()
    arrays = [rng.standard_normal(shape, dtype=np.float32),
              rng.standard_normal((o, shape[1] // g, *k2), dtype=np.float32) * 0.3]
    if bias:
        arrays.append(rng.standard_normal(o, dtype=np.float32))
    _check(lambda *t: F.conv2d(*t, stride=s, padding=p, dilation=d, groups=g),
           lambda *t: TF.conv2d(*t, stride=s, padding=p, dilation=d, groups=g), arrays, f"conv2d{cfg}")


def test_conv2d_accepts_nchw_and_channels_last_inputs_and_gradients():
    rng = _rng()
    x = rng.standard_normal((2, 4, 8, 8), dtype=np.float32)
    w = rng.standard_normal((5, 4, 3, 3), dtype=np.float32)
    x_cl = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    a, _ = _run("onednn", lambda t, u: F.conv2d(t, u, padding=1), [x, w])
    b, _ = _run("onednn", lambda t, u: F.conv2d(t, u, padding=1), [x_cl, w])
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    assert a[0].transpose(0, 2, 3, 1).flags.c_contiguous  # outputs are channels-last, like the reference's


# (N, C, H, W), out_channels, kernel, stride, padding, output_padding, dilation, groups
DECONV = [
    ((2, 3, 5, 5), 4, 3, 2, 1, 1, 1, 1),
    ((2, 4, 6, 7), 6, 3, 1, 0, 0, 2, 2),
    ((1, 4, 4, 4), 2, 4, 2, 1, 0, 1, 1),  # the DCGAN up-sampling shape, batch 1
    ((2, 6, 5, 4), 6, (3, 2), (3, 2), (1, 0), (2, 1), 1, 3),  # stride > kernel, output padding, groups
]


@pytest.mark.parametrize("cfg", DECONV)
def test_conv_transpose2d_matches_reference_and_torch(cfg):
    shape, o, k, s, p, op, d, g = cfg
    k2 = k if isinstance(k, tuple) else (k, k)
    rng = _rng()
    arrays = [rng.standard_normal(shape, dtype=np.float32),
              rng.standard_normal((shape[1], o // g, *k2), dtype=np.float32) * 0.3,
              rng.standard_normal(o, dtype=np.float32)]
    _check(lambda *t: F.conv_transpose2d(*t, stride=s, padding=p, output_padding=op, dilation=d, groups=g),
           lambda *t: TF.conv_transpose2d(*t, stride=s, padding=p, output_padding=op, dilation=d, groups=g),
           arrays, f"conv_transpose2d{cfg}")


def test_output_padding_beyond_the_stride_falls_back_to_the_reference():
    rng = _rng()  # output_padding < dilation but >= stride: PyTorch allows it, oneDNN's geometry does not
    arrays = [rng.standard_normal((1, 2, 4, 4), dtype=np.float32),
              rng.standard_normal((2, 3, 3, 3), dtype=np.float32)]
    _check(lambda *t: F.conv_transpose2d(*t, stride=1, output_padding=1, dilation=2),
           lambda *t: TF.conv_transpose2d(*t, stride=1, output_padding=1, dilation=2), arrays, "deconv op>=s",
           native=False)


# (N, C, H, W), kernel, stride, padding, dilation, ceil_mode, runs on oneDNN
MAX = [
    ((2, 3, 8, 8), 2, 2, 0, 1, False, True),
    ((2, 3, 7, 9), 3, 2, 1, 1, False, True),
    ((2, 3, 7, 9), 3, 2, 1, 1, True, True),
    ((1, 2, 6, 5), 3, 1, 1, 1, False, True),  # overlapping windows, batch 1
    ((2, 2, 9, 8), 2, 3, 0, 1, False, True),  # stride > kernel
    ((2, 2, 9, 8), 2, 3, 1, 1, True, True),
    ((2, 2, 5, 6), 4, 3, 0, 1, True, True),  # ceil mode's partial window
    ((2, 2, 10, 11), (2, 3), (1, 2), (0, 1), (2, 1), False, False),  # dilation: oneDNN 3.2 has only its ref
]


@pytest.mark.parametrize("cfg", MAX)
def test_max_pool2d_matches_reference_and_torch(cfg):
    shape, k, s, p, d, cm, native = cfg
    x = _rng().standard_normal(shape, dtype=np.float32)
    _check(lambda t: F.max_pool2d(t, k, s, p, d, cm), lambda t: TF.max_pool2d(t, k, s, p, d, cm), [x],
           f"max_pool2d{cfg}", native=native)


def test_max_pool2d_with_indices_runs_on_the_reference():
    assert not ONEDNN.supports("max_pool2d", np.dtype(np.float32), return_indices=True)
    x = ck.tensor(_rng().standard_normal((1, 2, 4, 4), dtype=np.float32))
    _, idx = F.max_pool2d(x, 2, return_indices=True)
    assert idx.numpy().dtype == np.int64


# (N, C, H, W), kernel, stride, padding, ceil_mode
AVG = [
    ((2, 3, 8, 8), 2, 2, 0, False),
    ((2, 3, 7, 9), 3, 2, 1, False),
    ((2, 3, 7, 9), 3, 2, 1, True),
    ((1, 2, 6, 5), 3, 1, 1, False),
    ((2, 2, 9, 8), 2, 3, 1, True),  # the last window runs past the padded input
    ((2, 2, 5, 6), 4, 3, 2, True),
    ((2, 2, 5, 7), (5, 7), 1, 0, False),  # a global average
]


@pytest.mark.parametrize("cfg", AVG)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d_matches_reference_and_torch(cfg, count_include_pad):
    shape, k, s, p, cm = cfg
    x = _rng().standard_normal(shape, dtype=np.float32)
    # ceil mode with padding and count_include_pad: PyTorch's divisor leaves out the extra ceil padding, oneDNN's
    # would not, so those run on the reference
    native = not (cm and count_include_pad and p)
    _check(lambda t: F.avg_pool2d(t, k, s, p, cm, count_include_pad),
           lambda t: TF.avg_pool2d(t, k, s, p, cm, count_include_pad), [x], f"avg_pool2d{cfg} {count_include_pad}",
           native=native)


@pytest.mark.parametrize("layout", ["nchw", "channels_last", "2d"])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_matches_reference_and_torch(layout, training, affine, monkeypatch):
    monkeypatch.setenv("CNNKIT_ONEDNN_BATCH_NORM", "1")  # on every CPU, whether or not it is the default here
    rng = _rng()
    shape = (6, 5) if layout == "2d" else (3, 5, 4, 7)
    x = rng.standard_normal(shape, dtype=np.float32) * 2 + 0.5
    if layout == "channels_last":
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    params = [rng.uniform(0.5, 1.5, 5).astype(np.float32), rng.standard_normal(5, dtype=np.float32)]
    stats = {}
    outputs = {}
    for name in ("onednn", "numpy"):
        rm, rv = np.full(5, 0.2, np.float32), np.full(5, 1.5, np.float32)
        arrays = [x] + (params if affine else [])

        def fn(t, *wb, rm=rm, rv=rv):
            return F.batch_norm(t, rm, rv, *(wb or (None, None)), training=training, momentum=0.3)

        outputs[name], g = _run(name, fn, arrays)
        stats[name] = (rm, rv)
    _close(outputs["onednn"], outputs["numpy"], "batch_norm vs reference")
    for a, b in zip(stats["onednn"], stats["numpy"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    if torch is not None:
        rm, rv = torch.full((5,), 0.2), torch.full((5,), 1.5)
        ts = [torch.tensor(a, requires_grad=True) for a in [x] + (params if affine else [])]
        y = TF.batch_norm(ts[0], rm, rv, *(ts[1:] or [None, None]), training=training, momentum=0.3)
        y.backward(torch.tensor(g))
        _close(outputs["onednn"], [y.detach().numpy()] + [t.grad.numpy() for t in ts], "batch_norm vs torch")
        np.testing.assert_allclose(stats["onednn"][1], rv.numpy(), rtol=1e-5)


def test_batch_norm_runs_on_onednn_only_where_it_is_faster(monkeypatch):
    isa = ONEDNN.describe()["isa"]
    assert ONEDNN.supports("batch_norm", np.dtype(np.float32), training=True) == isa.startswith(("avx512", "avx10"))
    monkeypatch.setenv("CNNKIT_ONEDNN_BATCH_NORM", "1")
    assert ONEDNN.supports("batch_norm", np.dtype(np.float32), training=True)


def test_float64_runs_on_the_reference():
    assert not ONEDNN.supports("conv2d", np.dtype(np.float64))
    assert backend.kernels_for("batch_norm", np.float64, training=True).name == "numpy"


def test_primitives_are_oneDNN_jit_kernels_never_its_reference_loops():
    x = ck.tensor(_rng().standard_normal((4, 8, 10, 10), dtype=np.float32), requires_grad=True)
    conv = ck.nn.Conv2d(8, 8, 3, padding=1)
    with ck.set_backend("onednn"):
        F.max_pool2d(conv(x), 2).sum().backward()
    impls = [step[0].prim.impl for plan in ONEDNN._plans.values() if hasattr(plan, "steps")
             for step in plan.steps.values() if isinstance(step, tuple)]
    assert impls and not any(i.startswith("ref") for i in impls), impls


# ------------------------------------------------------------------------------------------ weight copies
def _conv_model():
    ck.manual_seed(0)
    return ck.nn.Sequential(ck.nn.Conv2d(3, 4, 3, padding=1), ck.nn.BatchNorm2d(4), ck.nn.ReLU())


def test_weight_copies_are_rebuilt_once_per_optimizer_step_in_training():
    model = _conv_model()
    opt = ck.optim.SGD(model.parameters(), lr=0.1)
    x = ck.tensor(_rng().standard_normal((2, 3, 6, 6), dtype=np.float32))
    with ck.set_backend("onednn"):
        model(x).sum().backward()  # builds the forward and backward-data copies
        builds = ONEDNN.weights.builds
        compares = ONEDNN.weights.compares
        for _ in range(3):
            opt.zero_grad()
            model(x).sum().backward()
            opt.step()
        # one forward copy per step (the first input needs no backward-data copy), nothing compared
        assert ONEDNN.weights.builds - builds <= 3 * 2 and ONEDNN.weights.compares == compares


@pytest.mark.parametrize("how", ["data[...]", "in-place op", "load_state_dict", "optimizer"])
def test_a_weight_changed_in_place_is_never_served_stale(how):
    model = _conv_model().eval()
    x = ck.tensor(_rng().standard_normal((2, 3, 6, 6), dtype=np.float32))
    conv = model[0]
    with ck.set_backend("onednn"), ck.no_grad():
        for _ in range(3):  # built, rebuilt with a snapshot, then reused after a comparison
            model(x)
        if how == "data[...]":
            conv.weight.data[...] = conv.weight.data * -2.0
        elif how == "in-place op":
            conv.weight.data *= 0.5
            model[1].running_var.data += 1.0
        elif how == "load_state_dict":
            state = {k: v.copy() if hasattr(v, "copy") else v for k, v in model.state_dict().items()}
            state["0.weight"] = np.ones_like(state["0.weight"])
            model.load_state_dict(state)
        else:
            conv.weight.grad = ck.tensor(np.ones_like(conv.weight.data))
            ck.optim.SGD([conv.weight], lr=0.5).step()
        fused = model(x).numpy()
    with ck.set_backend("numpy"), ck.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(fused, expected, rtol=1e-4, atol=1e-5)


def test_weight_copies_die_with_their_parameter():
    model = _conv_model()
    x = ck.tensor(_rng().standard_normal((2, 3, 6, 6), dtype=np.float32))
    with ck.set_backend("onednn"):
        model(x)
    n = len(ONEDNN.weights)
    del model
    import gc

    gc.collect()
    assert len(ONEDNN.weights) < n


# ------------------------------------------------------------------------------------------ fusion
def test_eval_conv_bn_relu_runs_as_one_fused_primitive():
    from cnnkit.nn.utils import PendingConv

    model = _conv_model()
    bn = model[1]
    rng = _rng()
    bn.running_mean.data[...] = rng.standard_normal(4).astype(np.float32)
    bn.running_var.data[...] = rng.uniform(0.5, 2, 4).astype(np.float32)
    bn.weight.data[...] = rng.uniform(0.5, 1.5, 4).astype(np.float32)
    model.eval()
    x = ck.tensor(rng.standard_normal((2, 3, 6, 6), dtype=np.float32))
    with ck.set_backend("onednn"), ck.no_grad():
        y = model(x)
        assert isinstance(y, PendingConv) and y.shape == (2, 4, 6, 6)
        fused = y.numpy()
        with ck.enable_grad():
            assert not isinstance(model(x), PendingConv)  # recording a graph: no fusion
    with ck.set_backend("numpy"), ck.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(fused, expected, rtol=1e-5, atol=1e-5)
    assert fused.min() >= 0


def test_fuse_conv_bn_folds_explicitly_on_any_backend():
    from cnnkit.nn.utils import fuse_conv_bn

    model = _conv_model()
    model[1].running_var.data[...] = 2.0
    model.eval()
    fused = fuse_conv_bn(model)
    assert type(fused[1]).__name__ == "Identity"
    x = ck.tensor(_rng().standard_normal((2, 3, 6, 6), dtype=np.float32))
    with ck.set_backend("numpy"), ck.no_grad():
        np.testing.assert_allclose(fused(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-5)


def test_python_threads_calling_the_same_primitive_get_their_own_results():
    import threading

    rng = _rng()
    w = ck.tensor(rng.standard_normal((4, 3, 3, 3), dtype=np.float32))
    inputs = [rng.standard_normal((2, 3, 8, 8), dtype=np.float32) for _ in range(4)]
    with ck.set_backend("numpy"), ck.no_grad():
        expected = [F.conv2d(ck.tensor(x), w, padding=1).numpy() for x in inputs]
    results = [None] * 4

    def work(i):  # (no_grad is process-wide state: not entered from several threads at once)
        for _ in range(20):
            results[i] = F.conv2d(ck.tensor(inputs[i]), w, padding=1).numpy()

    with ck.set_backend("onednn"):
        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for got, want in zip(results, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_a_residual_block_fuses_its_addition_and_relu():
    from cnnkit.models.resnet import BasicBlock
    from cnnkit.nn.utils import PendingConv

    ck.manual_seed(0)
    block = BasicBlock(4, 4).eval()
    for bn in (block.bn1, block.bn2):
        bn.running_var.data[...] = 1.7
        bn.running_mean.data[...] = 0.1
    x = ck.tensor(_rng().standard_normal((2, 4, 6, 6), dtype=np.float32))
    with ck.set_backend("onednn"), ck.no_grad():
        y = block(x)
        assert isinstance(y, PendingConv) and y._recipe[7] is not None and y._recipe[6]  # + identity, then relu
        fused = y.numpy()
    with ck.set_backend("numpy"), ck.no_grad():
        expected = block(x).numpy()
    np.testing.assert_allclose(fused, expected, rtol=1e-5, atol=1e-5)


def test_training_results_do_not_depend_on_how_busy_the_machine_is(monkeypatch):
    """The load-adapted thread count may change between calls; convolution backward-weights and batch norm sum over
    the batch across threads, so they keep the configured count: a seed gives the same gradients when a neighbour
    process takes a core (the kill -9 + resume and resume-matrix promises rely on it)."""
    from cnnkit.kernels import _contention

    monkeypatch.setattr(_contention, "enabled", lambda: True)
    previous = ck.get_num_threads()
    ck.set_num_threads(2)
    rng = _rng()
    x0 = rng.standard_normal((16, 16, 32, 32), dtype=np.float32)
    w0 = rng.standard_normal((16, 16, 3, 3), dtype=np.float32)
    bn = ck.nn.BatchNorm2d(16)

    def gradients():
        with ck.set_backend("onednn"):
            x, w = ck.tensor(x0, requires_grad=True), ck.tensor(w0, requires_grad=True)
            y = bn(F.conv2d(x, w, padding=1))
            y.backward(np.random.default_rng(3).standard_normal(y.shape, dtype=np.float32))
            return [np.asarray(a).copy() for a in (y.data, x.grad, w.grad, bn.weight.grad)]

    monkeypatch.setattr(_contention, "free_cores", lambda wanted: wanted)  # an idle machine
    idle = gradients()
    bn.zero_grad()
    monkeypatch.setattr(_contention, "free_cores", lambda wanted: 1)  # a neighbour keeps one of the two cores
    busy = gradients()
    ck.set_num_threads(previous)
    for a, b in zip(idle, busy, strict=True):
        assert np.array_equal(a, b)
