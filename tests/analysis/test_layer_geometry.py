"""The summary takes each layer's geometry from the layer itself (Module.geometry), user layers included."""

from __future__ import annotations

import inspect
import re
from collections import OrderedDict

import pytest

import cnnkit as ck
import cnnkit.nn as nn
import cnnkit.nn.functional as F
from cnnkit.analysis import ModelSummary, summary
from cnnkit.analysis import summary as summary_module


def _row(result, name):
    rows = [r for r in result.rows if r.name == name]
    assert len(rows) == 1, f"{name}: {len(rows)} rows"
    return rows[0]


class Blur(nn.Module):
    """A user's layer: a fixed 3x3 box filter with stride 2, computed with a pool, describing itself."""

    def forward(self, x):
        return F.avg_pool2d(x, 3, 2, 1)

    def geometry(self, call):
        n, c, h, w = call.output_shape
        return nn.LayerGeometry(macs=9 * n * c * h * w, window=nn.Window(3, stride=2, padding=1),
                                workspace_bytes=123, params=nn.ParamCount())


def test_a_custom_layer_describes_itself():
    model = nn.Sequential(OrderedDict([("conv", nn.Conv2d(3, 4, 3, padding=1)), ("blur", Blur()),
                                       ("act", nn.ReLU()), ("head", nn.Conv2d(4, 4, 3, padding=1))]))
    result = summary(model, (2, 3, 16, 16), explain=True)
    blur = _row(result, "blur")
    assert blur.output_shape == (2, 4, 8, 8)
    assert blur.macs == 9 * 2 * 4 * 8 * 8
    assert (blur.receptive_field, blur.jump) == ((5, 5), (2, 2))  # 3 + (3-1)*1, jump 1*2
    assert (_row(result, "act").receptive_field, _row(result, "act").jump) == ((5, 5), (2, 2))
    assert (_row(result, "head").receptive_field, _row(result, "head").jump) == ((9, 9), (2, 2))
    assert blur.workspace_bytes == 123
    assert blur.explain == ["H, W: (16 + 2*1 - 3) // 2 + 1 = 8", "params: 0"]
    conv_macs = 9 * 3 * 4 * 16 * 16 * 2 + 9 * 4 * 4 * 8 * 8 * 2
    assert result.totals.total_macs == conv_macs + blur.macs
    assert ModelSummary.from_json(result.to_json()) == result


class Dilate2x(nn.Module):
    """A user's layer with a window kind of its own: any object with receptive_field(rf, jump)."""

    class Step:
        def receptive_field(self, rf, jump):
            return tuple(2 * r for r in rf), jump

    def forward(self, x):
        return x * 1.0

    def geometry(self, call):
        return nn.LayerGeometry(window=self.Step())


def test_a_custom_window_kind_needs_no_change_in_the_summary():
    model = nn.Sequential(nn.Conv2d(1, 1, 3), Dilate2x(), nn.Conv2d(1, 1, 3))
    result = summary(model, (1, 1, 12, 12), explain=True)
    assert [r.receptive_field for r in result.rows[1:]] == [(3, 3), (6, 6), (8, 8)]
    assert result.rows[2].explain == []  # nothing the summary knows how to write out


def test_overrides_are_used_even_on_built_in_layers():
    class FreeConv(nn.Conv2d):  # a conv that claims to cost nothing and to see nothing beyond a pixel
        def geometry(self, call):
            return nn.LayerGeometry()

    result = summary(nn.Sequential(FreeConv(2, 2, 3), nn.MaxPool2d(2)), (1, 2, 8, 8))
    assert result.rows[1].macs == 0 and result.rows[1].receptive_field == (1, 1)
    assert result.rows[2].receptive_field == (2, 2)
    assert result.totals.largest_workspace_layer == "" and result.totals.largest_im2col_matrix_layer == ""
    assert "Largest im2col buffer as allocated: none (no convolutions)" in str(result)


def test_the_summary_has_no_chain_of_layer_types():
    source = inspect.getsource(summary_module)
    assert not re.search(r"nn\.(Conv|ConvTranspose|Linear|MaxPool|AvgPool|Adaptive|BatchNorm|Upsample)", source)
    assert "kernel_size" not in source and "isinstance(module" not in source


def test_attribute_convention_still_counts():
    """A module with only kernel_size/stride attributes (the CIFAR ResNet's option-A shortcut) steps the field."""
    result = summary(ck.models.resnet20(), (1, 3, 32, 32), explain=True)
    shortcut = _row(result, "layer2.0.downsample")
    assert (shortcut.receptive_field, shortcut.jump) == ((15, 15), (2, 2))  # layer1's field, every 2nd pixel
    assert not shortcut.explain
    assert (_row(result, "layer3").receptive_field, _row(result, "layer3").jump) == ((81, 81), (4, 4))


def test_transposed_conv_with_output_size_and_upsampling():
    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.down = nn.Conv2d(1, 2, 3, stride=2, padding=1)
            self.up = nn.ConvTranspose2d(2, 1, 3, stride=2, padding=1)
            self.resize = nn.Upsample(scale_factor=2, mode="bilinear")

        def forward(self, x):
            y = self.up(self.down(x), output_size=x.shape)
            return self.resize(y)

    result = summary(Decoder(), (1, 1, 10, 10), explain=True)
    up, resize = _row(result, "up"), _row(result, "resize")
    assert up.output_shape == (1, 1, 10, 10)
    assert up.explain[0] == "H, W: (5 - 1)*2 - 2*1 + 1*(3 - 1) + 1 + 1 = 10"  # the output_padding the call used
    assert (up.receptive_field, up.jump) == ((5, 5), (1, 1))  # 3 + 2*2/2, jump 2/2
    assert (resize.receptive_field, resize.jump) == ((6, 6), (0.5, 0.5))  # bilinear reads 2 pixels; jump halves
    assert resize.explain == []


def test_a_failing_geometry_is_reported_as_such():
    class Broken(nn.Module):
        def forward(self, x):
            return x

        def geometry(self, call):
            raise KeyError("oops")

    class Wrong(nn.Module):
        def forward(self, x):
            return x

        def geometry(self, call):
            return {"macs": 1}

    with pytest.raises(RuntimeError, match=r"Broken\.geometry\(\) failed .*'oops'"):
        summary(Broken(), (1, 1, 4, 4))
    with pytest.raises(RuntimeError, match=r"Wrong\.geometry\(\) must return an nn\.LayerGeometry, got dict"):
        summary(Wrong(), (1, 1, 4, 4))


def test_num_threads_argument():
    result = summary(nn.Conv2d(3, 8, 3), (4, 3, 64, 64), num_threads=3)
    assert result.num_threads == 3 and "batch chunks on 3 threads" in str(result)
    assert ModelSummary.from_json(result.to_json()).num_threads == 3
    assert summary(nn.Conv2d(3, 8, 3), (1, 3, 8, 8)).num_threads == ck.kernels._parallel.get_num_threads()
    with pytest.raises(ValueError, match="num_threads"):
        summary(nn.Conv2d(3, 8, 3), (1, 3, 8, 8), num_threads=0)
