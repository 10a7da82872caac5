"""The `cnnkit` command: train/evaluate/predict on the bundled digits, and one-line errors with exit status 2."""

import json

import numpy as np
import pytest
from PIL import Image

from cnnkit.cli import main
from cnnkit.training import load_checkpoint, save_checkpoint


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    code = main(["train", "--epochs", "2", "--out", str(out), "--no-progress", "--json", "--seed", "1"])
    assert code == 0
    return out


def test_train_writes_the_run_folder(run_dir, capsys):
    for name in ("last.ckpt", "best.ckpt", "history.json", "metrics.json", "curves.png", "confusion.png"):
        assert (run_dir / name).is_file(), name
    history = json.loads((run_dir / "history.json").read_text())["epochs"]
    assert [e["epoch"] for e in history] == [1, 2]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert 0.5 < metrics["test_accuracy"] <= 1.0
    assert np.array(metrics["confusion_matrix"]).sum() == 360
    assert metrics["fit"]["verdict"] in ("good fit", "over-fit", "under-fit")
    assert (run_dir / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_evaluate_reproduces_the_test_metrics(run_dir, capsys):
    assert main(["evaluate", str(run_dir / "last.ckpt"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert report["test_accuracy"] == pytest.approx(metrics["test_accuracy"])
    assert report["epoch"] == 2


def test_predict_top_k(run_dir, tmp_path, capsys):
    from cnnkit.data import Digits

    images, labels = Digits(train=False).arrays()
    path = tmp_path / "digit.png"
    Image.fromarray((images[0, 0] * 255).astype(np.uint8)).save(path)
    assert main(["predict", str(run_dir / "last.ckpt"), str(path), "--top-k", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result[0]["top"]) == 3
    probs = [t["probability"] for t in result[0]["top"]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001


def test_predict_refuses_a_wrong_size_or_channels_unless_resize(run_dir, tmp_path, capsys):
    ckpt = str(run_dir / "last.ckpt")
    big, rgb = tmp_path / "big.png", tmp_path / "rgb.png"
    Image.fromarray(np.full((16, 12), 200, np.uint8)).save(big)
    Image.fromarray(np.full((8, 8, 3), 200, np.uint8)).save(rgb)
    assert main(["predict", ckpt, str(big)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "12x16 image with 1 channel(s)" in err[0] and "8x8 images with 1 channel(s)" in err[0]
    assert "--resize" in err[0]
    assert main(["predict", ckpt, str(rgb)]) == 2
    assert "8x8 image with 3 channel(s)" in capsys.readouterr().err
    assert main(["predict", ckpt, str(big), str(rgb), "--resize", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2


def test_resume_continues_to_more_epochs(tmp_path, capsys):
    out = tmp_path / "resumed"
    assert main(["train", "--epochs", "1", "--schedule", "exponential", "--out", str(out), "--no-progress",
                 "--json", "--seed", "1"]) == 0
    assert main(["train", "--epochs", "3", "--out", str(out), "--resume", "--no-progress", "--json",
                 "--seed", "1"]) == 0  # repeating a saved setting is fine
    state = load_checkpoint(out / "last.ckpt")
    assert state["epoch"] == 3 and state["run"]["config"]["epochs"] == 3


@pytest.mark.parametrize("argv,message", [
    (["train", "--dataset", "mnist", "--data-dir", "/nonexistent/folder"], "mnist"),
    (["train", "--dataset", "mnist"], "--data-dir"),
    (["train", "--epochs", "0"], "--epochs"),
    (["evaluate", "/nonexistent.ckpt"], "no file"),
    (["train", "--resume", "--out", "/nonexistent/run"], "no checkpoint"),
])
def test_bad_input_exits_2_with_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cnnkit: error:") and message in err[0]


def test_foreign_checkpoint_and_bad_image(run_dir, tmp_path, capsys):
    foreign = save_checkpoint(tmp_path / "foreign.ckpt", {"epoch": 1, "model": {}})
    assert main(["evaluate", str(foreign)]) == 2
    assert "no training config" in capsys.readouterr().err
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    assert main(["predict", str(run_dir / "last.ckpt"), str(junk)]) == 2
    assert "cannot read" in capsys.readouterr().err
    other = tmp_path / "other-model.ckpt"
    state = load_checkpoint(run_dir / "last.ckpt")
    state["model"] = {k + ".x": v for k, v in state["model"].items()}
    save_checkpoint(other, state)
    before = other.read_bytes()
    assert main(["evaluate", str(other)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Missing key(s)" in err[0] and "Unexpected key(s)" in err[0]
    assert other.read_bytes() == before


def test_existing_run_is_not_overwritten(run_dir, capsys):
    before = (run_dir / "last.ckpt").read_bytes()
    assert main(["train", "--epochs", "1", "--out", str(run_dir), "--no-progress"]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (run_dir / "last.ckpt").read_bytes() == before


def test_an_internal_bug_prints_a_traceback_and_exits_1(run_dir, monkeypatch, capsys):
    from cnnkit import runs

    def broken(*args, **kwargs):
        return {}["no such key"]  # a bug inside the library, not a user's mistake

    monkeypatch.setattr(runs, "_test_report", broken)
    assert main(["evaluate", str(run_dir / "last.ckpt")]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "KeyError: 'no such key'" in err
    assert err.strip().splitlines()[-1].startswith("cnnkit: this is a bug in cnnkit")


def test_user_errors_name_the_flag_that_fixes_them(capsys):
    assert main(["train", "--dataset", "cifar10"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs a data folder" in err[0] and err[0].endswith("(--data-dir)")
    assert main(["train", "--optimizer", "adam", "--momentum", "0.5"]) == 2
    assert "has no momentum setting" in capsys.readouterr().err


def test_momentum_reaches_rmsprop(tmp_path):
    out = tmp_path / "rms"
    assert main(["train", "--optimizer", "rmsprop", "--momentum", "0.5", "--epochs", "1", "--out", str(out),
                 "--no-progress", "--json"]) == 0
    state = load_checkpoint(out / "last.ckpt")
    assert state["optimizer"]["param_groups"][0]["momentum"] == 0.5
    assert state["run"]["config"]["momentum"] == 0.5
    assert any("momentum_buffer" in s for s in state["optimizer"]["state"].values())


# The run settings of a checkpoint written before run configurations existed: one flat dict (copied from a real one).
LEGACY_CONFIG = {"model": "small_cnn", "dataset": "digits", "data_dir": None, "image_size": 32, "epochs": 1,
                 "batch_size": 32, "optimizer": "rmsprop", "lr": 0.001, "momentum": 0.9, "schedule": "cosine",
                 "warmup": 0, "weight_decay": 0.0, "l1": 0.0, "augment": False, "val_fraction": 0.1, "seed": 3,
                 "in_channels": 1, "input_size": 8, "num_classes": 10, "classes": [str(i) for i in range(10)]}


def _legacy_checkpoint(path, model_state, config=LEGACY_CONFIG):
    """A checkpoint in the format-1 layout: settings under a flat 'config' key, meta version 1."""
    import io
    import json as _json

    from cnnkit.training import checkpoint as C

    arrays = {}
    payload = C._split({"epoch": 1, "model": model_state, "config": config}, "p", arrays)
    meta = {"format": C.FORMAT, "version": 1, "payload": payload}
    buffer = io.BytesIO()
    np.savez(buffer, __meta__=np.frombuffer(_json.dumps(meta).encode(), dtype=np.uint8), **arrays)
    path.write_bytes(buffer.getvalue())
    return path


def test_a_checkpoint_of_the_older_format_still_loads(run_dir, tmp_path, capsys):
    state = load_checkpoint(run_dir / "last.ckpt")
    old = _legacy_checkpoint(tmp_path / "old.ckpt", state["model"])
    assert main(["evaluate", str(old), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert report["test_accuracy"] == pytest.approx(metrics["test_accuracy"])
    from cnnkit.runs import load_run

    loaded = load_run(old)
    assert loaded.config.optimizer == "rmsprop" and loaded.config.momentum is None  # the old code never passed it
    assert loaded.info.num_classes == 10 and loaded.config.image_size is None
    incomplete = _legacy_checkpoint(tmp_path / "older.ckpt", state["model"], {"model": "small_cnn"})
    assert main(["evaluate", str(incomplete)]) == 2
    assert "older format" in capsys.readouterr().err


def test_resume_keeps_the_saved_settings(run_dir, tmp_path, capsys):
    import shutil

    copy = tmp_path / "kept"
    shutil.copytree(run_dir, copy)
    before = (copy / "last.ckpt").read_bytes()
    assert main(["train", "--out", str(copy), "--resume", "--optimizer", "sgd", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "optimizer='adam'" in err[0] and err[0].endswith("(--optimizer)")
    assert main(["train", "--out", str(copy), "--resume", "--epochs", "4", "--no-progress"]) == 2
    assert "cosine learning-rate schedule planned over 2 epochs" in capsys.readouterr().err
    assert (copy / "last.ckpt").read_bytes() == before


def test_resume_without_out_takes_the_latest_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["--epochs", "2", "--schedule", "none", "--no-progress", "--json"]
    assert main(["train", "--out", "runs/a", *args]) == 0
    assert main(["train", "--out", "runs/b", "--epochs", "1", "--schedule", "none", "--no-progress", "--json"]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", "--epochs", "2", "--no-progress", "--json"]) == 0
    assert "Resuming runs/b after epoch 1" in capsys.readouterr().err
    assert load_checkpoint(tmp_path / "runs/b/last.ckpt")["epoch"] == 2
