"""YOLOv1: the grid tensor, the paper's loss against a plain loop, its gradient, decoding and empty images."""

import numpy as np
import pytest

import cnnkit as ck
import cnnkit.nn as nn
from cnnkit.autograd import gradcheck
from cnnkit.errors import InputError
from cnnkit.models import build_model, model_info
from cnnkit.models.detection.yolo import YOLOv1, decode_grid, encode_targets, yolo_loss


def _backbone(stride_convs: int = 3, channels: int = 8):
    layers, cin = [], 3
    for _ in range(stride_convs):
        layers += [nn.Conv2d(cin, channels, 3, stride=2, padding=1), nn.ReLU()]
        cin = channels
    return nn.Sequential(*layers)


def _model(S=8, B=2, C=3, **kwargs):
    ck.manual_seed(0)
    return YOLOv1(_backbone(), C, S=S, B=B, out_channels=8, head_channels=8, **kwargs)


def _images(n=2, size=64):
    return ck.tensor(np.random.default_rng(0).random((n, 3, size, size), dtype=np.float32))


def _random_targets(rng, n, size, C, max_objects=5):
    targets = []
    for _ in range(n):
        k = int(rng.integers(0, max_objects + 1))
        xy = rng.uniform(0, size * 0.7, (k, 2))
        wh = rng.uniform(2, size * 0.3, (k, 2))
        targets.append({"boxes": np.concatenate([xy, xy + wh], 1).astype(np.float32),
                        "labels": rng.integers(0, C, k).astype(np.int64)})
    return targets


def test_grid_shape_and_ranges():
    for S, B, C in [(8, 2, 3), (4, 3, 5)]:
        grid = _model(S, B, C).predict_grid(_images())
        assert grid.shape == (2, S, S, B * 5 + C)
        assert np.all((grid.data[..., :B * 5] > 0) & (grid.data[..., :B * 5] < 1))
        np.testing.assert_allclose(grid.data[..., B * 5:].sum(-1), 1, rtol=1e-5)


def test_larger_feature_map_is_pooled_to_the_grid():
    ck.manual_seed(0)
    model = YOLOv1(_backbone(2), 3, S=8, out_channels=8, head_channels=8)  # 16x16 features
    assert model.predict_grid(_images()).shape == (2, 8, 8, 13)


def _reference_loss(grid, targets, size, S, B, C, confidence_target, l_coord=5.0, l_noobj=0.5):
    """The paper's loss written as loops over images, cells and predictors."""
    n = grid.shape[0]
    coord = obj = noobj = cls = 0.0
    for i in range(n):
        owner = {}  # cell -> (area, object index): the largest object whose centre is in the cell
        boxes, labels = targets[i]["boxes"].astype(np.float64) / size, targets[i]["labels"]
        for k, (x1, y1, x2, y2) in enumerate(boxes):
            cell = (min(int((y1 + y2) / 2 * S), S - 1), min(int((x1 + x2) / 2 * S), S - 1))
            area = (x2 - x1) * (y2 - y1)
            if cell not in owner or area >= owner[cell][0]:
                owner[cell] = (area, k)
        for r in range(S):
            for c in range(S):
                preds = [grid[i, r, c, 5 * j:5 * j + 5] for j in range(B)]
                best = None
                if (r, c) in owner:
                    x1, y1, x2, y2 = boxes[owner[(r, c)][1]]
                    truth = ((x1 + x2) / 2 * S - c, (y1 + y2) / 2 * S - r, np.sqrt(x2 - x1), np.sqrt(y2 - y1))
                    ious = []
                    for p in preds:
                        px, py = (c + p[0]) / S, (r + p[1]) / S
                        pw, ph = p[2] ** 2, p[3] ** 2
                        iw = max(0.0, min(px + pw / 2, x2) - max(px - pw / 2, x1))
                        ih = max(0.0, min(py + ph / 2, y2) - max(py - ph / 2, y1))
                        union = pw * ph + (x2 - x1) * (y2 - y1) - iw * ih
                        ious.append(iw * ih / union if union > 0 else 0.0)
                    best = int(np.argmax(ious))
                    p = preds[best]
                    coord += l_coord * sum((p[m] - truth[m]) ** 2 for m in range(4))
                    target_conf = ious[best] if confidence_target == "iou" else 1.0
                    obj += (p[4] - target_conf) ** 2
                    onehot = np.eye(C)[labels[owner[(r, c)][1]]]
                    cls += sum((grid[i, r, c, 5 * B + m] - onehot[m]) ** 2 for m in range(C))
                for j, p in enumerate(preds):
                    if j != best:
                        noobj += l_noobj * p[4] ** 2
    return {"loss_coord": coord / n, "loss_obj": obj / n, "loss_noobj": noobj / n, "loss_class": cls / n}


