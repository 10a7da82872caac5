"""nn.init: gains, fans, the distributions' bounds and spreads, in-place filling, seeding; and every layer's
default initialisation against PyTorch's."""

import math

import numpy as np
import pytest
from oracle import requires_torch, torch

import cnnkit as ck
import cnnkit.nn as nn
from cnnkit.nn import init


def test_calculate_gain():
    assert init.calculate_gain("linear") == 1 and init.calculate_gain("conv2d") == 1
    assert init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01**2)))
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="not a valid number"):
        init.calculate_gain("leaky_relu", "0.1")


@requires_torch
@pytest.mark.parametrize("name,param", [("linear", None), ("tanh", None), ("relu", None), ("leaky_relu", None),
                                        ("leaky_relu", 0.2), ("selu", None), ("conv_transpose2d", None)])
def test_calculate_gain_matches_torch(name, param):
    assert init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param))


@pytest.mark.parametrize("shape,expected", [((5, 3), (3, 5)), ((16, 3, 5, 5), (75, 400)),
                                            ((8, 16, 3, 3), (144, 72)), ((4, 2, 7), (14, 28))])
def test_fan_in_and_fan_out(shape, expected):
    assert init.fan_in_and_fan_out(np.empty(shape)) == expected
    assert init.fan_in_and_fan_out(ck.zeros(*shape)) == expected
    if torch is not None:
        assert init.fan_in_and_fan_out(np.empty(shape)) == torch.nn.init._calculate_fan_in_and_fan_out(
            torch.empty(shape))


def test_fan_needs_two_dims():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.fan_in_and_fan_out(ck.zeros(3))


def _stats(t):
    a = t.data.astype(np.float64)
    return a.min(), a.max(), a.mean(), a.std()


def test_uniform_normal_constant_in_place():
    t = ck.zeros(200, 200)
    arr = t.data
    assert init.uniform_(t, -2, 3) is t and t.data is arr and t.dtype == np.float32
    lo, hi, mean, _ = _stats(t)
    assert -2 <= lo and hi <= 3 and mean == pytest.approx(0.5, abs=0.05)
    init.normal_(t, 1.0, 0.5)
    _, _, mean, std = _stats(t)
    assert mean == pytest.approx(1.0, abs=0.01) and std == pytest.approx(0.5, rel=0.02)
    assert np.all(init.constant_(t, 0.3).data == np.float32(0.3))
    assert np.all(init.zeros_(t).data == 0) and np.all(init.ones_(t).data == 1)
    arr64 = np.zeros((3, 3))
    assert init.eye_(arr64) is arr64 and np.array_equal(arr64, np.eye(3))
    with pytest.raises(TypeError, match="floating-point"):
        init.uniform_(np.zeros(3, dtype=np.int64))


@pytest.mark.parametrize("shape", [(256, 128), (64, 32, 3, 3)])
def test_xavier(shape):
    fan_in, fan_out = init.fan_in_and_fan_out(np.empty(shape))
    t = ck.zeros(*shape)
    init.xavier_uniform_(t, gain=2.0)
    bound = 2.0 * math.sqrt(6 / (fan_in + fan_out))
    lo, hi, _, std = _stats(t)
    assert -bound <= lo and hi <= bound and hi > 0.98 * bound
    assert std == pytest.approx(bound / math.sqrt(3), rel=0.03)
    init.xavier_normal_(t)
    assert _stats(t)[3] == pytest.approx(math.sqrt(2 / (fan_in + fan_out)), rel=0.03)


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_kaiming(mode):
    t = ck.zeros(128, 64, 3, 3)
    fan = 64 * 9 if mode == "fan_in" else 128 * 9
    init.kaiming_uniform_(t, a=0, mode=mode, nonlinearity="relu")
    bound = math.sqrt(2) * math.sqrt(3 / fan)
    lo, hi, _, std = _stats(t)
    assert -bound <= lo and hi <= bound and hi > 0.99 * bound
    init.kaiming_normal_(t, mode=mode, nonlinearity="relu")
    assert _stats(t)[3] == pytest.approx(math.sqrt(2 / fan), rel=0.02)
    with pytest.raises(ValueError, match="mode 'fan_avg'"):
        init.kaiming_uniform_(t, mode="fan_avg")


def test_kaiming_zero_element_warns():
    with pytest.warns(UserWarning, match="zero-element"):
        init.kaiming_uniform_(ck.zeros(0, 3))


def test_trunc_normal_and_orthogonal():
    t = ck.zeros(100, 100)
    init.trunc_normal_(t, mean=0.5, std=1.0, a=0.0, b=1.5)
    lo, hi, _, _ = _stats(t)
    assert 0.0 <= lo and hi <= 1.5
    init.trunc_normal_(t, std=0.02)
    assert _stats(t)[3] == pytest.approx(0.02, rel=0.03)
    with pytest.raises(ValueError, match="a < b"):
        init.trunc_normal_(t, a=1, b=0)
    for shape in [(6, 10), (10, 6), (8, 2, 3, 3)]:
        w = np.zeros(shape)
        init.orthogonal_(w, gain=2.0)
        flat = w.reshape(shape[0], -1)
        gram = flat @ flat.T if flat.shape[0] <= flat.shape[1] else flat.T @ flat
        np.testing.assert_allclose(gram, 4 * np.eye(gram.shape[0]), atol=1e-10)


