"""Transfer learning for detectors: a backbone started from a classification checkpoint, and frozen."""

import numpy as np
import pytest

import cnnkit as ck
from cnnkit.errors import InputError
from cnnkit.models import get_model, resnet20
from cnnkit.runs import _start_backbone
from cnnkit.training.checkpoint import save_checkpoint
from cnnkit.training.config import RunConfig


def test_init_loads_matching_backbone_weights_and_freezes(tmp_path):
    ck.manual_seed(1)
    classifier = resnet20(num_classes=3)
    path = save_checkpoint(tmp_path / "cls.ckpt", {"model": classifier.state_dict()})
    detector = get_model("faster_rcnn", num_classes=3, backbone="resnet20", representation_size=16)
    config = RunConfig(task="detection", dataset="digits", model="faster_rcnn", init=str(path), freeze_backbone=True)
    note = _start_backbone(detector, config, load=True)
    total = len(detector.backbone.state_dict())
    assert f"{total} of {total} tensors loaded" in note and "frozen" in note
    np.testing.assert_array_equal(detector.backbone.layer2[0].conv1.weight.data, classifier.layer2[0].conv1.weight.data)
    detector.train()
    assert not detector.backbone.bn1.training and detector.rpn.training
    assert not any(p.requires_grad for p in detector.backbone.parameters())
    assert all(p.requires_grad for p in detector.roi_heads.parameters())
    # a resumed run takes its weights from its own checkpoint: only the freezing is applied again
    assert "loaded" not in _start_backbone(get_model("faster_rcnn", backbone="resnet20"), config, load=False)


def test_init_refusals(tmp_path):
    path = save_checkpoint(tmp_path / "other.ckpt", {"model": {"fc.weight": np.zeros((2, 2), np.float32)}})
    config = RunConfig(task="detection", model="faster_rcnn", init=str(path))
    with pytest.raises(InputError, match="none of its weights fits"):
        _start_backbone(get_model("faster_rcnn"), config, load=True)
    with pytest.raises(InputError, match="no file"):
        _start_backbone(get_model("faster_rcnn"), RunConfig(init=str(tmp_path / "missing.ckpt")), load=True)
    with pytest.raises(InputError, match="no backbone"):
        _start_backbone(resnet20(), RunConfig(model="resnet20", freeze_backbone=True), load=True)
    with pytest.raises(InputError, match="freeze_backbone must be a bool"):
        RunConfig(freeze_backbone="yes").validate()
    with pytest.raises(InputError, match="has no setting 'backbone'"):
        ck.models.build_model("resnet20", num_classes=3, backbone="x")
