"""Sequential, ModuleList and ModuleDict: construction, indexing, slicing, mutation, naming and repr."""

from collections import OrderedDict

import numpy as np
import pytest
from oracle import requires_torch, torch

import cnnkit as ck
import cnnkit.nn as nn


def test_sequential_from_modules_and_ordered_dict():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b, c)
    assert len(seq) == 3 and list(seq) == [a, b, c]
    assert seq[0] is a and seq[-1] is c
    named = nn.Sequential(OrderedDict([("fc1", a), ("act", b), ("fc2", c)]))
    assert [n for n, _ in named.named_parameters()] == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert named.fc1 is a and named[1] is b
    x = ck.randn(4, 2)
    np.testing.assert_array_equal(seq(x).data, c(b(a(x))).data)


def test_sequential_slicing_and_errors():
    mods = [nn.Linear(2, 2) for _ in range(4)]
    seq = nn.Sequential(*mods)
    sub = seq[1:3]
    assert isinstance(sub, nn.Sequential) and list(sub) == mods[1:3]
    assert list(sub._modules) == ["1", "2"]  # keys kept, as PyTorch
    assert list(seq[::-1]) == mods[::-1]
    with pytest.raises(IndexError, match="out of range"):
        seq[4]
    with pytest.raises(TypeError, match="integers or slices"):
        seq["a"]


def test_sequential_mutation():
    seq = nn.Sequential(nn.ReLU(), nn.Tanh())
    lin = nn.Linear(1, 1)
    assert seq.append(lin) is seq and seq[2] is lin and list(seq._modules) == ["0", "1", "2"]
    seq[0] = nn.Sigmoid()
    assert isinstance(seq[0], nn.Sigmoid)
    del seq[1]
    assert list(seq._modules) == ["0", "1"] and seq[1] is lin
    seq.insert(0, nn.Identity())
    assert isinstance(seq[0], nn.Identity) and seq[2] is lin
    seq.insert(-1, nn.ReLU())
    assert isinstance(seq[2], nn.ReLU) and seq[3] is lin
    assert seq.pop() is lin and len(seq) == 3
    seq.extend([nn.Tanh(), nn.Tanh()])
    assert len(seq) == 5
    both = nn.Sequential(nn.ReLU()) + nn.Sequential(nn.Tanh())
    assert len(both) == 2
    with pytest.raises(IndexError):
        seq.insert(10, nn.ReLU())


def test_module_list():
    ml = nn.ModuleList([nn.Linear(2, 2), nn.ReLU()])
    ml.append(nn.Linear(2, 1))
    ml.extend([nn.Tanh()])
    ml.insert(1, nn.Sigmoid())
    assert [type(m).__name__ for m in ml] == ["Linear", "Sigmoid", "ReLU", "Linear", "Tanh"]
    assert list(ml._modules) == ["0", "1", "2", "3", "4"]
    assert len(list(ml.parameters())) == 4
    assert ml.index(ml[3]) == 3
    with pytest.raises(ValueError, match="not in the list"):
        ml.index(nn.ReLU())
    sub = ml[1:3]
    assert isinstance(sub, nn.ModuleList) and len(sub) == 2 and list(sub._modules) == ["0", "1"]
    del ml[0]
    assert list(ml._modules) == ["0", "1", "2", "3"] and isinstance(ml[0], nn.Sigmoid)
    ml[-1] = nn.Identity()
    assert isinstance(ml[3], nn.Identity)
    ml += [nn.ReLU()]
    assert len(ml) == 5 and isinstance(ml.pop(), nn.ReLU)
    with pytest.raises(TypeError, match="iterable"):
        ml.extend(nn.ReLU())
    with pytest.raises(NotImplementedError):
        ml(ck.ones(1))


def test_module_dict():
    md = nn.ModuleDict({"b": nn.Linear(1, 1), "a": nn.ReLU()})
    assert list(md) == ["b", "a"] and "a" in md and len(md) == 2
    md["c"] = nn.Linear(1, 2)
    assert [n for n, _ in md.named_parameters()] == ["b.weight", "b.bias", "c.weight", "c.bias"]
    md.update([("d", nn.Tanh())])
    assert list(md.keys()) == ["b", "a", "c", "d"]
    assert isinstance(md.pop("a"), nn.ReLU) and "a" not in md
    del md["d"]
    assert [k for k, _ in md.items()] == ["b", "c"] and len(list(md.values())) == 2
    md.clear()
    assert len(md) == 0
    with pytest.raises(TypeError):
        md.update(3)


def test_containers_train_eval_and_state_dict_names():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ModuleList([nn.BatchNorm2d(2)]),
                          nn.ModuleDict({"head": nn.Linear(2, 2)}))
    model.eval()
    assert not model[1][0].training
    assert list(model.state_dict()) == ["0.weight", "0.bias", "1.0.weight", "1.0.bias", "1.0.running_mean",
                                        "1.0.running_var", "1.0.num_batches_tracked", "2.head.weight",
                                        "2.head.bias"]


@requires_torch
def test_container_reprs_match_torch():
    def build(lib):
        return lib.Sequential(
            lib.ModuleList([lib.ReLU(), lib.ReLU(), lib.Linear(2, 2), lib.Linear(2, 2), lib.Linear(2, 2),
                            lib.Sequential(lib.Tanh(), lib.Tanh()), lib.Sequential(lib.Tanh(), lib.Tanh()),
                            lib.ReLU()]),
            lib.ModuleDict({"a": lib.ReLU(), "b": lib.Sequential(lib.Linear(1, 2), lib.ReLU())}),
            lib.ModuleList(), lib.Sequential(), lib.ModuleDict())

    assert repr(build(nn)) == repr(build(torch.nn))
