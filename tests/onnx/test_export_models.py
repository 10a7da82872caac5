"""Export of the zoo's classifiers at their natural input size and of U-Net/FCN-8s-shaped networks: onnx.checker
passes and onnxruntime matches cnnkit (<= 1e-4 x max(1, |ref|)) at batch 1 and 3 on one file (dynamic batch).

CI runs one model of each family but VGG (the deeper members of a family add no new op, and VGG's ops are all in
the others; its 100M-weight classifier makes one export take about a minute here); CNNKIT_ONNX_FULL_ZOO=1 runs
every classifier of the zoo."""

from __future__ import annotations

import os

import pytest
from onnx_helpers import export_and_compare, lively
from onnx_segnets import FCNLike, UNetLike
from optional import require

from cnnkit import models

require("onnx")
require("onnxruntime")

REPRESENTATIVE = ["lenet5", "small_cnn", "alexnet_original", "googlenet", "resnet18", "resnet50",
                  "preact_resnet18", "resnet20", "densenet121"]
ALL = models.list_models("classification")
NAMES = ALL if os.environ.get("CNNKIT_ONNX_FULL_ZOO") else REPRESENTATIVE


def test_the_representatives_are_zoo_classifiers():
    assert set(REPRESENTATIVE) <= set(ALL)
    families = {"lenet", "small", "alexnet", "googlenet", "resnet", "preact", "densenet"}
    assert all(any(n.startswith(f) for n in REPRESENTATIVE) for f in families)


@pytest.mark.parametrize("name", NAMES)
def test_zoo_classifier_exports_and_matches_onnxruntime(name, tmp_path):
    model = lively(models.get_model(name))
    proto = export_and_compare(model, models.model_input_size(name), tmp_path / f"{name}.onnx")
    inits = {t.name for t in proto.graph.initializer}
    params = {k for k, _ in model.named_parameters()}
    assert params <= inits, sorted(params - inits)[:5]  # weights under their state-dict names
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_node_names_are_module_paths(tmp_path):
    import onnx

    model = lively(models.resnet18(num_classes=10))
    export_and_compare(model, (3, 64, 64), tmp_path / "r18.onnx", batches=(2,))
    names = [n.name for n in onnx.load(str(tmp_path / "r18.onnx")).graph.node]
    for expected in ("conv1", "bn1", "maxpool", "layer1.0.conv1", "layer1.0.bn2", "layer2.0.downsample.0", "fc"):
        assert expected in names, expected
    assert "layer1.0" in names  # the residual addition belongs to the block
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("cls,shape", [(UNetLike, (3, 44, 44)), (FCNLike, (3, 64, 64))])
def test_segmentation_networks_export_and_come_back(cls, shape, tmp_path):
    import numpy as np
    from onnx_helpers import assert_matches, reference

    import cnnkit.onnx as cko

    model = lively(cls())
    export_and_compare(model, shape, tmp_path / "seg.onnx")
    back = cko.load(tmp_path / "seg.onnx")
    x = np.random.default_rng(5).standard_normal((2, *shape)).astype(np.float32)
    assert_matches(reference(back, x), reference(model, x), f"{cls.__name__} imported")
    assert set(back.state_dict()) == set(model.state_dict())  # the layers come back under their own names


def _tiny_paper_fcn8s():
    from cnnkit.models.fcn import FCN

    return FCN(5, 3, 8, stages=((4, 2), (4, 2), (8, 3), (8, 3), (8, 3)), head=8)  # pad 100 and the paper's crops


@pytest.mark.parametrize("build,shape", [
    (lambda: models.unet_small(num_classes=4), (3, 64, 64)),
    (lambda: models.unet(num_classes=3, base=4, depth=3, up="bilinear"), (3, 37, 45)),
    (lambda: models.fcn8s_small(num_classes=4), (3, 64, 64)),
    (_tiny_paper_fcn8s, (3, 50, 61)),
    (lambda: models.encoder_decoder(num_classes=4, widths=(4, 8), up="unpool"), (3, 30, 37)),
], ids=["unet_small", "unet_bilinear_odd", "fcn8s_small", "fcn8s_paper_geometry", "encoder_decoder_unpool"])
def test_zoo_segmentation_models_export_and_come_back(build, shape, tmp_path):
    import numpy as np
    from onnx_helpers import assert_matches, reference

    import cnnkit.onnx as cko

    model = lively(build())
    proto = export_and_compare(model, shape, tmp_path / "seg.onnx")
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    back = cko.load(tmp_path / "seg.onnx")
    x = np.random.default_rng(5).standard_normal((2, *shape)).astype(np.float32)
    assert_matches(reference(back, x), reference(model, x), "imported")
