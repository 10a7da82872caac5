"""cnnkit.analysis.summary: counting rules, receptive field, memory, explanations, JSON round trip."""

from __future__ import annotations

import json
from collections import OrderedDict

import numpy as np
import pytest

import cnnkit as ck
import cnnkit.nn as nn
from cnnkit import models
from cnnkit.analysis import LayerRow, ModelSummary, summary


def _row(result, name):
    rows = [r for r in result.rows if r.name == name]
    assert len(rows) == 1, f"{name}: {len(rows)} rows"
    return rows[0]


# ------------------------------------------------------------------------------------------------ receptive field
@pytest.mark.parametrize("n, rf", [(1, 3), (2, 5), (3, 7), (4, 9)])
def test_stacked_3x3_convs(n, rf):
    layers = []
    for _ in range(n):
        layers += [nn.Conv2d(4, 4, 3, padding=1), nn.ReLU()]
    result = summary(nn.Sequential(*layers), (1, 4, 16, 16))
    last = [r for r in result.rows if r.type == "Conv2d"][-1]
    assert last.receptive_field == (rf, rf) and last.jump == (1, 1)
    assert result.rows[0].receptive_field == (rf, rf)  # the container's output is its last layer's


def test_receptive_field_with_strides_pools_and_dilation():
    model = nn.Sequential(nn.Conv2d(3, 8, 7, stride=2, padding=3),  # rf 7, jump 2
                          nn.MaxPool2d(3, stride=2, padding=1),     # rf 7 + 2*2 = 11, jump 4
                          nn.Conv2d(8, 8, 3, padding=2, dilation=2),  # rf 11 + 2*2*4 = 27
                          nn.Conv2d(8, 8, (1, 3), padding=(0, 1)))  # non-square: W grows by 2*4
    result = summary(model, (1, 3, 64, 64))
    rfs = [(r.receptive_field, r.jump) for r in result.rows[1:]]
    assert rfs == [((7, 7), (2, 2)), ((11, 11), (4, 4)), ((27, 27), (4, 4)), ((27, 35), (4, 4))]


def test_resnet18_stem_and_final_receptive_field():
    result = summary(models.resnet18(), (1, 3, 224, 224))
    assert _row(result, "conv1").receptive_field == (7, 7)
    assert _row(result, "maxpool").receptive_field == (11, 11) and _row(result, "maxpool").jump == (4, 4)
    # the well-known theoretical receptive field of ResNet-18's last stage
    assert _row(result, "layer4").receptive_field == (435, 435) and _row(result, "layer4").jump == (32, 32)


def test_branches_take_the_max():
    class TwoBranches(nn.Module):
        def __init__(self):
            super().__init__()
            self.small = nn.Conv2d(2, 2, 1)
            self.big = nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), nn.Conv2d(2, 2, 3, padding=1))
            self.after = nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, x):
            return self.after(ck.cat([self.small(x), self.big(x)], 1))  # concatenation made outside a module

    result = summary(TwoBranches(), (1, 2, 8, 8))
    assert _row(result, "small").receptive_field == (1, 1)
    assert _row(result, "big").receptive_field == (5, 5)
    assert _row(result, "after").receptive_field == (7, 7)


def test_decoder_concatenation_takes_the_jump_of_its_resolution():
    class TinyUNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.Conv2d(1, 2, 3, padding=1)
            self.pool = nn.MaxPool2d(2)
            self.mid = nn.Conv2d(2, 2, 3, padding=1)
            self.up = nn.ConvTranspose2d(2, 2, 2, stride=2)
            self.dec = nn.Conv2d(4, 3, 3, padding=1)

        def forward(self, x):
            skip = self.enc(x)
            return self.dec(ck.cat([skip, self.up(self.mid(self.pool(skip)))], 1))

    result = summary(TinyUNet(), (1, 1, 16, 16))
    assert _row(result, "mid").jump == (2, 2) and _row(result, "mid").receptive_field == (8, 8)
    up = _row(result, "up")
    assert up.jump == (1, 1)
    # the concatenation lives on the 16x16 grid: the skip's and the upsampled branch's values, not the bottleneck's
    dec = _row(result, "dec")
    assert dec.jump == (1, 1) and dec.receptive_field == (up.receptive_field[0] + 2, up.receptive_field[1] + 2)
    assert result.rows[0].jump == (1, 1)


