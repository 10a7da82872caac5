import json
import zipfile

import numpy as np
import pytest

from cnnkit.training import CheckpointError, History, diagnose, load_checkpoint, save_checkpoint


def test_round_trip_of_nested_state(tmp_path):
    rng_state = np.random.default_rng(3).bit_generator.state
    payload = {
        "model": {"conv.weight": np.arange(6, dtype=np.float32).reshape(2, 3), "bn.num_batches_tracked": np.array(4)},
        "optimizer": {"state": {0: {"step": 3, "exp_avg": np.ones(2)}}, "param_groups": [{"lr": 0.1, "params": [0]}]},
        "rng": rng_state, "epoch": 2, "config": {"model": "x", "betas": [0.9, 0.999]},
    }
    path = save_checkpoint(tmp_path / "a.ckpt", payload)
    back = load_checkpoint(path)
    assert back["model"]["conv.weight"].dtype == np.float32
    np.testing.assert_array_equal(back["model"]["conv.weight"], payload["model"]["conv.weight"])
    assert back["optimizer"]["state"][0]["step"] == 3 and back["optimizer"]["param_groups"][0]["params"] == [0]
    assert back["rng"] == rng_state and back["epoch"] == 2
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_corrupt_and_foreign_files_are_named(tmp_path):
    with pytest.raises(CheckpointError, match="no file"):
        load_checkpoint(tmp_path / "missing.ckpt")
    (tmp_path / "junk.ckpt").write_bytes(b"not a zip at all")
    with pytest.raises(CheckpointError, match="corrupt or not a cnnkit checkpoint"):
        load_checkpoint(tmp_path / "junk.ckpt")
    np.savez(tmp_path / "other.npz", a=np.zeros(2))
    with pytest.raises(CheckpointError, match="not a cnnkit checkpoint"):
        load_checkpoint(tmp_path / "other.npz")
    good = save_checkpoint(tmp_path / "good.ckpt", {"epoch": 1, "w": np.zeros(1000)})
    data = good.read_bytes()
    (tmp_path / "truncated.ckpt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(tmp_path / "truncated.ckpt")
    with zipfile.ZipFile(tmp_path / "future.ckpt", "w") as z:
        meta = json.dumps({"format": "cnnkit-checkpoint", "version": 99, "payload": {}}).encode()
        buf = np.frombuffer(meta, dtype=np.uint8)
        import io

        b = io.BytesIO()
        np.save(b, buf)
        z.writestr("__meta__.npy", b.getvalue())
    with pytest.raises(CheckpointError, match="version 99"):
        load_checkpoint(tmp_path / "future.ckpt")


def test_failed_write_leaves_previous_file_intact(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "c.ckpt", {"epoch": 1})
    import cnnkit.atomic as atomic

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"epoch": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.ckpt"]


def test_diagnose_verdicts():
    def hist(tr, va, vl):
        return History([{"epoch": i + 1, "accuracy": a, "val_accuracy": b, "loss": 1.0, "val_loss": c}
                        for i, (a, b, c) in enumerate(zip(tr, va, vl, strict=True))])

    assert diagnose(hist([0.9, 1.0, 1.0], [0.8, 0.8, 0.75], [0.5, 0.6, 0.9]))["verdict"] == "over-fit"
    assert diagnose(hist([0.3, 0.4, 0.5], [0.3, 0.4, 0.5], [1.5, 1.4, 1.3]))["verdict"] == "under-fit"
    assert diagnose(hist([0.95, 0.98, 0.99], [0.95, 0.97, 0.98], [0.2, 0.1, 0.09]))["verdict"] == "good fit"
