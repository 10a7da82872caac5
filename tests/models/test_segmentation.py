"""Segmentation models: convolutionalize, FCN-32s/16s/8s, U-Net, the encoder-decoder's four upsamplings."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import cnnkit as ck
import cnnkit.nn as nn
from cnnkit import models
from cnnkit.analysis import summary
from cnnkit.models.fcn import FCN

TINY_VGG = ((4, 2), (4, 2), (8, 3), (8, 3), (8, 3))  # the VGG-16 layout with tiny widths (fast geometry checks)


def _x(*shape, seed=0):
    return ck.tensor(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


def _logits(model, x):
    model.eval()
    with ck.no_grad():
        return np.asarray(model(x).data, np.float64)


# ------------------------------------------------------------------------------------------------ convolutionalize
_BUILT: dict = {}


def _classifier(name):
    """The zoo classifier ``name`` with 10 classes, built once for this module (AlexNet's 58M weights take
    seconds to initialise)."""
    if name not in _BUILT:
        ck.manual_seed(0)
        _BUILT[name] = models.get_model(name, num_classes=10)
    return _BUILT[name]


# VGG-16 at 224x224 takes 8-25 s here (three forward passes of 15 GMACs, 134M weights copied)
@pytest.mark.parametrize("name", ["lenet5", "alexnet", pytest.param("vgg16", marks=pytest.mark.slow)])
def test_convolutionalize_keeps_the_logits_on_the_natural_size(name):
    model = _classifier(name)
    size = models.model_input_size(name)
    fcn = models.convolutionalize(model, size, check=False)
    assert not any(isinstance(m, nn.Linear) for m in fcn.modules())
    batch = 1 if name == "vgg16" else 2
    x = _x(batch, *size)
    ref, out = _logits(model, x), _logits(fcn, x)
    assert out.shape == (batch, 10, 1, 1)
    assert np.abs(out.reshape(ref.shape) - ref).max() <= 1e-5 * np.abs(ref).max()
    _BUILT.pop("vgg16", None)


@pytest.mark.parametrize("name,extra,expected", [("lenet5", (12, 20), (4, 6)), ("alexnet", (64, 96), (3, 4))])
def test_convolutionalize_gives_score_maps_on_larger_inputs(name, extra, expected):
    c, h, w = models.model_input_size(name)
    fcn = models.convolutionalize(_classifier(name), (c, h, w))
    assert _logits(fcn, _x(1, c, h + extra[0], w + extra[1])).shape == (1, 10, *expected)
    _BUILT.pop(name)


def test_convolutionalize_turns_an_exact_adaptive_pool_into_a_fixed_one():
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(64, 3))
    fcn = models.convolutionalize(model, (2, 8, 8))
    assert isinstance(fcn[1], nn.AvgPool2d)
    x = _x(3, 2, 8, 8)
    np.testing.assert_allclose(_logits(fcn, x).reshape(3, 3), _logits(model, x), rtol=1e-5, atol=1e-6)
    assert _logits(fcn, _x(1, 2, 16, 24)).shape == (1, 3, 5, 9)


def test_convolutionalize_names_the_layer_it_cannot_convert():
    model = nn.Sequential(OrderedDict([("conv", nn.Conv2d(1, 2, 3)), ("flat", nn.Flatten()),
                                       ("fc", nn.Linear(2 * 4 * 4, 5)), ("soft", nn.Softmax(dim=1))]))
    with pytest.raises(ValueError, match=r"layer 'soft' \(Softmax\) follows a Linear"):
        models.convolutionalize(model, (1, 6, 6))
    odd = nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(3), nn.Flatten(), nn.Linear(18, 2))
    with pytest.raises(ValueError, match=r"layer '1' \(AdaptiveAvgPool2d\) pools \(4, 4\) to \(3, 3\)"):
        models.convolutionalize(odd, (1, 6, 6))
    with pytest.raises(ValueError, match="no Linear"):
        models.convolutionalize(nn.Sequential(nn.Conv2d(1, 2, 3)), (1, 6, 6))
    with pytest.raises(ValueError, match=r"input_size must be \(C, H, W\)"):
        models.convolutionalize(models.lenet5(), (28, 28))


class _Reordered(nn.Module):
    """Registers its layers in an order its forward does not follow."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 3)
        self.conv = nn.Conv2d(1, 2, 3)

    def forward(self, x):
        return self.fc(ck.functional.flatten(self.conv(x), 1))


def test_convolutionalize_refuses_a_model_whose_forward_is_not_its_layers_in_order():
    with pytest.raises(ValueError, match="convolutionalize"):
        models.convolutionalize(_Reordered(), (1, 4, 4))


# ------------------------------------------------------------------------------------------------ FCN
@pytest.mark.parametrize("stride", [32, 16, 8])
@pytest.mark.parametrize("hw", [(1, 1), (37, 45), (97, 64)])
def test_fcn_paper_geometry_gives_the_input_size(stride, hw):
    model = FCN(5, 3, stride, stages=TINY_VGG, head=8)
    assert _logits(model, _x(1, 3, *hw)).shape == (1, 5, *hw)


@pytest.mark.parametrize("name", ["fcn32s_small", "fcn16s_small", "fcn8s_small"])
def test_small_fcns_forward_backward_on_odd_sizes(name):
    model = models.build_model(name, num_classes=4, in_channels=2)
    model.train()
    out = model(_x(2, 2, 35, 50))
    assert out.shape == (2, 4, 35, 50)
    out.sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing
    assert model(_x(1, 2, 64, 64)).shape == (1, 4, 64, 64)