def test_a_crop_keeps_the_values_of_what_it_cuts():
    class PadAndCrop(nn.Module):  # FCN's geometry: pad generously, upsample, cut back to the input's size
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3, padding=4)
            self.pool = nn.MaxPool2d(2)
            self.up = nn.ConvTranspose2d(2, 2, 4, stride=2)

        def forward(self, x):
            y = self.up(self.pool(self.conv(x)))
            return y[:, :, 3:3 + x.shape[2], 3:3 + x.shape[3]]

    result = summary(PadAndCrop(), (1, 1, 8, 8))
    up = _row(result, "up")
    assert up.jump == (1, 1) and up.receptive_field[0] > 4
    assert result.rows[0].output_shape == (1, 2, 8, 8)
    assert (result.rows[0].receptive_field, result.rows[0].jump) == (up.receptive_field, up.jump)


# ------------------------------------------------------------------------------------------------ MACs and params
def test_mac_formulas():
    conv = nn.Conv2d(6, 8, (3, 5), stride=(1, 2), padding=1, groups=2, bias=True)
    result = summary(conv, (3, 6, 10, 12))
    h, w = 10, (12 + 2 - 5) // 2 + 1
    assert result.rows[0].output_shape == (3, 8, h, w)
    assert result.totals.total_macs == 5 * 3 * (6 // 2) * 8 * h * w * 3
    # the im2col rows hold every group's columns side by side (6*3*5 per output position, not 6/2*3*5); this small
    # convolution runs on one thread with the whole batch in one chunk, so the buffer is the whole matrix
    assert result.totals.largest_im2col_matrix_shape == (6 * 3 * 5, h * w, 3)
    assert result.totals.largest_im2col_matrix_bytes == (6 * 3 * 5) * (h * w) * 3 * 4
    assert result.totals.largest_workspace_bytes == (6 * 3 * 5) * (h * w) * 3 * 4

    tconv = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
    result = summary(tconv, (2, 4, 5, 7))
    assert result.rows[0].output_shape == (2, 6, 10, 14)
    assert result.totals.total_macs == 3 * 3 * (6 // 2) * 4 * 5 * 7 * 2

    linear = nn.Linear(7, 5)
    result = summary(linear, (2, 3, 7))  # leading dims multiply
    assert result.totals.total_macs == 7 * 5 * 2 * 3
    assert result.totals.total_params == 7 * 5 + 5


def test_nested_modules_counted_once():
    inner = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    model = nn.Sequential(OrderedDict([("block", inner), ("head", nn.Sequential(nn.Flatten(), nn.Linear(4 * 6 * 6, 2)))]))
    result = summary(model, (1, 3, 8, 8))
    conv_macs = 3 * 3 * 3 * 4 * 6 * 6
    assert _row(result, "block").macs == conv_macs
    assert _row(result, "block").params == 3 * 3 * 3 * 4 + 4 + 8
    assert result.totals.total_macs == conv_macs + 4 * 6 * 6 * 2
    assert result.rows[0].macs == result.totals.total_macs
    assert result.totals.total_params == sum(r.params for r in result.rows if r.is_leaf)
    assert [r.depth for r in result.rows] == [0, 1, 2, 2, 2, 1, 2, 2]
    assert [r.index for r in result.rows] == [1, 1, 1, 2, 3, 2, 1, 2]


def test_shared_layer_called_twice():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 3, padding=1)

        def forward(self, x):
            return self.conv(self.conv(x))

    result = summary(Twice(), (1, 2, 4, 4))
    assert len([r for r in result.rows if r.name == "conv"]) == 2
    assert result.totals.total_macs == 2 * 9 * 2 * 2 * 16
    assert result.totals.total_params == 2 * 2 * 9 + 2  # parameters once
    assert result.rows[-1].receptive_field == (5, 5)


def test_trainable_and_memory_totals():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    model[0].weight.requires_grad_(False)
    result = summary(model, (2, 1, 6, 6))
    t = result.totals
    assert t.total_params == 18 + 2 + 4 + 96 + 3
    assert t.non_trainable_params == 18 and t.trainable_params == t.total_params - 18
    assert t.param_bytes == t.total_params * 4
    assert t.buffer_bytes == (2 + 2) * 4 + 8  # running mean/var + int64 num_batches_tracked
    assert t.input_bytes == 2 * 36 * 4
    # conv, bn outputs (2x2x4x4), flatten (2x32), linear (2x3)
    assert t.activation_bytes == (2 * 32 + 2 * 32 + 2 * 32 + 2 * 3) * 4
    assert t.largest_workspace_layer == "0" and t.largest_im2col_matrix_layer == "0"


def test_summary_leaves_modes_and_statistics_alone():
    model = models.resnet20()
    model.train()
    model.layer1.eval()
    before = model.bn1.running_mean.data.copy(), int(model.bn1.num_batches_tracked.item())
    summary(model, (2, 3, 32, 32))
    assert model.training and not model.layer1.training and model.layer2.training
    np.testing.assert_array_equal(model.bn1.running_mean.data, before[0])
    assert int(model.bn1.num_batches_tracked.item()) == before[1]
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_float64_input():
    model = nn.Sequential(nn.Conv2d(1, 2, 3)).double()
    result = summary(model, (1, 1, 5, 5), dtype=ck.float64)
    assert result.dtype == "float64" and result.totals.input_bytes == 25 * 8


# ------------------------------------------------------------------------------------------------ text and JSON
def test_table_depth_and_totals_text():
    result = summary(models.resnet20(), (1, 3, 32, 32), depth=1)
    text = str(result)
    assert "Sequential (layer1): 1-4" in text
    assert "BasicBlock" not in text  # depth 2 is hidden...
    assert "BasicBlock (0): 2-1" in result.format_table(depth=2)  # ...until asked for
    assert f"Total params: {result.totals.total_params:,}" in text
    assert f"Total MACs: {result.totals.total_macs:,}" in text
    assert "FLOPs = 2 x MACs" in text
    assert "Largest im2col buffer" in text and "Forward activation memory" in text


def test_explanations():
    stem = nn.Sequential(OrderedDict([("conv1", nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)),
                                      ("pool", nn.MaxPool2d(3, stride=2, ceil_mode=True)),
                                      ("fc_in", nn.Conv2d(64, 10, 1, padding="same"))]))
    result = summary(stem, (1, 3, 224, 224), explain=True)
    conv = _row(result, "conv1")
    assert "H, W: (224 + 2*3 - 7) // 2 + 1 = 112" in conv.explain
    assert "params: 7*7*3*64 + 0 = 9408" in conv.explain
    assert _row(result, "pool").explain[0] == "H, W: ceil((112 + 2*0 - 3) / 2) + 1 = 56"
    assert "params: 1*1*64*10 + 10 = 650" in _row(result, "fc_in").explain
    text = str(result)
    assert "(224 + 2*3 - 7) // 2 + 1 = 112" in text and "7*7*3*64 + 0 = 9408" in text
    assert "(224 + 2*3 - 7)" not in str(summary(stem, (1, 3, 224, 224)))


