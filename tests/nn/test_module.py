"""Module and Parameter: registration, traversal order, shared parameters, modes, hooks, dtype casts,
state_dict / load_state_dict and repr (against PyTorch's text)."""

import copy
import pickle
from collections import OrderedDict

import numpy as np
import pytest
from oracle import requires_torch, torch

import cnnkit as ck
import cnnkit.nn as nn


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c)

    def forward(self, x):
        return self.bn(self.conv(x))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), Block(4))
        self.scale = nn.Parameter(ck.ones(1))
        self.fc = nn.Linear(4, 3)
        self.register_buffer("steps", np.zeros(2, dtype=np.float32))
        self.register_buffer("cache", np.zeros(1, dtype=np.float32), persistent=False)

    def forward(self, x):
        x = self.features(x)
        return self.fc(x.mean(axis=(2, 3))) * self.scale


# ------------------------------------------------------------------ Parameter


def test_parameter_defaults_and_repr():
    p = nn.Parameter(np.zeros(3, dtype=np.float32))
    assert isinstance(p, ck.Tensor) and p.requires_grad and p.is_leaf
    assert repr(p).startswith("Parameter containing:\ntensor(")
    assert "requires_grad=True" in repr(p)
    assert not nn.Parameter(ck.zeros(2), requires_grad=False).requires_grad
    t = ck.zeros(2)
    assert nn.Parameter(t).data is t.data  # shares the array
    assert nn.Parameter().shape == (0,)


def test_parameter_results_are_plain_tensors():
    p = nn.Parameter(ck.ones(2))
    y = p * 2
    assert type(y) is ck.Tensor and type(p.detach()) is ck.Tensor


def test_parameter_copy_and_pickle():
    p = nn.Parameter(ck.ones(2))
    q = copy.deepcopy(p)
    assert isinstance(q, nn.Parameter) and q.data is not p.data and np.array_equal(q.data, p.data)
    r = pickle.loads(pickle.dumps(p))
    assert isinstance(r, nn.Parameter) and r.requires_grad and np.array_equal(r.data, p.data)


# ------------------------------------------------------------------ registration and traversal


def test_named_parameters_order_and_names():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "features.0.weight", "features.0.bias", "features.2.conv.weight",
                     "features.2.bn.weight", "features.2.bn.bias", "fc.weight", "fc.bias"]
    assert [n for n, _ in net.named_parameters(recurse=False)] == ["scale"]
    assert [n for n, _ in net.named_parameters(prefix="m")][0] == "m.scale"
    assert [n for n, _ in net.named_buffers()] == ["steps", "cache", "features.2.bn.running_mean",
                                                   "features.2.bn.running_var",
                                                   "features.2.bn.num_batches_tracked"]
    assert [n for n, _ in net.named_children()] == ["features", "fc"]
    assert [n for n, _ in net.named_modules()] == ["", "features", "features.0", "features.1", "features.2",
                                                 "features.2.conv", "features.2.bn", "fc"]
    assert len(list(net.parameters())) == 8 and len(list(net.modules())) == 8


@requires_torch
def test_parameter_order_matches_torch():
    class TBlock(torch.nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv = torch.nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn = torch.nn.BatchNorm2d(c)

    class TNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.features = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), TBlock(4))
            self.scale = torch.nn.Parameter(torch.ones(1))
            self.fc = torch.nn.Linear(4, 3)
            self.register_buffer("steps", torch.zeros(2))
            self.register_buffer("cache", torch.zeros(1), persistent=False)

    t, ours = TNet(), Net()
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in t.named_modules()]
    assert list(ours.state_dict()) == list(t.state_dict())


def test_shared_parameters_and_modules_counted_once():
    lin = nn.Linear(3, 3)
    model = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(model.parameters())) == 2
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    assert model.num_parameters() == 12
    assert [n for n, _ in model.named_modules()] == ["", "0", "1"]
    assert len(list(model.named_modules(remove_duplicate=False))) == 4
    # state_dict lists every name, as PyTorch does
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]

    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.Linear(4, 2, bias=False)
            self.dec = nn.Linear(2, 4, bias=False)
            self.dec.weight = self.enc.weight

    tied = Tied()
    assert [n for n, _ in tied.named_parameters()] == ["enc.weight"]
    assert [n for n, _ in tied.named_parameters(remove_duplicate=False)] == ["enc.weight", "dec.weight"]


