"""`cnnkit inspect`, `cnnkit evaluate` of several checkpoints, `cnnkit train --snapshots/--diagnostics`: the files
they write, the numbers they report, and one-line errors with exit status 2."""

import json

import numpy as np
import pytest
from PIL import Image

from cnnkit.cli import main


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A short snapshot-ensemble run with diagnostics (few training images, so it is quick)."""
    out = tmp_path_factory.mktemp("inside") / "run"
    code = main(["train", "--epochs", "2", "--snapshots", "2", "--diagnostics", "--val-fraction", "0.85",
                 "--out", str(out), "--no-progress", "--json", "--seed", "1"])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def digit(tmp_path_factory):
    from cnnkit.data import Digits

    images, _ = Digits(train=False).arrays()
    path = tmp_path_factory.mktemp("img") / "digit.png"
    Image.fromarray((images[0, 0] * 255).astype(np.uint8)).save(path)
    return path


def test_snapshots_and_diagnostics_are_written(run_dir):
    for name in ("snapshot-1.ckpt", "snapshot-2.ckpt", "activations.png", "gradients.png"):
        assert (run_dir / name).is_file(), name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["snapshot_ensemble"]["members"] == 2
    history = json.loads((run_dir / "history.json").read_text())["epochs"]
    assert "grad_norm/features.0" in history[0] and "dead_fraction/features.2" in history[1]
    lrs = [e["lr"] for e in history]
    assert lrs[0] == pytest.approx(lrs[1])  # each epoch ends a cycle: the rate has restarted to its top


def test_evaluate_several_checkpoints_reports_members_and_ensemble(run_dir, capsys):
    ckpts = [str(run_dir / "snapshot-1.ckpt"), str(run_dir / "snapshot-2.ckpt")]
    assert main(["evaluate", *ckpts, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [m["epoch"] for m in report["members"]] == [1, 2]
    assert 0 < report["mean"]["test_loss"] and 0 <= report["vote"]["test_accuracy"] <= 1
    metrics = json.loads((run_dir / "metrics.json").read_text())["snapshot_ensemble"]
    assert report["mean"]["test_loss"] == pytest.approx(metrics["test_loss"])
    assert report["members"][1]["test_accuracy"] == pytest.approx(
        json.loads((run_dir / "metrics.json").read_text())["test_accuracy"])
    assert main(["evaluate", *ckpts]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and lines[2].startswith("Ensemble of 2, averaged probabilities")


def test_inspect_writes_the_pictures(run_dir, digit, tmp_path, capsys):
    out = tmp_path / "inspect"
    assert main(["inspect", str(run_dir / "last.ckpt"), str(digit), "--layer", "features.3", "--class", "4",
                 "--out", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for name in ("filters.png", "feature_maps.png", "gradcam.png", "saliency.png", "receptive_field.png",
                 "inspect.json"):
        assert (out / name).is_file(), name
    assert result["target"]["index"] == 4 and result["layer"] == "features.3"
    assert result["receptive_field"]["empirical"] == result["receptive_field"]["computed"] == [5, 5]
    assert main(["inspect", str(run_dir / "last.ckpt"), str(digit), "--out", str(tmp_path / "b")]) == 0
    assert "Layer features.10" in capsys.readouterr().out  # the default: the last convolution


@pytest.mark.parametrize("extra,message", [
    (["--layer", "nope"], "no layer named 'nope' in SmallCNN; its layers are: features, features.0"),
    (["--layer", "classifier.2"], "does not output a feature map"),
    (["--class", "10"], "class index 10 is out of range: the model has 10 classes (0 to 9) (--class)"),
    (["--class", "-1"], "class index -1 is out of range"),
])
def test_inspect_bad_input_is_one_line_exit_2(run_dir, digit, tmp_path, extra, message, capsys):
    assert main(["inspect", str(run_dir / "last.ckpt"), str(digit), "--out", str(tmp_path / "x"), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cnnkit: error:") and message in err[0]
    assert not (tmp_path / "x").exists()


def test_inspect_wrong_size_image_needs_resize(run_dir, tmp_path, capsys):
    big = tmp_path / "big.png"
    Image.fromarray(np.full((16, 12), 200, np.uint8)).save(big)
    assert main(["inspect", str(run_dir / "last.ckpt"), str(big), "--out", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "12x16 image" in err[0] and err[0].endswith("(--resize)")
    assert main(["inspect", str(run_dir / "last.ckpt"), str(big), "--resize", "--out", str(tmp_path / "y")]) == 0


def test_snapshots_must_divide_the_epochs(capsys, tmp_path):
    assert main(["train", "--epochs", "4", "--snapshots", "3", "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "cannot be split into 3 equal snapshot cycles" in err and "(--snapshots)" in err
    assert main(["train", "--epochs", "4", "--snapshots", "2", "--schedule", "step", "--out", str(tmp_path)]) == 2
    assert "cyclic cosine schedule" in capsys.readouterr().err