def test_explanations_non_square_and_transposed():
    result = summary(nn.Conv2d(1, 1, (3, 1), stride=(2, 1)), (1, 1, 9, 4), explain=True)
    assert result.rows[0].explain[:2] == ["H: (9 + 2*0 - 3) // 2 + 1 = 4", "W: (4 + 2*0 - 1) // 1 + 1 = 4"]
    result = summary(nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1), (1, 2, 7, 7),
                     explain=True)
    assert result.rows[0].explain == ["H, W: (7 - 1)*2 - 2*1 + 1*(3 - 1) + 1 + 1 = 14", "params: 3*3*3*2 + 3 = 57"]


def test_json_round_trip():
    result = summary(models.googlenet(init_weights=False), (1, 3, 96, 96), explain=True)
    text = result.to_json()
    data = json.loads(text)
    assert data["totals"]["total_macs"] == result.totals.total_macs
    back = ModelSummary.from_json(text)
    assert back == result
    assert str(back) == str(result)
    assert isinstance(back.rows[1], LayerRow) and isinstance(back.rows[1].output_shape, tuple)
    with pytest.raises(ValueError, match="missing field"):
        ModelSummary.from_dict({"rows": []})


def test_multiple_outputs_are_shown():
    model = models.googlenet(num_classes=3, aux_logits=True, init_weights=False)
    model.train()
    result = summary(model, (1, 3, 64, 64))
    assert result.rows[0].output_shape == (1, 3)  # summary runs in eval mode: the logits only
    assert model.training


def test_argument_errors():
    model = nn.Conv2d(1, 1, 3)
    with pytest.raises(TypeError, match="cnnkit.nn.Module"):
        summary(lambda x: x, (1, 1, 5, 5))
    with pytest.raises(ValueError, match="input_size"):
        summary(model, 5)
    with pytest.raises(ValueError, match="input_size"):
        summary(model, (1, 0, 5, 5))
    with pytest.raises(ValueError, match="depth"):
        summary(model, (1, 1, 5, 5), depth=-1)
    with pytest.raises(TypeError, match="floating-point"):
        summary(model, (1, 1, 5, 5), dtype=np.int32)
    # an input the model cannot take is the user's problem (InputError); another failure stays a RuntimeError
    with pytest.raises(ck.InputError, match=r"summary: the forward pass of Conv2d .* \(1, 2, 5, 5\) failed"):
        summary(model, (1, 2, 5, 5))
    assert not model._forward_hooks

    class Broken(nn.Module):
        def forward(self, x):
            return x.no_such_method()

    with pytest.raises(RuntimeError, match="summary: the forward pass of Broken") as info:
        summary(Broken(), (1, 1, 5, 5))
    assert not isinstance(info.value, ck.InputError)
