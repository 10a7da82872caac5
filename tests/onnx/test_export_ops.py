"""Every op the exporter writes, alone in a small model, against onnxruntime at two batch sizes on one file; an op
it cannot write is a clear error naming the op and the module."""

from __future__ import annotations

import numpy as np
import pytest
from onnx_helpers import assert_matches, export_and_compare, lively, reference, run_ort
from optional import require

import cnnkit as ck
import cnnkit.nn as nn
import cnnkit.nn.functional as F
import cnnkit.onnx as cko

require("onnx")
require("onnxruntime")


class Fn(nn.Module):
    """A model whose forward is ``fn(x)``, with an optional conv in front (so weights are involved)."""

    def __init__(self, fn, conv: bool = False, channels: int = 4):
        super().__init__()
        self.fn = fn
        self.conv = nn.Conv2d(channels, channels, 3, padding=1) if conv else None

    def forward(self, x):
        return self.fn(self.conv(x) if self.conv is not None else x)


CASES = {
    "conv_stride_dilation_groups": (nn.Conv2d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2), (4, 11, 9)),
    "conv_same": (nn.Conv2d(4, 4, 4, padding="same"), (4, 8, 8)),
    "conv_transpose": (nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1), (4, 5, 7)),
    "conv_transpose_groups_dilation": (nn.ConvTranspose2d(4, 6, 3, stride=3, padding=2, output_padding=2, groups=2,
                                                          dilation=2), (4, 5, 6)),
    "max_pool_ceil": (nn.MaxPool2d(3, 2, ceil_mode=True), (4, 10, 11)),
    "max_pool_pad_dilation": (nn.MaxPool2d(3, 2, padding=1, dilation=2), (4, 12, 9)),
    "avg_pool_pad_include": (nn.AvgPool2d(3, 2, padding=1, count_include_pad=True), (4, 9, 8)),
    "avg_pool_pad_exclude": (nn.AvgPool2d(3, 2, padding=1, count_include_pad=False), (4, 9, 8)),
    "avg_pool_ceil": (nn.AvgPool2d(2, 2, ceil_mode=True), (4, 7, 9)),
    "avg_pool_divisor": (nn.AvgPool2d(2, 2, divisor_override=3), (4, 8, 8)),
    "adaptive_avg_1": (nn.AdaptiveAvgPool2d(1), (4, 7, 5)),
    "adaptive_avg_divides": (nn.AdaptiveAvgPool2d((3, 2)), (4, 9, 8)),
    "adaptive_avg_uneven": (nn.AdaptiveAvgPool2d((4, 3)), (4, 14, 10)),
    "adaptive_max_uneven": (nn.AdaptiveMaxPool2d((3, 4)), (4, 10, 14)),
    "batch_norm": (nn.BatchNorm2d(4), (4, 5, 5)),
    "lrn_odd": (nn.LocalResponseNorm(5, alpha=5e-3, k=2.0), (8, 4, 4)),
    "lrn_even": (nn.LocalResponseNorm(4, alpha=5e-3, k=2.0), (8, 4, 4)),
    "relu6": (Fn(F.relu6, conv=True), (4, 5, 5)),
    "leaky_relu": (Fn(lambda x: F.leaky_relu(x, 0.2)), (4, 5, 5)),
    "elu": (Fn(lambda x: F.elu(x, 0.7)), (4, 5, 5)),
    "gelu": (Fn(F.gelu), (4, 5, 5)),
    "gelu_tanh": (Fn(lambda x: F.gelu(x, approximate="tanh")), (4, 5, 5)),
    "sigmoid_tanh": (Fn(lambda x: F.sigmoid(x) * F.tanh(x)), (4, 5, 5)),
    "softmax": (Fn(lambda x: F.softmax(x, dim=1)), (4, 5, 5)),
    "log_softmax": (Fn(lambda x: F.log_softmax(F.flatten(x, 1), dim=1)), (4, 3, 3)),
    "linear_3d": (Fn(lambda x: x), (4, 5, 5)),  # replaced below
    "flatten_linear": (nn.Sequential(nn.Flatten(), nn.Linear(60, 7), nn.Dropout(0.5)), (4, 3, 5)),
    "reshape_permute": (Fn(lambda x: F.permute(F.reshape(x, (x.shape[0], 2, 2, 25)), (0, 3, 1, 2))), (4, 5, 5)),
    "concat_add_mul": (Fn(lambda x: F.cat([x * 2.0 + 1.0, x - 0.5, x / 3.0], 1), conv=True), (4, 5, 5)),
    "slice_step_index": (Fn(lambda x: x[:, 1:4, ::2, 1::3] + F.unsqueeze(x[:, 0, ::2, 1::3], 1)), (4, 9, 10)),
    "pad": (Fn(lambda x: F.pad(x, (1, 2, 0, 3, 1, 1))), (4, 5, 5)),
    "reductions": (Fn(lambda x: F.mean(x, axis=(2, 3), keepdims=True) + F.sum(x, axis=1, keepdims=True)
                      - F.max(x, axis=3, keepdims=True)), (4, 5, 6)),
    "variance": (Fn(lambda x: F.var(x, axis=(2, 3), keepdims=True)), (4, 5, 6)),
    "nearest_scale": (nn.Upsample(scale_factor=2, mode="nearest"), (4, 5, 6)),
    "nearest_size": (Fn(lambda x: F.interpolate(x, size=(7, 13))), (4, 5, 6)),
    "nearest_exact": (Fn(lambda x: F.interpolate(x, size=(7, 13), mode="nearest-exact")), (4, 5, 6)),
    "bilinear_scale": (nn.Upsample(scale_factor=2, mode="bilinear"), (4, 5, 6)),
    "bilinear_size": (Fn(lambda x: F.interpolate(x, size=(9, 4), mode="bilinear")), (4, 5, 6)),
    "bilinear_align": (nn.UpsamplingBilinear2d(size=(11, 7)), (4, 5, 6)),
    "expand": (Fn(lambda x: F.mean(x, axis=1, keepdims=True).expand(x.shape[0], 4, 5, 6) + x), (4, 5, 6)),
}