def test_dirac():
    w = np.zeros((4, 2, 3, 3))
    init.dirac_(w, groups=2)
    x = np.random.default_rng(0).standard_normal((2, 5, 5))
    # a Dirac kernel copies input channel d to output channel g*2 + d (per group of 2 outputs)
    assert w[0, 0, 1, 1] == 1 and w[1, 1, 1, 1] == 1 and w[2, 0, 1, 1] == 1 and w[3, 1, 1, 1] == 1
    assert w.sum() == 4 and x.shape == (2, 5, 5)


def test_seeded_init_is_repeatable():
    ck.manual_seed(123)
    a = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ConvTranspose2d(8, 4, 2), nn.Linear(5, 7))
    ck.manual_seed(123)
    b = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ConvTranspose2d(8, 4, 2), nn.Linear(5, 7))
    c = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ConvTranspose2d(8, 4, 2), nn.Linear(5, 7))
    for k, v in a.state_dict().items():
        assert np.array_equal(v, b.state_dict()[k]), k
    assert not np.array_equal(a.state_dict()["0.weight"], c.state_dict()["0.weight"])
    gen = np.random.default_rng(5)
    t1 = init.normal_(ck.zeros(4), generator=gen)
    t2 = init.normal_(ck.zeros(4), generator=np.random.default_rng(5))
    assert np.array_equal(t1.data, t2.data)


# ------------------------------------------------------------------ layers' defaults vs PyTorch


def _layer_pairs():
    return [
        ("conv", lambda: nn.Conv2d(64, 128, 3), lambda: torch.nn.Conv2d(64, 128, 3), 64 * 9),
        ("conv_groups", lambda: nn.Conv2d(64, 128, (3, 5), groups=4),
         lambda: torch.nn.Conv2d(64, 128, (3, 5), groups=4), 16 * 15),
        ("convT", lambda: nn.ConvTranspose2d(64, 96, 3), lambda: torch.nn.ConvTranspose2d(64, 96, 3), 96 * 9),
        ("convT_groups", lambda: nn.ConvTranspose2d(64, 96, 4, groups=2),
         lambda: torch.nn.ConvTranspose2d(64, 96, 4, groups=2), 48 * 16),
        ("linear", lambda: nn.Linear(300, 400), lambda: torch.nn.Linear(300, 400), 300),
    ]


@pytest.mark.parametrize("case", range(5))
def test_default_init_bounds(case):
    _, ours_fn, theirs_fn, fan_in = _layer_pairs()[case]
    layer = ours_fn()
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform_(a=sqrt(5)) gives the same bound as the bias
    for t, near in ((layer.weight, 0.99), (layer.bias, 0.7)):  # the bias has few values: a looser check
        lo, hi, mean, std = _stats(t)
        assert -bound <= lo and hi <= bound, (lo, hi, bound)
        assert hi > near * bound and lo < -near * bound
    lo, hi, mean, std = _stats(layer.weight)
    assert std == pytest.approx(bound / math.sqrt(3), rel=0.03) and abs(mean) < 0.05 * bound
    if torch is not None:
        ref = theirs_fn()
        assert ref.weight.shape == layer.weight.shape and ref.bias.shape == layer.bias.shape
        w = ref.weight.detach().numpy()
        assert float(np.abs(w).max()) == pytest.approx(float(np.abs(layer.weight.data).max()), rel=0.01)
        assert float(w.std()) == pytest.approx(std, rel=0.03)
        b = ref.bias.detach().numpy()
        assert float(np.abs(b).max()) <= bound * (1 + 1e-6)


def test_default_init_dtype_and_batchnorm():
    assert nn.Conv2d(2, 2, 1).weight.dtype == np.float32
    assert nn.Linear(2, 2, dtype=np.float64).bias.dtype == np.float64
    bn = nn.BatchNorm2d(5)
    assert np.all(bn.weight.data == 1) and np.all(bn.bias.data == 0)
    assert np.all(bn.running_mean.data == 0) and np.all(bn.running_var.data == 1)
    assert bn.num_batches_tracked.dtype == np.int64 and bn.num_batches_tracked.shape == ()
    if torch is not None:
        tsd = torch.nn.BatchNorm2d(5).state_dict()
        for k, v in bn.state_dict().items():
            assert np.array_equal(v, tsd[k].numpy()) and v.dtype == tsd[k].numpy().dtype, k


def test_init_records_no_graph():
    lin = nn.Linear(3, 3)
    init.normal_(lin.weight)
    assert lin.weight.grad_fn is None and lin.weight.is_leaf