def test_setattr_rules():
    m = nn.Module()
    m.w = nn.Parameter(ck.zeros(2))
    assert "w" in m._parameters and "w" not in m.__dict__
    with pytest.raises(TypeError, match="parameter 'w'"):
        m.w = ck.zeros(2)
    m.w = None
    assert m.w is None and list(m.parameters()) == []
    m.child = nn.ReLU()
    with pytest.raises(TypeError, match="child module 'child'"):
        m.child = 3
    m.register_buffer("b", np.ones(2))
    assert isinstance(m.b, ck.Tensor)
    m.b = np.zeros(2)
    assert isinstance(m.b, ck.Tensor) and m.b.data.sum() == 0
    with pytest.raises(TypeError, match="buffer 'c'"):
        m.register_buffer("c", [1, 2])
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("child", np.ones(1))
    with pytest.raises(KeyError, match=r'contain "\."'):
        m.register_parameter("a.b", None)
    m.plain = 3
    assert m.plain == 3 and "plain" in m.__dict__
    m.plain = nn.Parameter(ck.zeros(1))  # a parameter replaces the plain attribute
    assert "plain" not in m.__dict__ and "plain" in m._parameters
    del m.child
    assert "child" not in m._modules
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'nope'"):
        _ = m.nope


def test_assign_before_init_is_an_error():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(ck.zeros(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Bad()


def test_non_leaf_parameter_rejected():
    m = nn.Module()
    p = nn.Parameter(ck.ones(2))
    with pytest.raises(TypeError):
        m.register_parameter("x", p * 2)


def test_get_submodule_and_friends():
    net = Net()
    assert net.get_submodule("features.2.bn") is net.features[2].bn
    assert net.get_submodule("") is net
    assert net.get_parameter("fc.weight") is net.fc.weight
    assert net.get_buffer("features.2.bn.running_var") is net.features[2].bn.running_var
    with pytest.raises(AttributeError, match="no submodule `nope`"):
        net.get_submodule("features.nope")
    with pytest.raises(AttributeError, match="no parameter `w`"):
        net.get_parameter("fc.w")


def test_add_module_and_apply():
    m = nn.Module()
    m.add_module("a", nn.Linear(2, 2))
    m.add_module("empty", None)
    with pytest.raises(TypeError, match="not a Module"):
        m.add_module("b", 3)
    assert [n for n, _ in m.named_children()] == ["a"]
    seen = []
    m.apply(lambda mod: seen.append(type(mod).__name__))
    assert seen == ["Linear", "Module"]


def test_forward_missing():
    with pytest.raises(NotImplementedError, match="missing the required \"forward\""):
        nn.Module()(1)


# ------------------------------------------------------------------ modes and gradients


def test_train_eval_propagate():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net.features.train(False)
    assert net.training and not net.features[2].bn.training
    with pytest.raises(ValueError, match="bool"):
        net.train("yes")


def test_train_goes_through_overridden_child_train():
    class FrozenBN(nn.BatchNorm2d):
        def train(self, mode=True):
            return super().train(False)  # stays in eval mode

    model = nn.Sequential(nn.Conv2d(1, 2, 1), FrozenBN(2))
    model.train()
    assert model.training and model[0].training and not model[1].training


def test_zero_grad_and_requires_grad():
    lin = nn.Linear(3, 2)
    lin(ck.randn(4, 3)).sum().backward()
    assert lin.weight.grad is not None
    lin.zero_grad(set_to_none=False)
    assert np.all(lin.weight.grad.data == 0)
    lin.zero_grad()
    assert lin.weight.grad is None and lin.bias.grad is None
    assert lin.requires_grad_(False) is lin
    assert not any(p.requires_grad for p in lin.parameters())
    assert lin.num_parameters(only_trainable=True) == 0 and lin.num_parameters() == 8


# ------------------------------------------------------------------ hooks


def test_forward_hooks_order_replace_and_remove():
    lin = nn.Linear(2, 2)
    calls = []

    def pre(mod, args):
        calls.append("pre")
        return args[0] * 0  # a single value replaces the args

    def post(mod, args, out):
        calls.append("post")
        assert np.all(args[0].data == 0)
        return out + 1

    h1 = lin.register_forward_pre_hook(pre)
    h2 = lin.register_forward_hook(post)
    y = lin(ck.ones(1, 2))
    assert calls == ["pre", "post"]
    np.testing.assert_allclose(y.data, lin.bias.data[None] + 1, rtol=1e-6)
    h1.remove()
    h2.remove()
    h2.remove()  # idempotent
    x = ck.ones(1, 2)
    np.testing.assert_allclose(lin(x).data, (x.data @ lin.weight.data.T + lin.bias.data), rtol=1e-6)
    assert calls == ["pre", "post"]


def test_hooks_prepend_kwargs_and_context_manager():
    m = nn.Identity()
    order = []
    m.register_forward_hook(lambda mod, a, o: order.append(1))
    m.register_forward_hook(lambda mod, a, o: order.append(0), prepend=True)
    m(ck.ones(1))
    assert order == [0, 1]

    class Scale(nn.Module):
        def forward(self, x, factor=1.0):
            return x * factor

    s = Scale()
    with s.register_forward_pre_hook(lambda mod, a, kw: (a, {"factor": 3.0}), with_kwargs=True):
        assert s(ck.ones(1)).item() == 3.0
    assert s(ck.ones(1)).item() == 1.0
    seen = {}
    s.register_forward_hook(lambda mod, a, kw, out: seen.update(kw), with_kwargs=True)
    s(ck.ones(1), factor=2.0)
    assert seen == {"factor": 2.0}


def test_hooks_collect_activations_of_a_model():
    net = Net()
    shapes = {}
    for name, mod in net.named_modules():
        if name:
            mod.register_forward_hook(lambda m, a, o, name=name: shapes.__setitem__(name, o.shape))
    net(ck.randn(2, 1, 6, 6))
    assert shapes["features.0"] == (2, 4, 4, 4) and shapes["fc"] == (2, 3)


# ------------------------------------------------------------------ dtype


def test_to_double_keeps_identity():
    net = Net()
    params = list(net.parameters())
    rm = net.features[2].bn.running_mean
    net(ck.randn(2, 1, 6, 6)).sum().backward()
    assert net.double() is net
    assert all(p is q for p, q in zip(params, net.parameters(), strict=True))
    assert all(p.dtype == np.float64 and p.grad.dtype == np.float64 for p in net.parameters())
    assert net.features[2].bn.running_mean is rm and rm.dtype == np.float64
    assert net.features[2].bn.num_batches_tracked.dtype == np.int64
    out = net(ck.randn(2, 1, 6, 6, dtype="float64"))
    assert out.dtype == np.float64
    net.to("float32")
    assert all(p.dtype == np.float32 for p in net.parameters())
    net.to("cpu", dtype=ck.float64)
    assert net.fc.weight.dtype == np.float64
    with pytest.raises(TypeError, match="floating point"):
        net.to(np.int64)
    with pytest.raises(ValueError, match="cpu"):
        net.to("cuda")


# ------------------------------------------------------------------ state_dict


def test_state_dict_contents_are_copies():
    net = Net()
    sd = net.state_dict()
    assert list(sd) == ["scale", "steps", "features.0.weight", "features.0.bias", "features.2.conv.weight",
                        "features.2.bn.weight", "features.2.bn.bias", "features.2.bn.running_mean",
                        "features.2.bn.running_var", "features.2.bn.num_batches_tracked", "fc.weight", "fc.bias"]
    assert isinstance(sd, OrderedDict) and all(isinstance(v, np.ndarray) for v in sd.values())
    assert sd["features.2.bn.num_batches_tracked"].dtype == np.int64
    assert sd["features.2.bn.num_batches_tracked"].shape == ()
    sd["fc.weight"][...] = 42
    assert not np.any(net.fc.weight.data == 42)
    kept = net.state_dict(keep_vars=True)
    assert kept["fc.weight"] is net.fc.weight


def test_state_dict_round_trip_exact():
    ck.manual_seed(1)
    a = Net()
    a.train()
    a(ck.randn(4, 1, 6, 6))  # moves BN running stats and num_batches_tracked
    ck.manual_seed(2)
    b = Net()
    ids = {k: id(v) for k, v in b.state_dict(keep_vars=True).items()}
    arrays = {k: id(v.data) for k, v in b.state_dict(keep_vars=True).items()}
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"
    for k, v in a.state_dict().items():
        assert np.array_equal(b.state_dict()[k], v), k
        assert b.state_dict()[k].dtype == v.dtype
    assert {k: id(v) for k, v in b.state_dict(keep_vars=True).items()} == ids
    assert {k: id(v.data) for k, v in b.state_dict(keep_vars=True).items()} == arrays
    assert int(b.features[2].bn.num_batches_tracked.data) == 1
    x = ck.randn(2, 1, 6, 6)
    a.eval(), b.eval()
    assert np.array_equal(a(x).data, b(x).data)


def test_load_state_dict_accepts_tensors_and_keeps_model_dtype():
    lin = nn.Linear(2, 3)
    sd = {"weight": ck.tensor(np.full((3, 2), 0.5)), "bias": np.arange(3, dtype=np.float64)}
    lin.load_state_dict(sd)
    assert lin.weight.dtype == np.float32 and np.all(lin.weight.data == 0.5)
    assert np.array_equal(lin.bias.data, [0, 1, 2])

    class HasNumpy:
        def __init__(self, arr):
            self.arr = arr

        def numpy(self):
            return self.arr

    lin.load_state_dict({"weight": HasNumpy(np.ones((3, 2))), "bias": HasNumpy(np.zeros(3))})
    assert np.all(lin.weight.data == 1)


def test_load_state_dict_reports_every_problem_and_changes_nothing():
    net = Net()
    before = net.state_dict()
    sd = net.state_dict()
    del sd["fc.bias"], sd["features.0.weight"]
    sd["extra.weight"] = np.zeros(1)
    sd["also.unexpected"] = np.zeros(1)
    sd["fc.weight"] = np.zeros((10, 4))
    sd["features.2.bn.running_var"] = np.zeros(5)
    sd["scale"] = np.full(1, 7.0)  # valid, but must not be applied either
    with pytest.raises(RuntimeError) as err:
        net.load_state_dict(sd)
    msg = str(err.value)
    assert msg.startswith("Error(s) in loading state_dict for Net:")
    for key in ("fc.bias", "features.0.weight", "extra.weight", "also.unexpected"):
        assert f'"{key}"' in msg
    assert "Missing key(s)" in msg and "Unexpected key(s)" in msg
    assert "size mismatch for fc.weight: checkpoint (10, 4), model (3, 4)" in msg
    assert "size mismatch for features.2.bn.running_var: checkpoint (5,), model (4,)" in msg
    for k, v in net.state_dict().items():
        assert np.array_equal(v, before[k]), k


def test_load_state_dict_non_strict():
    net = Net()
    sd = net.state_dict()
    del sd["fc.bias"]
    sd["ghost"] = np.zeros(1)
    sd["scale"] = np.full(1, 5.0)
    result = net.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["fc.bias"] and result.unexpected_keys == ["ghost"]
    missing, unexpected = result
    assert missing == ["fc.bias"]
    assert net.scale.data[0] == 5.0
    sd["fc.weight"] = np.zeros((1, 1))
    with pytest.raises(RuntimeError, match=r"size mismatch for fc.weight: checkpoint \(1, 1\), model \(3, 4\)"):
        net.load_state_dict(sd, strict=False)


def test_non_persistent_buffer_not_saved_and_unexpected():
    net = Net()
    assert "cache" not in net.state_dict()
    sd = net.state_dict()
    sd["cache"] = np.zeros(1)
    with pytest.raises(RuntimeError, match='Unexpected key.*"cache"'):
        net.load_state_dict(sd)


def test_old_batchnorm_checkpoint_without_num_batches_tracked():
    bn = nn.BatchNorm2d(3)
    sd = bn.state_dict()
    del sd["num_batches_tracked"]
    bn.load_state_dict(sd)  # as PyTorch with a plain dict: the counter keeps its value


def test_load_state_dict_bad_input():
    with pytest.raises(TypeError, match="mapping"):
        nn.Linear(1, 1).load_state_dict([1, 2])
    with pytest.raises(RuntimeError, match="While copying the parameter named \"weight\""):
        nn.Linear(1, 1, bias=False).load_state_dict({"weight": "abc"})


@requires_torch
def test_load_torch_state_dict_and_back():
    t = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2), torch.nn.Flatten(),
                            torch.nn.Linear(8, 3))
    t.train()
    t(torch.randn(4, 1, 4, 4))
    ours = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 3))
    ours.load_state_dict(t.state_dict())  # torch tensors go through .numpy()
    for k, v in t.state_dict().items():
        assert np.array_equal(ours.state_dict()[k], v.numpy()), k
    t2 = copy.deepcopy(t)
    t2.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})


