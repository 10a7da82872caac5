"""The fit loop: resume equivalence, Ctrl-C, NaN handling, callbacks and crash-safe checkpoints."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import cnnkit as ck
import cnnkit.nn as nn
from cnnkit import optim
from cnnkit.data import ArrayDataset, DataLoader
from cnnkit.training import (
    Callback,
    EarlyStopping,
    NonFiniteLossError,
    Trainer,
    TrainingInterrupted,
    load_checkpoint,
)


def _data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 8)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1).astype(np.int64)
    return ArrayDataset(x, y)


def _make(seed, checkpoint_dir=None, callbacks=()):
    ck.manual_seed(seed)
    model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
    opt = optim.Adam(model.parameters(), lr=1e-2)
    sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    trainer = Trainer(model, opt, scheduler=sched, checkpoint_dir=checkpoint_dir, callbacks=callbacks)
    loaders = (DataLoader(_data(), batch_size=16, shuffle=True), DataLoader(_data(48, seed=1), batch_size=32))
    return trainer, loaders


def _weights(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def test_fit_records_history_and_learns(tmp_path):
    trainer, (train, val) = _make(0, tmp_path)
    history = trainer.fit(train, val, epochs=6)
    assert len(history) == 6 and history["epoch"] == [1, 2, 3, 4, 5, 6]
    assert history["loss"][-1] < history["loss"][0]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "time"} <= set(history.keys())
    assert history["lr"] == pytest.approx([1e-2, 1e-2, 5e-3, 5e-3, 2.5e-3, 2.5e-3])
    assert (tmp_path / "last.ckpt").is_file() and (tmp_path / "best.ckpt").is_file()
    assert load_checkpoint(tmp_path / "last.ckpt")["epoch"] == 6


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path):
    full, loaders = _make(0, tmp_path / "full")
    full.fit(*loaders, epochs=5)
    first, loaders = _make(0, tmp_path / "split")
    first.fit(*loaders, epochs=2)
    resumed, loaders = _make(123, tmp_path / "split")  # different init: everything must come from the file
    resumed.load_checkpoint(tmp_path / "split" / "last.ckpt")
    assert resumed.epoch == 2
    resumed.fit(*loaders, epochs=5)
    a, b = _weights(full.model), _weights(resumed.model)
    for key in a:
        np.testing.assert_allclose(b[key], a[key], rtol=0, atol=1e-6, err_msg=key)
    assert full.history["loss"] == pytest.approx(resumed.history["loss"], abs=1e-7)


class _InterruptAt(Callback):
    def __init__(self, epoch, batch):
        self.epoch, self.batch, self.current = epoch, batch, 0

    def on_epoch_begin(self, trainer, logs):
        self.current = logs["epoch"]

    def on_batch_begin(self, trainer, logs):
        if (self.current, logs["batch"]) == (self.epoch, self.batch):
            raise KeyboardInterrupt


def test_ctrl_c_saves_and_resume_matches(tmp_path):
    full, loaders = _make(0, tmp_path / "full")
    full.fit(*loaders, epochs=4)
    trainer, loaders = _make(0, tmp_path / "run", callbacks=[_InterruptAt(3, 2)])
    with pytest.raises(TrainingInterrupted) as info:
        trainer.fit(*loaders, epochs=4)
    assert info.value.epoch == 3 and info.value.checkpoint == tmp_path / "run" / "last.ckpt"
    assert load_checkpoint(info.value.checkpoint)["epoch"] == 2
    resumed, loaders = _make(7, tmp_path / "run")
    resumed.load_checkpoint(info.value.checkpoint)
    resumed.fit(*loaders, epochs=4)
    a, b = _weights(full.model), _weights(resumed.model)
    for key in a:
        np.testing.assert_allclose(b[key], a[key], atol=1e-6, err_msg=key)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    trainer, loaders = _make(0, tmp_path)
    calls = {"n": 0}

    def loss_fn(out, y):
        calls["n"] += 1
        loss = ck.functional.cross_entropy(out, y)
        return loss * float("nan") if calls["n"] > 8 else loss  # 6 batches per epoch: NaN in epoch 2

    trainer.loss_fn = loss_fn
    before = None
    with pytest.raises(NonFiniteLossError, match=r"loss became nan in epoch 2.*last good checkpoint"):
        trainer.fit(*loaders, epochs=3)
    before = load_checkpoint(tmp_path / "last.ckpt")
    assert before["epoch"] == 1


def test_early_stopping_stops():
    class Flat(Callback):
        def on_epoch_end(self, trainer, logs):
            logs["val_loss"] = 1.0

    trainer, loaders = _make(0, callbacks=[Flat(), EarlyStopping(monitor="val_loss", patience=2)])
    history = trainer.fit(*loaders, epochs=10)
    assert len(history) == 3


_WRITER = """
import sys, numpy as np
from cnnkit.training import save_checkpoint
path = sys.argv[1]
i = 0
while True:
    i += 1
    save_checkpoint(path, {"epoch": i, "w": np.full(2_000_000, i, dtype=np.float32)})
    if i == 1:
        print("first write done", flush=True)
"""


def test_killing_a_checkpoint_write_never_leaves_an_unreadable_file(tmp_path):
    path = tmp_path / "last.ckpt"
    for attempt in range(4):
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True)
        proc.stdout.readline()  # the writer is now in its loop, however slowly this machine imported it
        time.sleep(0.05 + 0.07 * attempt)  # kill at different points of a write
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        state = load_checkpoint(path)
        assert state["epoch"] >= 1 and np.all(state["w"] == state["epoch"])