def test_fcn_upsamplers_start_bilinear_and_skip_scores_at_zero():
    model = FCN(3, 3, 8, stages=TINY_VGG, head=8)
    kernel = nn.init.bilinear_kernel(16)
    w = model.upscore_final.weight.data
    np.testing.assert_allclose(w[1, 1], kernel, rtol=1e-6)
    assert np.all(w[0, 1] == 0)
    assert model.upscore2.weight.shape == (3, 3, 4, 4)
    assert np.all(model.score_pool3.weight.data == 0) and np.all(model.score_pool4.weight.data == 0)
    assert model.upscore_final.stride in (8, (8, 8))
    assert not model.upscore_final.weight.requires_grad and model.upscore2.weight.requires_grad  # as in the paper
    assert models.fcn8s_small().upscore_final.weight.requires_grad


def test_fcn8s_is_richer_than_fcn32s():
    """The skips add score layers on pool3 and pool4; FCN-32s has none."""
    names32 = {n for n, _ in models.fcn32s_small().named_parameters()}
    names8 = {n for n, _ in models.fcn8s_small().named_parameters()}
    assert {"score_pool3.weight", "score_pool4.weight"} <= names8 - names32


def test_fcn_refuses_a_wrong_stride():
    with pytest.raises(ValueError, match="stride must be 8, 16 or 32"):
        FCN(3, 3, 4)


# ------------------------------------------------------------------------------------------------ U-Net / encoder-decoder
@pytest.mark.parametrize("up", ["transpose", "bilinear"])
def test_unet_forward_backward_keeps_odd_sizes(up):
    model = models.unet(in_channels=1, num_classes=3, base=4, depth=3, up=up)
    out = model(_x(2, 1, 29, 42))
    assert out.shape == (2, 3, 29, 42)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_unet_refuses_an_input_below_its_minimum():
    with pytest.raises(ValueError, match="at least 8x8"):
        models.unet(base=4, depth=3)(_x(1, 3, 7, 20))


@pytest.mark.parametrize("up", ["nearest", "bilinear", "transpose", "unpool"])
def test_encoder_decoder_each_upsampling_runs_forward_and_backward(up):
    model = models.encoder_decoder(in_channels=3, num_classes=4, widths=(4, 8, 8), up=up)
    out = model(_x(2, 3, 30, 37))
    assert out.shape == (2, 4, 30, 37)
    (out * out).mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing
    params = model.num_parameters()
    assert (params > models.encoder_decoder(widths=(4, 8, 8), num_classes=4, up="nearest").num_parameters()) == (
        up == "transpose")


def test_unpool_puts_values_where_the_maxima_were():
    model = models.encoder_decoder(widths=(2,), up="unpool", convs=1)
    x = _x(1, 3, 6, 6)
    seen = {}
    model.ups[0].register_forward_hook(lambda m, args, out: seen.update(out=out.data))
    model.eval()
    with ck.no_grad():
        model(x)
    up = seen["out"]
    assert up.shape == (1, 2, 6, 6)
    assert np.count_nonzero(up.reshape(2, 3, 2, 3, 2).transpose(0, 1, 3, 2, 4).reshape(2, 9, 4), axis=-1).max() <= 1


def test_bad_upsampling_mode_is_refused():
    with pytest.raises(ValueError, match="up must be one of nearest, bilinear, transpose, unpool"):
        models.encoder_decoder(up="cubic")
    with pytest.raises(ValueError, match="up must be 'transpose', 'bilinear' or 'nearest'"):
        models.unet(up="unpool")


# ------------------------------------------------------------------------------------------------ registry, summary
def test_registry_lists_the_segmentation_models_with_their_sizes():
    names = models.list_models("segmentation")
    for name in ["fcn32s", "fcn16s", "fcn8s", "fcn32s_small", "fcn16s_small", "fcn8s_small", "unet", "unet_small",
                 "encoder_decoder"]:
        assert name in names
    assert models.model_input_size("unet_small") == (3, 64, 64)
    assert models.model_input_size("fcn8s") == (3, 224, 224)
    assert models.default_model("segmentation", "shapes") == "unet_small"
    model = models.build_model("unet_small", num_classes=6, in_channels=1)
    assert model.outc.out_channels == 6 and model.inc[0].in_channels == 1


def test_summary_of_fcn8s_and_unet():
    with nn.init.skip_init():  # the table needs shapes, not values: zeros rather than 134M random numbers
        model = models.fcn8s(num_classes=21)
    for p in model.parameters():
        p.data[...] = 0
    fcn = summary(model, (1, 3, 32, 32), depth=1)
    # VGG-16 convs 14,714,688 + fc6 102,764,544 + fc7 16,781,312 + scores and upsamplers (21 classes) 229,215
    assert fcn.totals.total_params == model.num_parameters() == 134_489_759
    assert fcn.totals.total_macs > 0
    unet = summary(models.unet(num_classes=2), (1, 3, 64, 64), depth=1)
    assert unet.totals.total_params == 31_037_698
    assert unet.totals.total_macs > 0
    fields = {r.name: r for r in unet.rows}
    assert fields["outc"].receptive_field is not None