@pytest.mark.parametrize("confidence_target", ["iou", "one"])
def test_loss_equals_plain_loop(confidence_target):
    rng = np.random.default_rng(1)
    n, S, B, C, size = 4, 4, 3, 3, 32
    grid = rng.uniform(0.05, 0.95, (n, S, S, B * 5 + C))
    targets = _random_targets(rng, n, size, C)
    targets[1]["boxes"] = np.array([[1, 1, 6, 6], [2, 2, 7, 5]], np.float32)  # two centres in one cell
    targets[1]["labels"] = np.array([0, 2])
    encoded = encode_targets(grid, targets, (size, size), B, C, confidence_target)
    got = yolo_loss(ck.tensor(grid), encoded, B)
    want = _reference_loss(grid, targets, size, S, B, C, confidence_target)
    assert set(got) == set(want)
    for key in want:
        np.testing.assert_allclose(got[key].item(), want[key], rtol=1e-10, err_msg=key)


def test_responsible_predictor_is_the_best_iou():
    S, B, C = 2, 2, 2
    grid = np.full((1, S, S, B * 5 + C), 0.5)
    # truth: centre (8, 8) of a 32x32 image, 8x8 px -> cell (0, 0), x = y = 0.5, sqrt w = sqrt h = 0.5
    grid[0, 0, 0, 0:5] = [0.5, 0.5, 0.1, 0.1, 0.5]   # predictor 0: tiny box
    grid[0, 0, 0, 5:10] = [0.5, 0.5, 0.5, 0.5, 0.5]  # predictor 1: the exact box
    target = [{"boxes": np.array([[4, 4, 12, 12]], np.float32), "labels": np.array([1])}]
    enc = encode_targets(grid, target, (32, 32), B, C)
    np.testing.assert_array_equal(enc["responsible"][0, 0, 0], [0, 1])
    np.testing.assert_allclose(enc["confidence"][0, 0, 0], [0, 1])
    np.testing.assert_allclose(enc["box"][0, 0, 0], [0.5, 0.5, 0.5, 0.5])
    np.testing.assert_array_equal(enc["classes"][0, 0, 0], [0, 1])
    assert enc["cell"].sum() == 1 and enc["responsible"].sum() == 1


def test_loss_gradcheck_float64():
    rng = np.random.default_rng(2)
    n, S, B, C = 2, 3, 2, 2
    raw = ck.tensor(rng.uniform(0.1, 0.9, (n, S, S, B * 5 + C)), dtype="float64", requires_grad=True)
    targets = _random_targets(rng, n, 24, C, 3)
    targets[0] = {"boxes": np.array([[2.0, 3.0, 10.0, 12.0]]), "labels": np.array([1])}
    encoded = encode_targets(raw.data, targets, (24, 24), B, C)

    def total(g):
        losses = yolo_loss(g, encoded, B)
        return losses["loss_coord"] + losses["loss_obj"] + losses["loss_noobj"] + losses["loss_class"]

    assert gradcheck(total, [raw])


def test_decoding_hand_made_grid():
    S, B, C, size = 2, 2, 2, 32
    grid = np.zeros((1, S, S, B * 5 + C), np.float32)
    grid[..., B * 5:] = 0.5
    # cell (row 0, col 1): predictor 0 a 16x8 px box centred at (24, 8); class probabilities (0.2, 0.8)
    grid[0, 0, 1, 0:5] = [0.5, 0.5, np.sqrt(0.5), np.sqrt(0.25), 0.9]
    grid[0, 0, 1, 5:10] = [0.5, 0.5, np.sqrt(0.5), np.sqrt(0.25) * 0.9, 0.6]  # a near-duplicate: suppressed
    grid[0, 0, 1, 10:] = [0.2, 0.8]
    # cell (row 1, col 0): predictor 1, an 8x8 px box centred at (4, 24), probabilities (1, 0)
    grid[0, 1, 0, 5:10] = [0.25, 0.5, 0.5, 0.5, 0.5]
    grid[0, 1, 0, 10:] = [1.0, 0.0]
    out = decode_grid(grid, (size, size), B, score_thresh=0.15, iou_thresh=0.5)[0]
    np.testing.assert_allclose(out["scores"], [0.72, 0.5, 0.18], rtol=1e-6)
    np.testing.assert_array_equal(out["labels"], [1, 0, 0])
    np.testing.assert_allclose(out["boxes"], [[16, 4, 32, 12], [0, 20, 8, 28], [16, 4, 32, 12]], atol=1e-5)
    assert out["boxes"].dtype == np.float32 and out["scores"].dtype == np.float32 and out["labels"].dtype == np.int64


