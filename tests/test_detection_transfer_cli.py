"""`cnnkit train` for detection with a backbone from a classification checkpoint: --backbone, --init,
--freeze-backbone (tiny runs; the weights are checked, not the accuracy)."""

import json

import numpy as np

from cnnkit.cli import main
from cnnkit.training import load_checkpoint


def test_faster_rcnn_from_a_classifier_checkpoint(tmp_path, capsys):
    cls = tmp_path / "cls"
    assert main(["train", "--task", "classification", "--model", "resnet20", "--dataset", "shapes", "--subset", "16",
                 "--epochs", "1", "--batch-size", "8", "--out", str(cls), "--no-progress", "--json"]) == 0
    det = tmp_path / "det"
    assert main(["train", "--task", "detection", "--model", "faster_rcnn", "--backbone", "resnet20", "--dataset",
                 "shapes", "--subset", "8", "--epochs", "1", "--batch-size", "4", "--init", str(cls / "last.ckpt"),
                 "--freeze-backbone", "--out", str(det), "--no-progress", "--json"]) == 0
    err = capsys.readouterr().err
    assert "tensors loaded from" in err and "backbone frozen" in err
    source = load_checkpoint(cls / "last.ckpt")["model"]
    trained = load_checkpoint(det / "last.ckpt")["model"]
    for name in ("conv1.weight", "layer3.2.conv2.weight", "bn1.running_mean"):  # frozen: unchanged by training
        np.testing.assert_array_equal(trained["backbone." + name], source[name])
    assert "map50" in json.loads((det / "metrics.json").read_text())


def test_init_errors_are_one_line(tmp_path, capsys):
    code = main(["train", "--task", "detection", "--model", "faster_rcnn", "--dataset", "shapes", "--subset", "10",
                 "--epochs", "1", "--init", str(tmp_path / "none.ckpt"), "--out", str(tmp_path / "x"),
                 "--no-progress"])
    assert code == 2
    assert "no file" in capsys.readouterr().err
    code = main(["train", "--model", "resnet20", "--dataset", "shapes", "--subset", "10", "--epochs", "1",
                 "--freeze-backbone", "--out", str(tmp_path / "y"), "--no-progress"])
    assert code == 2
    assert "no backbone" in capsys.readouterr().err
