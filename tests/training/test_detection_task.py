"""The detection task: target checks in unpack, mAP logged per epoch, the test report and its PR picture."""

import json

import numpy as np
import pytest
from standin_detector import StandinDetector, register

from cnnkit.data.registry import DataInfo
from cnnkit.errors import InputError
from cnnkit.runs import load_run, train_run
from cnnkit.training.config import RunConfig
from cnnkit.training.tasks import DetectionTask


def _batch(targets):
    return np.zeros((len(targets), 3, 16, 16), np.float32), targets


@pytest.mark.parametrize("target, match", [
    ({"boxes": [[4, 0, 1, 5]], "labels": [0]}, r"target of image 1 of the batch: box 0 is \[4.0, 0.0, 1.0, 5.0\]"),
    ({"boxes": [[0, 0, float("inf"), 5]], "labels": [0]}, "finite"),
    ({"boxes": [[0, 0, 1, 5]], "labels": [3]}, "label 3 is outside the 3 classes"),
    ({"boxes": [[0, 0, 1, 5]], "labels": [-1]}, "label -1 is outside"),
])
def test_unpack_refuses_bad_targets(target, match):
    task = DetectionTask().bind(DataInfo(3, 16, 3, ("a", "b", "c")))
    good = {"boxes": np.zeros((0, 4)), "labels": np.zeros(0, np.int64)}
    with pytest.raises(InputError, match=match):
        task.unpack(_batch([good, target]))


def test_unpack_converts_targets_to_arrays():
    inputs, targets = DetectionTask().unpack(_batch([{"boxes": [[0, 0, 2, 3]], "labels": [1]},
                                                     {"boxes": [], "labels": []}]))
    assert targets[0]["boxes"].dtype == np.float32 and targets[0]["labels"].dtype == np.int64
    assert targets[1]["boxes"].shape == (0, 4)


def test_train_run_reports_map_and_draws_pr_curves(tmp_path, monkeypatch):
    import cnnkit.data.detection as detection

    monkeypatch.setattr(detection, "SHAPES_TRAIN", 200)
    monkeypatch.setattr(detection, "SHAPES_TEST", 100)
    name = register(monkeypatch)
    config = RunConfig(model=name, task="detection", dataset="shapes", epochs=2, batch_size=32, subset=96,
                       val_fraction=0.25, lr=0.05)
    result = train_run(config, out=tmp_path / "run")
    report = json.loads((tmp_path / "run" / "metrics.json").read_text())
    for key in ("map50", "map", "map50_11pt", "per_class_ap50", "per_class_ap", "num_objects"):
        assert key in report
    assert 0 <= report["map50"] <= 1 and 0 <= report["map"] <= report["map50"]
    assert set(report["per_class_ap50"]) == {"circle", "square", "triangle"}
    assert report["test_loss"] is None  # detectors give no loss in eval mode
    assert report["fit"]["message"].startswith("validation map50 ")
    assert (tmp_path / "run" / "pr_curves.png").stat().st_size > 1000
    assert "pr_curves.png" in result.files
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    epochs = history["epochs"] if isinstance(history, dict) else history
    assert all("val_map50" in e for e in epochs)
    loaded = load_run(tmp_path / "run" / "best.ckpt")
    assert isinstance(loaded.model, StandinDetector) and loaded.task.num_classes == 3


def test_trainer_without_data_description_uses_the_task_classes():
    from cnnkit.data import DataLoader
    from cnnkit.data.synthetic import ShapeScenes
    from cnnkit.training import Trainer

    data = ShapeScenes(n=8, size=32, target="boxes")
    loader = DataLoader(data, batch_size=4, collate_fn=DetectionTask.collate_fn)
    with pytest.raises(InputError, match="number of object classes is unknown"):
        Trainer(StandinDetector(3), None, task=DetectionTask()).evaluate(loader)
    results = Trainer(StandinDetector(3), None, task=DetectionTask(num_classes=3)).evaluate(loader, report=True)
    assert results["detection"]["num_images"] == 8
