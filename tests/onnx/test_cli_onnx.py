"""`cnnkit export` and `cnnkit predict/evaluate` on .onnx files (both runtimes), and bad ONNX files at the command
line: one line, exit status 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
from optional import require
from PIL import Image

from cnnkit.cli import main

require("onnx")
require("onnxruntime")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("onnxcli") / "run"
    assert main(["train", "--epochs", "1", "--out", str(out), "--no-progress", "--json", "--seed", "2"]) == 0
    return out


@pytest.fixture(scope="module")
def exported(run_dir):
    path = run_dir.parent / "model.onnx"
    assert main(["export", str(run_dir / "best.ckpt"), "--format", "onnx", "--out", str(path)]) == 0
    return path


def test_export_checkpoint_checks_against_onnxruntime(run_dir, tmp_path, capsys):
    path = tmp_path / "m.onnx"
    assert main(["export", str(run_dir / "best.ckpt"), "--out", str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["check"]["ok"] and result["check"]["batches"] == [1, 2] and result["dynamic_batch"]
    assert result["check"]["runtime"].startswith("onnxruntime")


@pytest.mark.parametrize("runtime", ["onnxruntime", "cnnkit", "auto"])
def test_evaluate_an_onnx_model_gives_the_checkpoints_report(run_dir, exported, runtime, capsys):
    assert main(["evaluate", str(run_dir / "best.ckpt"), "--json"]) == 0
    ckpt = json.loads(capsys.readouterr().out)
    assert main(["evaluate", str(exported), "--json", "--runtime", runtime]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["test_accuracy"] == pytest.approx(ckpt["test_accuracy"])
    assert report["test_loss"] == pytest.approx(ckpt["test_loss"], rel=1e-4)
    expected = "cnnkit" if runtime == "cnnkit" else "onnxruntime"
    assert report["runtime"].startswith(expected) and f"runtime: {expected}" in captured.err


def test_predict_with_an_onnx_model(run_dir, exported, tmp_path, capsys):
    from cnnkit.data import Digits

    images, _ = Digits(train=False).arrays()
    path = tmp_path / "digit.png"
    Image.fromarray((images[3, 0] * 255).astype(np.uint8)).save(path)
    assert main(["predict", str(run_dir / "best.ckpt"), str(path), "--json"]) == 0
    ref = json.loads(capsys.readouterr().out)
    assert main(["predict", str(exported), str(path), "--json"]) == 0
    captured = capsys.readouterr()
    got = json.loads(captured.out)
    assert [t["class"] for t in got[0]["top"]] == [t["class"] for t in ref[0]["top"]]
    assert "runtime: onnxruntime" in captured.err


def test_export_zoo_model_onnx_and_safetensors(tmp_path, capsys):
    from cnnkit import io, models

    assert main(["export", "resnet20", "--format", "safetensors", "--out", str(tmp_path / "r20.safetensors")]) == 0
    model = models.resnet20()
    io.load_state_dict(model, tmp_path / "r20.safetensors")
    assert main(["export", "resnet20", "--out", str(tmp_path / "r20.onnx"),
                 "--weights", str(tmp_path / "r20.safetensors")]) == 0
    out = capsys.readouterr().out
    assert "resnet20 with weights from" in out and "matches cnnkit" in out


def test_foreign_onnx_without_metadata_needs_a_dataset(tmp_path, capsys):
    import cnnkit.onnx as cko
    from cnnkit import models

    cko.export(models.small_cnn(), np.zeros((1, 1, 8, 8), np.float32), tmp_path / "plain.onnx")
    assert main(["evaluate", str(tmp_path / "plain.onnx")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--dataset" in err[0]
    assert main(["evaluate", str(tmp_path / "plain.onnx"), "--dataset", "digits", "--json"]) == 0
    assert 0 <= json.loads(capsys.readouterr().out)["test_accuracy"] <= 1


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_bad_onnx_files_are_one_line_exit_2(exported, tmp_path, command, capsys):
    import onnx

    cut = tmp_path / "cut.onnx"
    cut.write_bytes(exported.read_bytes()[: exported.stat().st_size // 2])
    h = onnx.helper
    graph = h.make_graph([h.make_node("Hardmax", ["x"], ["y"], name="odd")], "g",
                         [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 1, 8, 8])],
                         [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 1, 8, 8])])
    odd = tmp_path / "odd.onnx"
    onnx.save(h.make_model(graph, opset_imports=[h.make_opsetid("", 17)]), str(odd))
    image = tmp_path / "x.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(image)
    for path, message in ((cut, "truncated or corrupt"), (odd, "Hardmax")):
        args = [command, str(path)] + ([str(image)] if command == "predict" else ["--dataset", "digits"])
        runtime = ["--runtime", "cnnkit"] if path is odd else []
        assert main(args + runtime) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