# ------------------------------------------------------------------ copying


def test_deepcopy_and_pickle_module():
    net = Net()
    clone = copy.deepcopy(net)
    assert clone.fc.weight is not net.fc.weight
    assert np.array_equal(clone.fc.weight.data, net.fc.weight.data)
    clone.fc.weight.data[...] = 0
    assert not np.all(net.fc.weight.data == 0)
    restored = pickle.loads(pickle.dumps(net))
    for k, v in net.state_dict().items():
        assert np.array_equal(restored.state_dict()[k], v)
    x = ck.randn(1, 1, 6, 6)
    assert np.array_equal(restored(x).data, net(x).data)


# ------------------------------------------------------------------ repr


def test_repr_nested_text():
    net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2))
    assert repr(net) == (
        "Sequential(\n"
        "  (0): Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n"
        "  (1): ReLU(inplace=True)\n"
        "  (2): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)\n"
        ")")


@requires_torch
def test_repr_matches_torch_for_a_small_model():
    def build(lib):
        class LeNet(lib.Module):
            def __init__(self):
                super().__init__()
                self.features = lib.Sequential(
                    lib.Conv2d(1, 6, 5, padding=2), lib.BatchNorm2d(6), lib.ReLU(inplace=True),
                    lib.MaxPool2d(2, 2), lib.Conv2d(6, 16, 5, bias=False), lib.Tanh(), lib.AvgPool2d(2),
                    lib.Dropout2d(0.1), lib.LocalResponseNorm(3))
                self.head = lib.ModuleDict({"flat": lib.Flatten(), "fc": lib.ModuleList(
                    [lib.Linear(400, 120), lib.Linear(120, 120), lib.Linear(120, 120), lib.GELU()])})
                self.pool = lib.AdaptiveAvgPool2d((5, 5))
                self.up = lib.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
                self.loss = lib.CrossEntropyLoss(label_smoothing=0.1)
                self.extra = lib.Sequential(lib.ConvTranspose2d(16, 8, 3, stride=2, output_padding=1),
                                            lib.BatchNorm1d(8, momentum=None), lib.LeakyReLU(0.2),
                                            lib.ELU(), lib.Softmax(dim=1), lib.LogSoftmax(1), lib.Identity(),
                                            lib.Sigmoid(), lib.AdaptiveMaxPool2d(1), lib.Dropout(),
                                            lib.Unflatten(1, (2, 4)), lib.ReLU6(), lib.MSELoss(),
                                            lib.Conv2d(4, 4, 3, padding="same", groups=2, dilation=2))

        return LeNet()

    assert repr(build(nn)) == repr(build(torch.nn))


def test_incompatible_keys_repr():
    r = nn.IncompatibleKeys(["a"], [])
    assert "missing_keys=['a']" in repr(r)