def test_empty_images_train_and_give_empty_results():
    model = _model()
    images = _images()
    empty = {"boxes": np.zeros((0, 4), np.float32), "labels": np.zeros(0, np.int64)}
    model.train()
    losses = model(images, [empty, empty])
    assert losses["loss_coord"].item() == losses["loss_obj"].item() == losses["loss_class"].item() == 0
    assert np.isfinite(losses["loss_noobj"].item()) and losses["loss_noobj"].item() > 0
    sum(losses.values()).backward()
    assert model.head[0].weight.grad is not None
    model.eval()
    model.score_thresh = 1.0
    for out in model(images):
        assert out["boxes"].shape == (0, 4) and out["scores"].shape == (0,) and out["labels"].shape == (0,)
        assert out["labels"].dtype == np.int64


def test_bad_input_is_one_clear_error():
    model = _model()
    with pytest.raises(InputError, match="does not divide into the 8x8 grid"):
        model.predict_grid(_images(1, 60))
    with pytest.raises(InputError, match="smaller than the"):
        _model(S=16).predict_grid(_images(1, 32))
    model.train()
    with pytest.raises(InputError, match="label 3 is outside the 3 classes"):
        model(_images(1), [{"boxes": np.array([[0, 0, 5, 5]], np.float32), "labels": np.array([3])}])
    with pytest.raises(InputError, match="expected x1 <= x2 and y1 <= y2"):
        model(_images(1), [{"boxes": np.array([[9, 0, 5, 5]], np.float32), "labels": np.array([0])}])
    with pytest.raises(InputError, match="needs targets"):
        model(_images(1))
    with pytest.raises(InputError, match="S must be a positive int"):
        _model(S=0)
    with pytest.raises(InputError, match="confidence_target"):
        _model(confidence_target="max")


def test_registry_entry_builds_for_the_data():
    info = model_info("yolov1")
    assert info.task == "detection" and info.default_dataset == "shapes" and info.input_size == (3, 64, 64)
    ck.manual_seed(0)
    model = build_model("yolov1", num_classes=5, in_channels=1)
    images = ck.tensor(np.random.default_rng(0).random((2, 1, 64, 64), dtype=np.float32))
    assert model.predict_grid(images).shape == (2, 8, 8, 2 * 5 + 5)
    model.train()
    targets = [{"boxes": np.array([[3, 4, 30, 40]], np.float32), "labels": np.array([4])},
               {"boxes": np.zeros((0, 4), np.float32), "labels": np.zeros(0, np.int64)}]
    losses = model(images, targets)
    assert set(losses) == {"loss_coord", "loss_obj", "loss_noobj", "loss_class"}
    sum(losses.values()).backward()
    assert all(p.grad is not None for p in model.backbone.parameters())


def test_cli_train_evaluate_detect(tmp_path, capsys):
    import json

    from PIL import Image

    from cnnkit.cli import main

    run = tmp_path / "run"
    assert main(["train", "--task", "detection", "--model", "yolov1", "--dataset", "shapes", "--epochs", "1",
                 "--subset", "32", "--batch-size", "16", "--out", str(run), "--no-progress", "--json"]) == 0
    report = json.loads((run / "metrics.json").read_text())
    assert 0 <= report["map"] <= report["map50"] <= 1 and report["num_images"] == 32
    capsys.readouterr()
    assert main(["evaluate", str(run / "best.ckpt"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["map50"] == pytest.approx(report["map50"])
    Image.fromarray(np.full((48, 80, 3), 200, np.uint8)).save(tmp_path / "grey.png")
    assert main(["detect", str(run / "best.ckpt"), str(tmp_path / "grey.png"), "--out", str(tmp_path / "out"),
                 "--json", "--score-threshold", "0.99"]) == 0
    (found,) = json.loads(capsys.readouterr().out)
    assert len(found["boxes"]) == len(found["scores"]) == len(found["labels"])
