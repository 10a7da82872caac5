"""`cnnkit train --task detection`, `cnnkit evaluate` and `cnnkit detect` end to end with a stand-in detector."""

import json

import numpy as np
import pytest
from data.test_detection_folders import make_coco
from PIL import Image
from standin_detector import register

from cnnkit.cli import main


def small_shapes(monkeypatch):
    """Fewer generated scenes (the tests use a few dozen)."""
    import cnnkit.data.detection as detection
    import cnnkit.data.registry as registry

    monkeypatch.setattr(detection, "SHAPES_TRAIN", 200)
    monkeypatch.setattr(detection, "SHAPES_TEST", 100)
    monkeypatch.setattr(registry, "SCENES_TRAIN", 100)


@pytest.fixture(scope="module")
def det_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("det") / "run"
    with pytest.MonkeyPatch.context() as mp:
        name = register(mp)
        small_shapes(mp)
        code = main(["train", "--task", "detection", "--model", name, "--dataset", "shapes", "--epochs", "2",
                     "--subset", "64", "--batch-size", "16", "--out", str(out), "--no-progress", "--json"])
        assert code == 0
        yield out


def test_train_writes_map_and_the_pr_picture(det_run):
    for name in ("last.ckpt", "best.ckpt", "metrics.json", "curves.png", "pr_curves.png"):
        assert (det_run / name).is_file(), name
    report = json.loads((det_run / "metrics.json").read_text())
    assert 0 <= report["map"] <= report["map50"] <= 1
    assert report["num_images"] == 64 and sum(report["num_objects"].values()) > 0


def _no_constant(name):
    raise AssertionError(f"{name} is not JSON")


def test_run_files_are_strict_json_without_a_validation_loss(det_run):
    """Detectors compute no loss in eval mode: the missing validation loss is written as null, never as NaN."""
    for name in ("metrics.json", "history.json"):
        data = json.loads((det_run / name).read_text(), parse_constant=_no_constant)
        assert data
    history = json.loads((det_run / "history.json").read_text())
    assert all(epoch["val_loss"] is None for epoch in history["epochs"])


def test_evaluate_gives_the_same_map(det_run, capsys):
    assert main(["evaluate", str(det_run / "best.ckpt"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["map50"] == pytest.approx(json.loads((det_run / "metrics.json").read_text())["map50"])


def _pictures(folder):
    bright = np.full((80, 100, 3), 220, np.uint8)  # the stand-in finds one box in a bright image, none in a dark one
    Image.fromarray(bright).save(folder / "bright.png")
    Image.fromarray(bright // 10).save(folder / "dark.png")
    return folder / "bright.png", folder / "dark.png"


def test_detect_json_scales_boxes_to_the_image_and_draws(det_run, tmp_path, capsys):
    bright, dark = _pictures(tmp_path)
    out = tmp_path / "out"
    assert main(["detect", str(det_run / "best.ckpt"), str(bright), str(dark), "--out", str(out), "--json",
                 "--score-threshold", "0"]) == 0
    first, second = json.loads(capsys.readouterr().out)
    assert first["size"] == [100, 80] and first["boxes"] == [[25.0, 20.0, 75.0, 60.0]]
    assert first["classes"][0] in ("circle", "square", "triangle") and 0 <= first["scores"][0] <= 1
    assert second["boxes"] == [] and second["scores"] == [] and second["labels"] == []  # nothing found: no error
    for r in (first, second):
        with Image.open(r["picture"]) as im:
            assert im.format == "PNG" and im.size[0] >= 256
    assert main(["detect", str(det_run / "best.ckpt"), str(bright), "--out", str(out), "--score-threshold",
                 "1"]) == 0
    assert "bright.png: 0 objects" in capsys.readouterr().out


def test_detect_refuses_bad_input_in_one_line(det_run, tmp_path, capsys):
    bright, _ = _pictures(tmp_path)
    assert main(["detect", str(det_run / "best.ckpt"), str(bright), "--score-threshold", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["cnnkit: error: detect: the score threshold must be a number in [0, 1], got 2.0 "
                   "(--score-threshold)"]
    assert main(["detect", str(det_run / "best.ckpt"), str(tmp_path / "missing.png")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_detect_refuses_a_classification_checkpoint(tmp_path, capsys):
    out = tmp_path / "cls"
    assert main(["train", "--epochs", "1", "--subset", "100", "--out", str(out), "--no-progress", "--json"]) == 0
    bright, _ = _pictures(tmp_path)
    capsys.readouterr()
    assert main(["detect", str(out / "best.ckpt"), str(bright)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a classification checkpoint; detecting objects needs a detection one" in err[0]


def test_train_on_a_coco_folder_with_empty_images(tmp_path, monkeypatch, capsys):
    name = register(monkeypatch)
    root = make_coco(tmp_path / "coco")
    out = tmp_path / "run"
    assert main(["train", "--task", "detection", "--model", name, "--dataset", "coco", "--data-dir", str(root),
                 "--image-size", "32", "--epochs", "1", "--val-fraction", "0.25", "--batch-size", "2",
                 "--out", str(out), "--no-progress", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert "map50" in report and "map" in report and report["classes"] == ["dog", "cat"]


def test_detect_refuses_a_segmentation_checkpoint(tmp_path, monkeypatch, capsys):
    import cnnkit.models as models
    import cnnkit.nn as nn
    from cnnkit.models import ModelInfo

    def segmenter(num_classes=4, in_channels=3):
        return nn.Conv2d(in_channels, num_classes, 1)

    small_shapes(monkeypatch)
    monkeypatch.setitem(models._REGISTRY, "standin_seg", ModelInfo(segmenter, (3, 32, 32), "stand-in segmenter",
                                                                   task="segmentation"))
    out = tmp_path / "seg"
    assert main(["train", "--task", "segmentation", "--model", "standin_seg", "--dataset", "shapes", "--epochs", "1",
                 "--subset", "32", "--out", str(out), "--no-progress", "--json"]) == 0
    bright, _ = _pictures(tmp_path)
    capsys.readouterr()
    assert main(["detect", str(out / "best.ckpt"), str(bright), "--json"]) == 2
    captured = capsys.readouterr()
    assert len(captured.err.strip().splitlines()) == 1
    assert "is a segmentation checkpoint; detecting objects needs a detection one" in captured.err
    assert "error" in json.loads(captured.out)
