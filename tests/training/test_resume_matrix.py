"""The resume matrix: every optimizer x every schedule, interrupted (Ctrl-C) in the first and in the second epoch,
resumed with the saved settings — to the planned length, and extended by one epoch. Each resumed run ends with
the same weights, optimizer state and history, bit for bit, as the uninterrupted run; extending a schedule planned
over the run's length is refused in one line instead.

Tiny on purpose (small_cnn on 32 digits, two batches per epoch): the runs are driven through the library's Run
(the same object ``cnnkit train`` and ``--resume`` use) without the end-of-run report and pictures.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from cnnkit import InputError
from cnnkit.optim.factory import OPTIMIZERS, SCHEDULES
from cnnkit.runs import LENGTH_DEFINED_SCHEDULES, Run
from cnnkit.training import Callback, TrainingInterrupted, load_checkpoint
from cnnkit.training.config import RunConfig

EPOCHS = 2
BASE = dict(dataset="digits", model="small_cnn", subset=32, batch_size=16, val_fraction=0.25, seed=3,
            epochs=EPOCHS)


class CtrlC(Callback):
    """Raises KeyboardInterrupt after the first batch of ``epoch`` (as Ctrl-C would)."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_batch_end(self, trainer, logs):
        if trainer.epoch + 1 == self.epoch and logs["batch"] == 0:
            raise KeyboardInterrupt


def fit(run: Run):
    run.trainer.fit(run.train_loader, run.val_loader, epochs=run.config.epochs)
    return run.trainer


def snapshot(trainer) -> dict:
    """What must be bit-exact: weights, optimizer and scheduler state, the logged history (no timings)."""
    state = trainer.state_dict()
    history = [{k: v for k, v in e.items() if k != "time"} for e in state["history"]["epochs"]]
    return {"model": state["model"], "optimizer": state["optimizer"], "scheduler": state["scheduler"],
            "history": history, "epoch": state["epoch"]}


def assert_same(a, b, where=""):
    if isinstance(a, dict):
        assert isinstance(b, dict) and sorted(a, key=str) == sorted(b, key=str), where
        for k in a:
            assert_same(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}/{i}")
    elif hasattr(a, "shape") or hasattr(b, "shape"):
        assert np.array_equal(np.asarray(a), np.asarray(b)), where
    elif isinstance(a, float) and np.isnan(a):
        assert isinstance(b, float) and np.isnan(b), where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    """Uninterrupted runs of EPOCHS and EPOCHS + 1 epochs, per (optimizer, schedule)."""
    root = tmp_path_factory.mktemp("reference")
    cache = {}

    def get(optimizer, schedule, epochs):
        key = (optimizer, schedule, epochs)
        if key not in cache:
            config = RunConfig(**{**BASE, "epochs": epochs}, optimizer=optimizer, schedule=schedule)
            cache[key] = snapshot(fit(Run.start(config, root / "-".join(map(str, key)))))
        return cache[key]

    return get


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_resume_matrix(optimizer, schedule, references, tmp_path):
    config = RunConfig(**BASE, optimizer=optimizer, schedule=schedule)
    for stop in (1, 2):  # Ctrl-C in the first / the second epoch
        out = tmp_path / f"stop{stop}"
        run = Run.start(config, out, callbacks=[CtrlC(stop)])
        with pytest.raises(TrainingInterrupted):
            fit(run)
        assert load_checkpoint(out / "last.ckpt")["epoch"] == stop - 1
        extended = tmp_path / f"extended{stop}"
        shutil.copytree(out, extended)
        # resumed with the saved settings: the uninterrupted run, bit for bit
        assert_same(snapshot(fit(Run.resume(out))), references(optimizer, schedule, EPOCHS), f"{stop}")
        # resumed with one more epoch: the uninterrupted longer run, or refused in one line
        if schedule in LENGTH_DEFINED_SCHEDULES:
            with pytest.raises(InputError, match=f"{schedule} learning-rate schedule planned over") as err:
                Run.resume(extended, {"epochs": EPOCHS + 1})
            assert err.value.field == "epochs" and "\n" not in str(err.value)
        else:
            resumed = fit(Run.resume(extended, {"epochs": EPOCHS + 1}))
            assert_same(snapshot(resumed), references(optimizer, schedule, EPOCHS + 1), f"{stop}+1")
