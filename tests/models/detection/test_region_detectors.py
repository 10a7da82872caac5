"""R-CNN, SPP-net and Fast R-CNN: the region poolers, the SVM labels, losses and detections, empty images, timings."""

import numpy as np
import pytest

import cnnkit as ck
from cnnkit import nn
from cnnkit.errors import InputError
from cnnkit.models import build_model
from cnnkit.models.detection.rcnn import WarpedRegions, context_boxes
from cnnkit.models.detection.region_detector import SelectiveSearchProposals
from cnnkit.models.detection.spp_net import WindowPyramidPool

NAMES = ("rcnn", "spp_net", "fast_rcnn")


def _scenes(n=3):
    from cnnkit.data.synthetic import ShapeScenes

    scenes = ShapeScenes(n=n, seed=5, target="boxes", min_objects=1)
    return scenes.data, [{"boxes": b, "labels": lab} for b, lab in zip(scenes.boxes, scenes.labels, strict=True)]


def test_window_pyramid_equals_spp_on_the_cropped_window():
    rng = np.random.default_rng(0)
    features = rng.standard_normal((2, 3, 12, 10)).astype(np.float32)
    boxes = [np.array([[0, 0, 36, 44], [8, 4, 36, 30]], np.float32), np.array([[16, 12, 36, 44]], np.float32)]
    pooled = WindowPyramidPool((4, 2, 1))(ck.tensor(features), boxes, (48, 40)).numpy()  # stride 4
    spp = nn.SpatialPyramidPool2d((4, 2, 1))
    row = 0
    for i, image_boxes in enumerate(boxes):
        for x1, y1, x2, y2 in (np.round(image_boxes / 4).astype(int)):
            window = features[i:i + 1, :, y1:y2 + 1, x1:x2 + 1]
            np.testing.assert_allclose(pooled[row], spp(ck.tensor(window)).numpy()[0])
            row += 1


def test_warp_fills_the_crop_and_pads_with_the_mean():
    image = np.zeros((1, 3, 20, 20), np.float32)
    image[0, :, 4:12, 6:14] = np.array([0.9, 0.5, 0.1], np.float32)[:, None, None]
    warp = WarpedRegions(nn.Identity(), crop_size=16, context=0)
    crop = warp.warp(image, [np.array([[7, 5, 13, 11]], np.float32)])  # inside the flat patch
    assert crop.shape == (1, 3, 16, 16)
    np.testing.assert_allclose(crop[0, :, 0, 0], [0.9, 0.5, 0.1], atol=1e-6)
    np.testing.assert_allclose(crop[0], np.broadcast_to(crop[0, :, :1, :1], crop[0].shape), atol=1e-6)
    # a box at the corner with context: the part outside the image is the image's mean colour
    padded = WarpedRegions(nn.Identity(), crop_size=16, context=4).warp(image, np.array([[0, 0, 0, 8, 8]]))
    np.testing.assert_allclose(padded[0, :, 0, 0], image[0].mean(axis=(1, 2)), atol=1e-6)
    np.testing.assert_allclose(context_boxes(np.array([[4.0, 4, 12, 12]]), 16, 4), [[0, 0, 16, 16]])


def test_svm_labels():
    heads = build_model("spp_net", num_classes=3).roi_heads
    gt = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32)
    regions = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [40, 40, 50, 50], [20, 20, 30, 30]], np.float32)
    y = heads.svm_labels(regions, gt, np.array([0, 2]))
    np.testing.assert_array_equal(y, [[1, -1, -1], [0, -1, -1], [-1, -1, -1], [-1, -1, 1]])


@pytest.mark.parametrize("name", NAMES)
def test_losses_and_detections(name):
    ck.manual_seed(0)
    images, targets = _scenes()
    targets[1] = {"boxes": np.zeros((0, 4), np.float32), "labels": np.zeros(0, np.int64)}  # an empty image
    model = build_model(name, num_classes=3, in_channels=3)
    model.train()
    losses = model(ck.tensor(images), targets)
    expected = {"loss_classifier", "loss_box_reg"} | ({"loss_svm"} if name != "fast_rcnn" else set())
    assert set(losses) == expected
    total = sum(losses.values(), ck.tensor(0.0))
    assert np.isfinite(total.item())
    total.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(np.isfinite(np.asarray(g)).all() for g in grads)
    model.eval()
    flat = np.full((1, 3, 64, 64), 0.4, np.float32)  # one region only: the whole image
    out = model(ck.tensor(np.concatenate([images, flat])))
    assert len(out) == 4
    for det in out:
        assert det["boxes"].dtype == np.float32 and det["boxes"].shape[1:] == (4,)
        assert det["scores"].dtype == np.float32 and det["labels"].dtype == np.int64
        assert len(det["boxes"]) == len(det["scores"]) == len(det["labels"])
        assert np.all((det["labels"] >= 0) & (det["labels"] < 3))
    assert model.timings["images"] == 4 and model.timings["cnn"] > 0 and model.timings["heads"] > 0


def test_bad_targets_are_one_line_errors():
    images, targets = _scenes(1)
    model = build_model("fast_rcnn", num_classes=3)
    bad = {"boxes": np.array([[10, 10, 5, 20]], np.float32), "labels": np.array([0])}
    with pytest.raises(InputError, match="expected x1 <= x2"):
        model(ck.tensor(images), [bad])
    with pytest.raises(InputError, match="outside the 3 classes"):
        model(ck.tensor(images), [{"boxes": targets[0]["boxes"], "labels": targets[0]["labels"] + 3}])


def test_proposals_are_cached_by_content(monkeypatch):
    import cnnkit.ops as ops

    calls = []
    real = ops.selective_search
    monkeypatch.setattr(ops, "selective_search", lambda image, **kw: calls.append(1) or real(image, **kw))
    proposer = SelectiveSearchProposals("fast")
    images, _ = _scenes(2)
    first = proposer(images)
    again = proposer(images.copy())
    assert len(calls) == 2 and all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))


def test_cli_trains_and_detects_with_a_region_detector(tmp_path, capsys):
    import json

    from PIL import Image

    from cnnkit.cli import main

    out = tmp_path / "run"
    assert main(["train", "--task", "detection", "--model", "spp_net", "--dataset", "shapes", "--subset", "12",
                 "--epochs", "1", "--batch-size", "4", "--out", str(out), "--no-progress", "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0.0 <= report["map50"] <= 1.0
    picture = tmp_path / "scene.png"
    image = np.full((64, 64, 3), 40, np.uint8)
    image[10:30, 12:40] = (230, 200, 20)
    Image.fromarray(image).save(picture)
    assert main(["detect", str(out / "best.ckpt"), str(picture), "--out", str(tmp_path / "det"), "--json",
                 "--score-threshold", "0"]) == 0
    (found,) = json.loads(capsys.readouterr().out)
    assert len(found["boxes"]) == len(found["scores"]) == len(found["classes"])