def _model(name):
    model, shape = CASES[name]
    if name == "linear_3d":
        model = nn.Sequential(nn.Flatten(2), nn.Linear(25, 3))
    return lively(model, seed=3), shape


@pytest.mark.parametrize("name", sorted(CASES))
def test_op_matches_onnxruntime(name, tmp_path):
    model, shape = _model(name)
    export_and_compare(model, shape, tmp_path / f"{name}.onnx", batches=(2, 3))


def test_max_pool_indices_and_values_as_outputs(tmp_path):
    class PoolWithIndices(nn.Module):
        def forward(self, x):
            return tuple(F.max_pool2d(x, 2, return_indices=True))

    model = PoolWithIndices()
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 8)).astype(np.float32)
    cko.export(model, x, tmp_path / "mp.onnx")
    y, idx = run_ort(tmp_path / "mp.onnx", x)
    ref_y, ref_idx = F.max_pool2d(ck.tensor(x), 2, return_indices=True)
    assert_matches(y, ref_y.data, "values")
    np.testing.assert_array_equal(idx, ref_idx.data)  # per-plane numbering, as cnnkit and PyTorch


class Mystery(ck.Function):
    def forward(self, x):
        return x * 2

    def backward(self, g):
        return g * 2


def test_an_op_without_writer_names_op_and_module(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 2, 3), Fn(lambda x: Mystery.apply(x)))
    with pytest.raises(cko.ExportError, match=r"op Mystery in module '1' \(Fn\)"):
        cko.export(model, np.zeros((1, 1, 5, 5), np.float32), tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_training_mode_dropout_names_the_module(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 2, 3), Fn(lambda x: F.dropout(x, 0.5, training=True)))
    with pytest.raises(cko.ExportError, match=r"Dropout in module '1'.*eval"):
        cko.export(model, np.zeros((1, 1, 5, 5), np.float32), tmp_path / "m.onnx")


def test_export_leaves_the_mode_and_weights_alone(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    before = {k: v.copy() for k, v in model.state_dict().items()}
    cko.export(model, np.ones((1, 1, 5, 5), np.float32), tmp_path / "m.onnx")
    assert model.training
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_static_batch_and_metadata(tmp_path):
    import onnx

    model = lively(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(18, 4)))
    cko.export(model, np.ones((2, 1, 5, 5), np.float32), tmp_path / "m.onnx", dynamic_batch=False,
               metadata={"cnnkit.run": {"a": 1}})
    proto = onnx.load(str(tmp_path / "m.onnx"))
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 2
    assert {p.key: p.value for p in proto.metadata_props} == {"cnnkit.run": '{"a": 1}'}
    x = np.random.default_rng(1).standard_normal((2, 1, 5, 5)).astype(np.float32)
    assert_matches(run_ort(tmp_path / "m.onnx", x)[0], reference(model, x), "static batch")


def test_bad_opset_is_an_input_error(tmp_path):
    with pytest.raises(ck.InputError, match="opset"):
        cko.export(nn.ReLU(), np.ones((1, 1, 2, 2), np.float32), tmp_path / "m.onnx", opset=7)


def test_max_unpool_pairs_with_the_pooling_indices(tmp_path):
    class SegNetStep(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 3, 3, padding=1)

        def forward(self, x):
            y, idx = F.max_pool2d(self.conv(x), 2, return_indices=True)
            return F.max_unpool2d(F.relu(y), idx, 2, output_size=tuple(x.shape[-2:]))

    model = lively(SegNetStep())
    export_and_compare(model, (2, 6, 8), tmp_path / "unpool.onnx", batches=(1, 3))
