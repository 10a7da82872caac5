"""Data-parallel training under a real ``mpiexec`` (the MPICH wheel): N processes end with the weights of one
process; only rank 0 writes; a killed or silent process stops the others with an error; bad set-ups are one line
and exit status 2; a checkpoint resumes with another process count."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from mnist_folder import write_mnist_folder
from optional import mpiexec

from cnnkit.training import load_checkpoint

MPIEXEC = mpiexec()
WORKER = Path(__file__).parent / "dp_worker.py"
SRC = Path(__file__).resolve().parents[2] / "src"


def _env(**extra) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("CNNKIT_NUM_THREADS", None)
    env.update(extra)
    return env


def _run(args, n: int | None = None, timeout: float = 240, cwd=None, **env) -> subprocess.CompletedProcess:
    cmd = ([MPIEXEC, "-n", str(n)] if n else []) + [sys.executable, *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env(**env), cwd=cwd)


def _cli(*args) -> list:
    return ["-m", "cnnkit.cli", *args]


def _relative_difference(a: dict, b: dict) -> float:
    return max(float(np.max(np.abs(np.asarray(a[k], np.float64) - b[k])) / max(np.max(np.abs(a[k])), 1e-12))
               for k in a if k != "loss")


def _weights(path) -> dict:
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


@pytest.mark.parametrize("flags,n", [
    ([], 2),                                      # no batch norm, SGD with momentum
    (["--overlap", "--bucket-mb", "0.001"], 2),   # Allreduce started during backward, one bucket per tensor
    (["--bn", "--sync-bn"], 3),                   # synchronised batch norm, uneven slices (24 = 8+8+8, 100 % 24 = 4)
])
def test_n_processes_end_with_the_weights_of_one(flags, n, tmp_path):
    one, many = tmp_path / "one.npz", tmp_path / "many.npz"
    base = [WORKER, "train"]
    assert _run([*base, one, *[f for f in flags if f.startswith("--bn") or f == "--sync-bn"]]).returncode == 0
    done = _run([*base, many, *flags], n=n)
    assert done.returncode == 0, done.stderr
    a, b = _weights(one), _weights(many)
    assert _relative_difference(a, b) <= 1e-5
    np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-5)


@pytest.fixture(scope="module")
def mnist(tmp_path_factory):
    return write_mnist_folder(tmp_path_factory.mktemp("mnist"), 240, 60)


def test_cli_lenet5_two_processes_equal_one(mnist, tmp_path):
    args = ["train", "--model", "lenet5", "--dataset", "mnist", "--data-dir", mnist, "--epochs", "2", "--seed", "0",
            "--optimizer", "momentum", "--lr", "0.05", "--no-progress", "--json"]
    one = _run(_cli(*args, "--out", tmp_path / "one"))
    assert one.returncode == 0, one.stderr
    two = _run(_cli(*args, "--out", tmp_path / "two"), n=2)
    assert two.returncode == 0, two.stderr
    a = load_checkpoint(tmp_path / "one" / "last.ckpt")["model"]
    b = load_checkpoint(tmp_path / "two" / "last.ckpt")["model"]
    # momentum SGD, whose weights move (plain SGD at its default rate hardly changes them in these few steps): two
    # half-batch sums instead of one differ by ~1e-7 per step, and training amplifies that over the steps (on the
    # 1,617 training digits, two epochs end 5.7e-5 apart, as far as one process at 1 instead of 2 threads)
    assert _relative_difference(a, b) <= 1e-5, _relative_difference(a, b)
    assert json.loads(one.stdout)["test_loss"] == pytest.approx(json.loads(two.stdout)["test_loss"], rel=1e-5)
    # rank 0 alone printed the result and wrote the run folder
    assert len(two.stdout.strip().splitlines()) == 1 and json.loads(two.stdout)["epochs"] == 2
    assert "on 2 processes (data-parallel over MPI" in two.stderr
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())


def test_more_processes_than_samples_is_one_line_exit_2(tmp_path):
    tiny = write_mnist_folder(tmp_path / "tiny", 2, 4)
    done = _run(_cli("train", "--model", "lenet5", "--dataset", "mnist", "--data-dir", tiny, "--epochs", "1",
                     "--val-fraction", "0", "--out", tmp_path / "run"), n=3)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "3 processes but only 2 training samples" in lines[0], done.stderr
    assert not (tmp_path / "run").exists()


def test_a_silent_process_makes_the_others_stop_with_an_error():
    start = time.monotonic()
    done = _run([WORKER, "hang", "--timeout", "3"], n=2, timeout=120)
    assert done.returncode != 0 and time.monotonic() - start < 60
    assert "no answer from the other processes for 3 s" in done.stderr


def _rank_pid(tag: str, rank: int) -> int | None:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"CNNKIT_TEST_TAG={tag}".encode() in environ and f"PMI_RANK={rank}".encode() in environ:
            if b"python" in (entry / "cmdline").read_bytes():
                return int(entry.name)
    return None


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the rank's process through /proc")
def test_killing_a_rank_stops_the_others_and_the_checkpoint_resumes(mnist, tmp_path):
    tag, out = uuid.uuid4().hex, tmp_path / "run"
    cmd = [MPIEXEC, "-n", "2", sys.executable, "-m", "cnnkit.cli", "train", "--model", "lenet5", "--dataset", "mnist",
           "--data-dir", str(mnist), "--epochs", "40", "--schedule", "none", "--optimizer", "sgd", "--no-progress",
           "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(CNNKIT_TEST_TAG=tag))
    try:
        deadline = time.monotonic() + 180
        while not (out / "last.ckpt").exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert (out / "last.ckpt").exists(), "no checkpoint was written"
        time.sleep(0.5)  # mid-epoch
        pid = _rank_pid(tag, 1)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        proc.wait(timeout=60)
        assert time.monotonic() - killed < 60
        assert proc.returncode != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    state = load_checkpoint(out / "last.ckpt")
    epoch = state["epoch"]
    assert 1 <= epoch < 40
    # resume on one process (another process count), to one more epoch
    done = _run(_cli("train", "--out", out, "--resume", "--epochs", str(epoch + 1), "--no-progress", "--json"))
    assert done.returncode == 0, done.stderr
    assert load_checkpoint(out / "last.ckpt")["epoch"] == epoch + 1
    # and on two processes again
    done = _run(_cli("train", "--out", out, "--resume", "--epochs", str(epoch + 2), "--no-progress", "--json"), n=2)
    assert done.returncode == 0, done.stderr
    assert load_checkpoint(out / "last.ckpt")["epoch"] == epoch + 2
