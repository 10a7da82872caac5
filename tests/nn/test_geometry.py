"""Module.geometry(call) -> LayerGeometry: each layer describes its own MACs, window, workspace and parameters."""

from __future__ import annotations

import numpy as np
import pytest

import cnnkit.nn as nn
from cnnkit.kernels import conv as K


def _call(x_shape, y_shape, dtype=np.float32, threads=1):
    return nn.LayerCall((tuple(x_shape),), (tuple(y_shape),), np.dtype(dtype), threads)


def test_default_passes_the_receptive_field_on():
    geo = nn.ReLU().geometry(_call((1, 2, 5, 5), (1, 2, 5, 5)))
    assert geo == nn.LayerGeometry()
    assert geo.macs == 0 and geo.window is None and geo.workspace_bytes == 0 and geo.params is None


def test_attributes_alone_make_a_window_without_formulas():
    class Subsample(nn.Module):
        def __init__(self):
            super().__init__()
            self.kernel_size, self.stride = 1, 2

        def forward(self, x):
            return x[:, :, ::2, ::2]

    geo = Subsample().geometry(_call((1, 2, 6, 6), (1, 2, 3, 3)))
    assert geo.window == nn.Window(1, 2) and not geo.explain
    assert geo.window.receptive_field((3, 3), (2, 2)) == ((3, 3), (4, 4))


def test_conv2d():
    conv = nn.Conv2d(6, 8, (3, 5), stride=(1, 2), padding=1, dilation=(2, 1), groups=2)
    x, y = (3, 6, 10, 12), (3, 8, 8, 5)
    geo = conv.geometry(_call(x, y, threads=2))
    assert geo.macs == 3 * 5 * 3 * 8 * 8 * 5 * 3
    assert geo.window == nn.Window((3, 5), (1, 2), ((1, 1), (1, 1)), (2, 1))
    assert geo.window.output_size(x[2:]) == y[2:]
    assert geo.window.receptive_field((1, 1), (1, 1)) == ((5, 5), (1, 2))
    assert geo.workspace_bytes == K.conv2d_workspace_bytes(x, conv.weight.shape, (1, 2), 1, (2, 1), 2, num_threads=2)
    assert geo.im2col_matrix == (6 * 15, 8 * 5, 3)
    assert geo.params == nn.ParamCount((3, 5, 3, 8), 8) and geo.params.total == conv.num_parameters()


def test_conv2d_same_padding_and_unbatched_input():
    conv = nn.Conv2d(2, 2, 4, padding="same", bias=False)
    geo = conv.geometry(_call((2, 9, 9), (2, 9, 9)))  # (C, H, W): a batch of one
    assert geo.window.padding == ((1, 2), (1, 2)) and geo.window.output_size((9, 9)) == (9, 9)
    assert geo.macs == 16 * 2 * 2 * 81
    assert geo.params == nn.ParamCount((4, 4, 2, 2), 0)
    assert nn.Conv2d(2, 2, 3, padding="valid").geometry(_call((1, 2, 9, 9), (1, 2, 7, 7))).window.padding == \
        ((0, 0), (0, 0))


def test_conv_transpose2d_uses_the_calls_output_padding():
    tconv = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, groups=2)
    x, y = (2, 4, 5, 7), (2, 6, 10, 14)  # forward(x, output_size=(10, 14)): output_padding 1 on both axes
    geo = tconv.geometry(_call(x, y))
    assert geo.macs == 9 * 3 * 4 * 5 * 7 * 2
    assert geo.window == nn.TransposedWindow(3, 2, 1, 1, 1)
    assert geo.window.output_size(x[2:]) == y[2:]
    assert geo.window.receptive_field((3, 3), (2, 2)) == ((5, 5), (1, 1))
    assert geo.im2col_matrix == (6 * 9, 35, 2)
    assert geo.workspace_bytes == K.conv2d_workspace_bytes(x, tconv.weight.shape, 2, 1, 1, 2, transposed=True,
                                                           output_padding=1, num_threads=1)


def test_pools():
    geo = nn.MaxPool2d(3, 2, 1, ceil_mode=True).geometry(_call((1, 1, 8, 8), (1, 1, 5, 5)))
    assert geo.window == nn.Window(3, 2, 1, 1, True) and geo.macs == 0 and geo.params == nn.ParamCount()
    assert geo.window.output_size((8, 8)) == (5, 5)
    assert nn.AvgPool2d((2, 3)).geometry(_call((1, 1, 8, 9), (1, 1, 4, 3))).window == nn.Window((2, 3), (2, 3))
    geo = nn.AdaptiveAvgPool2d((3, None)).geometry(_call((1, 1, 7, 5), (1, 1, 3, 5)))
    assert geo.window == nn.AdaptiveWindow((7, 5), (3, 5))
    assert geo.window.windows == ((3, 2), (1, 1))  # bins [0,3) [2,5) [4,7): widest 3, stride 7 // 3
    assert geo.window.receptive_field((1, 1), (1, 1)) == ((3, 1), (2, 1))
    assert nn.AdaptiveMaxPool2d(1).geometry(_call((1, 1, 7, 7), (1, 1, 1, 1))).window.windows == ((7, 7), (7, 7))


def test_linear_and_batch_norm():
    geo = nn.Linear(7, 5).geometry(_call((2, 3, 7), (2, 3, 5)))
    assert geo.macs == 7 * 5 * 6 and geo.window is None and geo.params == nn.ParamCount((7, 5), 5)
    assert nn.Linear(7, 5, bias=False).geometry(_call((2, 7), (2, 5))).params.total == 35
    assert nn.BatchNorm2d(4).geometry(_call((1, 4, 2, 2), (1, 4, 2, 2))) == nn.LayerGeometry(
        params=nn.ParamCount((2, 4)))
    assert nn.BatchNorm2d(4, affine=False).geometry(_call((1, 4, 2, 2), (1, 4, 2, 2))).params.total == 0
    assert nn.BatchNorm1d(4).geometry(_call((3, 4), (3, 4))).params.total == 8


@pytest.mark.parametrize("mode, taps", [("nearest", 1), ("bilinear", 2)])
def test_upsample_divides_the_jump(mode, taps):
    geo = nn.Upsample(scale_factor=2, mode=mode).geometry(_call((1, 1, 4, 4), (1, 1, 8, 8)))
    assert geo.window == nn.Resize((4, 4), (8, 8), taps) and geo.macs == 0
    assert geo.window.receptive_field((7, 7), (4, 4)) == ((7 + (taps - 1) * 4,) * 2, (2, 2))
    assert geo.window.receptive_field((1, 1), (1, 1))[1] == (0.5, 0.5)
    area = nn.Upsample(size=(2, 2), mode="area").geometry(_call((1, 1, 4, 4), (1, 1, 2, 2)))
    assert area.window == nn.AdaptiveWindow((4, 4), (2, 2))


def test_windows_check_their_arguments():
    with pytest.raises(TypeError, match="kernel must be an int or a pair"):
        nn.Window("3")
    with pytest.raises(ValueError, match="must be positive"):
        nn.Window(3, stride=0)
    with pytest.raises(ValueError, match="must be positive"):
        nn.Resize((4, 4), (0, 8))
