"""Faster R-CNN: output shapes, the loss dict, gradients into the backbone, empty scenes, a short overfit."""

import numpy as np
import pytest

import cnnkit as ck
from cnnkit.data.synthetic import ShapeScenes
from cnnkit.errors import InputError
from cnnkit.models import build_model, get_model, list_models
from cnnkit.models.detection import RoIHeads, faster_rcnn

LOSSES = {"loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg"}


@pytest.fixture(scope="module")
def scenes():
    ds = ShapeScenes(6, size=64, seed=3, min_objects=1, target="boxes")
    images = ck.tensor(np.stack([ds[i][0] for i in range(4)]))
    return images, [ds[i][1] for i in range(4)]


def _small(**kw):
    ck.manual_seed(0)
    return faster_rcnn(num_classes=3, representation_size=64, **kw)


def test_registry_entry():
    assert "faster_rcnn" in list_models("detection")
    model = build_model("faster_rcnn", num_classes=5, in_channels=1)
    assert model.roi_heads.cls_score.out_features == 6 and model.backbone.features[0].in_channels == 1


def test_training_losses_and_backward(scenes):
    images, targets = scenes
    model = _small()
    model.train()
    losses = model(images, targets)
    assert set(losses) == LOSSES
    assert all(np.isfinite(v.item()) for v in losses.values())
    total = sum(losses.values(), ck.tensor(0.0))
    total.backward()
    for p in (model.backbone.features[0].weight, model.rpn.head.cls_logits.weight, model.roi_heads.fc6.weight):
        assert p.grad is not None and np.abs(np.asarray(p.grad)).sum() > 0


def test_eval_outputs_and_empty_image(scenes):
    images, _ = scenes
    model = _small()
    model.eval()
    out = model(images)
    assert len(out) == 4
    for d in out:
        k = len(d["boxes"])
        assert d["boxes"].shape == (k, 4) and d["scores"].shape == (k,) and d["labels"].shape == (k,)
        assert d["boxes"].dtype == np.float32 and d["scores"].dtype == np.float32 and d["labels"].dtype == np.int64
        assert k <= 100 and (d["labels"] < 3).all() and (d["labels"] >= 0).all()
    # a head that scores nothing above its threshold returns empty arrays
    model.roi_heads.score_thresh = 1.0
    empty = model(ck.zeros((1, 3, 64, 64)))[0]
    assert empty["boxes"].shape == (0, 4) and empty["scores"].shape == (0,) and empty["labels"].shape == (0,)


def test_images_without_objects_train(scenes):
    images, targets = scenes
    model = _small()
    model.train()
    empty = {"boxes": np.zeros((0, 4), np.float32), "labels": np.zeros(0, np.int64)}
    losses = model(images[:2], [empty, targets[1]])
    assert set(losses) == LOSSES and all(np.isfinite(v.item()) for v in losses.values())
    losses = model(images[:1], [empty])
    assert losses["loss_box_reg"].item() == 0 and losses["loss_rpn_box_reg"].item() == 0
    sum(losses.values(), ck.tensor(0.0)).backward()


def test_bad_targets_one_line(scenes):
    images, targets = scenes
    model = _small()
    model.train()
    bad = [dict(t) for t in targets]
    bad[0] = {"boxes": np.array([[10, 10, 5, 20]], np.float32), "labels": np.array([0])}
    with pytest.raises(InputError, match="expected x1 <= x2"):
        model(images, bad)
    bad[0] = {"boxes": np.array([[1, 1, 5, 5]], np.float32), "labels": np.array([3])}
    with pytest.raises(InputError, match="outside the 3 classes"):
        model(images, bad)
    bad[0] = {"boxes": np.array([[1, np.nan, 5, 5]], np.float32), "labels": np.array([0])}
    with pytest.raises(InputError, match="must be finite"):
        model(images, bad)
    with pytest.raises(InputError, match="needs targets"):
        model(images)


def test_roi_heads_on_external_proposals(scenes):
    images, targets = scenes
    ck.manual_seed(0)
    heads = RoIHeads(8, num_classes=3, pool="pool", representation_size=32, batch_size_per_image=16)
    features = ck.randn((4, 8, 8, 8))
    proposals = [np.array([[0, 0, 30, 30], [10, 12, 40, 50]], np.float32)] * 4
    heads.train()
    losses = heads(features, proposals, (64, 64), targets)
    assert set(losses) == {"loss_classifier", "loss_box_reg"}
    heads.eval()
    out = heads(features, [proposals[0], np.zeros((0, 4), np.float32), proposals[0], proposals[0]], (64, 64))
    assert out[1]["boxes"].shape == (0, 4)


def test_short_overfit_reduces_loss(scenes):
    images, targets = scenes
    model = _small()
    model.train()
    opt = ck.optim.Adam(model.parameters(), lr=2e-3)
    totals = []
    for _ in range(12):
        losses = model(images, targets)
        total = sum(losses.values(), ck.tensor(0.0))
        opt.zero_grad()
        total.backward()
        opt.step()
        totals.append(total.item())
    assert np.mean(totals[-3:]) < 0.7 * np.mean(totals[:3])


def test_zoo_backbone():
    model = get_model("faster_rcnn", num_classes=2, backbone="resnet20", representation_size=32)
    assert model.backbone.out_channels == 64
    model.eval()
    assert len(model(ck.zeros((1, 3, 64, 64)))) == 1  # stride 4: the head reads the scale off the feature map
    with pytest.raises(InputError):
        get_model("faster_rcnn", backbone="faster_rcnn")
