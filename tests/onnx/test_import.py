"""ONNX import: models exported from PyTorch (``torch.onnx.export``, the test oracle) run in cnnkit with torch's
outputs, train and fine-tune; bad files are clear errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from onnx_helpers import assert_matches, reference
from optional import require
from oracle import requires_torch, torch

import cnnkit as ck
import cnnkit.nn.functional as F
import cnnkit.onnx as cko
from cnnkit import optim
from cnnkit.onnx.importer import OnnxImportError

onnx = require("onnx")

if torch is not None:
    tnn = torch.nn

    def t_lenet5():
        return tnn.Sequential(
            tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Conv2d(6, 16, 5), tnn.ReLU(),
            tnn.MaxPool2d(2), tnn.Flatten(), tnn.Linear(400, 120), tnn.ReLU(), tnn.Linear(120, 84), tnn.ReLU(),
            tnn.Linear(84, 10))

    class TBlock(tnn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = tnn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(cout)
            self.conv2 = tnn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(cout)
            self.down = None
            if stride != 1 or cin != cout:
                self.down = tnn.Sequential(tnn.Conv2d(cin, cout, 1, stride, bias=False), tnn.BatchNorm2d(cout))

        def forward(self, x):
            out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
            return torch.relu(out + (x if self.down is None else self.down(x)))

    class TResNet18(tnn.Module):
        def __init__(self, num_classes=10):
            super().__init__()
            self.stem = tnn.Sequential(tnn.Conv2d(3, 64, 7, 2, 3, bias=False), tnn.BatchNorm2d(64), tnn.ReLU(),
                                       tnn.MaxPool2d(3, 2, 1))
            layers, cin = [], 64
            for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
                layers += [TBlock(cin, cout, stride), TBlock(cout, cout, 1)]
                cin = cout
            self.layers = tnn.Sequential(*layers)
            self.fc = tnn.Linear(512, num_classes)

        def forward(self, x):
            return self.fc(torch.flatten(tnn.functional.adaptive_avg_pool2d(self.layers(self.stem(x)), 1), 1))

    class TUNet(tnn.Module):
        def __init__(self, c=8, classes=3):
            super().__init__()

            def block(i, o):
                return tnn.Sequential(tnn.Conv2d(i, o, 3, padding=1), tnn.BatchNorm2d(o), tnn.ReLU(),
                                      tnn.Conv2d(o, o, 3, padding=1), tnn.BatchNorm2d(o), tnn.ReLU())

            self.e1, self.e2, self.e3 = block(3, c), block(c, 2 * c), block(2 * c, 4 * c)
            self.up2 = tnn.ConvTranspose2d(4 * c, 2 * c, 2, stride=2)
            self.d2 = block(4 * c, 2 * c)
            self.up1 = tnn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
            self.d1 = block(3 * c, c)
            self.out = tnn.Conv2d(c, classes, 1)

        def forward(self, x):
            x1 = self.e1(x)
            x2 = self.e2(tnn.functional.max_pool2d(x1, 2))
            x3 = self.e3(tnn.functional.max_pool2d(x2, 2))
            y = self.d2(torch.cat([x2, self.up2(x3)], 1))
            y = self.d1(torch.cat([x1, self.up1(y)], 1))
            return tnn.functional.interpolate(self.out(y), scale_factor=2, mode="nearest")


def _torch_lively(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, tnn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.normal_(0, 0.1, generator=g)
                m.running_mean.normal_(0, 0.1, generator=g)
                m.running_var.uniform_(0.5, 1.5, generator=g)
    return model.eval()


def _export_torch(model, shape, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.randn(1, *shape), str(path), dynamo=False, opset_version=17,
                          input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
    return path


@requires_torch
@pytest.mark.parametrize("name,build,shape", [
    ("lenet5", lambda: t_lenet5(), (1, 28, 28)),
    ("resnet18", lambda: TResNet18(), (3, 64, 64)),
    ("unet", lambda: TUNet(), (3, 32, 32)),
])
def test_torch_exported_model_runs_in_cnnkit(name, build, shape, tmp_path):
    torch.manual_seed(0)
    tmodel = _torch_lively(build())
    model = cko.load(_export_torch(tmodel, shape, tmp_path / f"{name}.onnx"))
    for n in (1, 3):
        x = np.random.default_rng(n).standard_normal((n, *shape)).astype(np.float32)
        with torch.no_grad():
            ref = tmodel(torch.from_numpy(x)).numpy()
        assert_matches(reference(model, x), ref, f"{name} batch {n}")


@requires_torch
def test_an_imported_model_fine_tunes(tmp_path):
    torch.manual_seed(0)
    tmodel = t_lenet5().eval()
    model = cko.load(_export_torch(tmodel, (1, 28, 28), tmp_path / "lenet.onnx"))
    params = list(model.parameters())
    assert len(params) == 10 and all(p.requires_grad for p in params)
    rng = np.random.default_rng(0)
    x, y = ck.tensor(rng.standard_normal((16, 1, 28, 28)).astype(np.float32)), ck.tensor(rng.integers(0, 10, 16))
    opt = optim.Adam(params, lr=3e-3)
    model.train()
    losses = []
    for _ in range(30):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
    assert losses[-1] < 0.2 * losses[0]  # it memorises the batch
    # the fine-tuned weights go back out and match in onnxruntime
    require("onnxruntime")
    from onnx_helpers import run_ort

    model.eval()
    cko.export(model, x.data[:1], tmp_path / "tuned.onnx")
    assert_matches(run_ort(tmp_path / "tuned.onnx", x.data)[0], reference(model, x.data), "fine-tuned")


def test_cnnkit_export_round_trip_keeps_state_dict_keys(tmp_path):
    from onnx_helpers import lively

    from cnnkit import models

    model = lively(models.resnet20())
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    cko.export(model, x, tmp_path / "r20.onnx")
    back = cko.load(tmp_path / "r20.onnx")
    assert_matches(reference(back, x), reference(model, x), "round trip")
    keys = [k for k in model.state_dict() if not k.endswith("num_batches_tracked")]
    assert [k for k in back.state_dict() if not k.endswith("num_batches_tracked")] == keys


def _graph_with(op_type: str, path):
    h = onnx.helper
    node = h.make_node(op_type, ["x"], ["y"], name="odd_node")
    graph = h.make_graph([node], "g", [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3])],
                         [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 3])])
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


def test_unsupported_op_is_named(tmp_path):
    with pytest.raises(OnnxImportError, match=r"node 'odd_node' \(op Hardmax\).*not supported"):
        cko.load(_graph_with("Hardmax", tmp_path / "odd.onnx"))


@pytest.mark.parametrize("keep", [0.3, 0.7, 0.95])
def test_truncated_file_is_a_clear_error(keep, tmp_path):
    from onnx_helpers import lively

    from cnnkit import models

    cko.export(lively(models.lenet5()), np.zeros((1, 1, 28, 28), np.float32), tmp_path / "full.onnx")
    data = (tmp_path / "full.onnx").read_bytes()
    (tmp_path / "cut.onnx").write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(OnnxImportError, match="cut.onnx"):
        cko.load(tmp_path / "cut.onnx")


def test_not_onnx_and_missing(tmp_path):
    (tmp_path / "text.onnx").write_text("hello, not a model")
    with pytest.raises(OnnxImportError):
        cko.load(tmp_path / "text.onnx")
    with pytest.raises(OnnxImportError, match="no file"):
        cko.load(tmp_path / "missing.onnx")
