"""Hostile and odd inputs, and user mistakes: each gets one line on stderr and exit status 2 (never a traceback),
overwrites nothing and leaves no run folder behind; memory stays bounded on files that claim to be huge."""

from __future__ import annotations

import errno
import io
import json
import os
import stat
import struct
import subprocess
import sys
import textwrap
import warnings
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image

import cnnkit as ck
from cnnkit import InputError
from cnnkit.cli import main
from cnnkit.training import load_checkpoint, save_checkpoint


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("harden") / "run"
    assert main(["train", "--epochs", "1", "--out", str(out), "--no-progress", "--json", "--seed", "1"]) == 0
    return out


def one_error_line(capsys, *needles) -> str:
    captured = capsys.readouterr()
    err = [line for line in captured.err.strip().splitlines() if "error" in line.lower()]
    assert len(err) == 1, captured.err  # (besides the progress lines a started run prints)
    assert err[0].startswith("cnnkit: error: "), err[0]
    assert "Traceback" not in captured.err + captured.out
    for needle in needles:
        assert needle in err[0], err[0]
    return err[0]


def png_header_only(path, width: int, height: int) -> None:
    """A valid PNG signature and IHDR claiming width x height, with a tiny (wrong) image body."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def npz_with_member(path, name: str, header_shape, data: bytes, compress=zipfile.ZIP_STORED) -> None:
    """An .npz whose member ``name`` has an .npy header claiming ``header_shape`` followed by ``data``."""
    header = {"descr": "<f4", "fortran_order": False, "shape": tuple(header_shape)}
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    with zipfile.ZipFile(path, "w", compression=compress) as z:
        z.writestr(name, buf.getvalue() + data)


# ----------------------------------------------------------------------------------------- command-line mistakes
def test_out_naming_an_existing_file_and_experiment_out_file(tmp_path, capsys):
    f = tmp_path / "afile"
    f.write_text("keep")
    assert main(["train", "--epochs", "1", "--out", str(f), "--no-progress"]) == 2
    one_error_line(capsys, "exists and is not a folder", "(--out)")
    assert main(["experiment", "overfitting", "--out", str(f), "--epochs", "1"]) == 2
    one_error_line(capsys, "exists and is not a folder", "(--out)")
    assert f.read_text() == "keep"


def test_read_only_output_folder_is_one_line(tmp_path, capsys, monkeypatch):
    from cnnkit import atomic

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "ro"))

    monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)  # (as root a chmod would not stop the write)
    assert main(["train", "--epochs", "1", "--out", str(tmp_path / "ro"), "--no-progress", "--json"]) == 2
    line = one_error_line(capsys, "Permission denied")
    assert "\n" not in line
    assert not (tmp_path / "ro").exists()  # a failed start leaves no folder


def test_disk_full_while_saving_keeps_history_and_checkpoint_consistent(tmp_path, capsys, monkeypatch):
    from cnnkit.training import checkpoint

    out = tmp_path / "full"
    assert main(["train", "--epochs", "1", "--schedule", "none", "--out", str(out), "--no-progress",
                 "--json"]) == 0
    real = checkpoint.atomic_write

    def full(path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint, "atomic_write", full)
    capsys.readouterr()
    assert main(["train", "--epochs", "3", "--out", str(out), "--resume", "--no-progress", "--json"]) == 2
    one_error_line(capsys, "No space left on device")
    monkeypatch.setattr(checkpoint, "atomic_write", real)
    history = json.loads((out / "history.json").read_text())["epochs"]
    assert [e["epoch"] for e in history] == [1] == [load_checkpoint(out / "last.ckpt")["epoch"]]


def test_offline_download_is_one_line(tmp_path, capsys, monkeypatch):
    import urllib.error
    import urllib.request

    def offline(*args, **kwargs):
        raise urllib.error.URLError(OSError(-2, "Name or service not known"))

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.setattr("time.sleep", lambda s: None)
    assert main(["train", "--dataset", "mnist", "--data-dir", str(tmp_path / "mnist"), "--download",
                 "--no-progress", "--out", str(tmp_path / "run")]) == 2
    one_error_line(capsys, "could not download")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("argv,needles", [
    (["train", "--seed", "-5"], ["seed", "(--seed)"]),
    (["train", "--lr", "inf"], ["lr", "(--lr)"]),
    (["train", "--warmup", "30", "--epochs", "2"], ["warmup", "(--warmup)"]),
    (["train", "--optimizer", "adam", "--momentum", "2"], ["momentum", "(--momentum)"]),
    (["experiment", "overfitting", "--epochs", "0"], ["epochs must be an int >= 1", "(--epochs)"]),
])
def test_bad_settings_name_their_flag(argv, needles, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. no NumPy overflow warnings for --lr inf
        assert main(argv) == 2
    one_error_line(capsys, *needles)
    assert not (tmp_path / "runs").exists()


def test_json_errors_are_json_on_stdout(capsys):
    assert main(["train", "--seed", "-5", "--json"]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"error": "run config: seed must be an int >= 0, got -5", "flag": "--seed"}
    assert captured.err.startswith("cnnkit: error: ")


def test_summary_errors_use_the_common_prefix(capsys):
    assert main(["summary", "nosuchmodel"]) == 2
    one_error_line(capsys, "unknown model 'nosuchmodel'")


def test_broken_pipe_is_quiet(capsys, monkeypatch):
    class Closed(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", Closed())
    assert main(["summary", "--list"]) == 0
    monkeypatch.undo()
    assert capsys.readouterr().err == ""
    code = ("import sys; from cnnkit.cli import main; sys.exit(main(['summary', '--list']))")
    proc = subprocess.run(f"{sys.executable} -c \"{code}\" | head -c 10", shell=True, capture_output=True, text=True,
                          timeout=120)
    assert "Traceback" not in proc.stderr and "Error" not in proc.stderr


def test_predict_top_k_must_be_positive(run_dir, tmp_path, capsys):
    img = tmp_path / "d.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(img)
    for k in ("0", "-3"):
        assert main(["predict", str(run_dir / "last.ckpt"), str(img), "--top-k", k]) == 2
        one_error_line(capsys, "top_k must be an int >= 1", "(--top-k)")


def test_experiment_never_overwrites_its_results(tmp_path, monkeypatch):
    from cnnkit import experiments

    monkeypatch.setitem(experiments.EXPERIMENTS, "overfitting", lambda out, epochs=1, seed=0: {"message": "m"})
    monkeypatch.chdir(tmp_path)
    first = experiments.run_experiment("overfitting")
    second = experiments.run_experiment("overfitting")
    assert first["out"] != second["out"]  # a new numbered folder
    with pytest.raises(InputError, match="already holds the results"):
        experiments.run_experiment("overfitting", out=first["out"])


# ----------------------------------------------------------------------------------------- hostile files
def test_decompression_bomb_png_is_refused_before_decoding(run_dir, tmp_path, capsys):
    bomb = tmp_path / "bomb.png"
    png_header_only(bomb, 20000, 20000)
    assert main(["predict", str(run_dir / "last.ckpt"), str(bomb), "--resize"]) == 2
    one_error_line(capsys, "400000000 pixels", "decompression bomb")


def test_checkpoint_member_claiming_a_huge_array(tmp_path, capsys):
    path = tmp_path / "huge.ckpt"
    npz_with_member(path, "__meta__.npy", (100000, 100000, 100), b"\0" * 64)
    before = path.read_bytes()
    assert main(["evaluate", str(path)]) == 2
    one_error_line(capsys, "(100000, 100000, 100)", "corrupt")
    assert path.read_bytes() == before


def test_checkpoint_missing_member_and_random_bytes(run_dir, tmp_path, capsys):
    src = zipfile.ZipFile(run_dir / "last.ckpt")
    missing = tmp_path / "missing.ckpt"
    with zipfile.ZipFile(missing, "w") as z:
        for name in src.namelist():
            if name != "p/model/features.0.weight.npy":
                z.writestr(name, src.read(name))
    assert main(["evaluate", str(missing)]) == 2
    one_error_line(capsys, "lacks the array 'p/model/features.0.weight'")
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    assert main(["evaluate", str(junk)]) == 2
    line = one_error_line(capsys, "not a cnnkit checkpoint")
    assert "pickle" not in line
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(InputError, match="never loads pickled data"):
        ck.io.read_state_dict(pickled)


def test_nan_weights_are_refused_by_evaluate_and_predict(run_dir, tmp_path, capsys):
    state = load_checkpoint(run_dir / "last.ckpt")
    state["model"]["features.0.weight"] = state["model"]["features.0.weight"] * np.nan
    bad = save_checkpoint(tmp_path / "nan.ckpt", state)
    img = tmp_path / "d.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(img)
    assert main(["evaluate", str(bad)]) == 2
    one_error_line(capsys, "NaN or infinite", "features.0.weight")
    assert main(["predict", str(bad), str(img)]) == 2
    one_error_line(capsys, "NaN or infinite")


@pytest.mark.parametrize("header,message", [
    ({"w": {"dtype": "F32", "shape": [2 ** 62, 4], "data_offsets": [0, 16]}}, "needs 73786976294838206464 bytes"),
    ({"w": {"dtype": "F32", "shape": [-1, 4], "data_offsets": [0, 16]}}, "shape must be a list of non-negative"),
    ({"w": {"dtype": "F32", "shape": "4", "data_offsets": [0, 16]}}, "shape must be a list"),
    ({"w": {"dtype": ["F32"], "shape": [4], "data_offsets": [0, 16]}}, "unsupported dtype"),
    ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0]}}, "data_offsets must be two"),
    ({"w": {"dtype": "F32", "shape": [4], "data_offsets": ["a", 16]}}, "data_offsets must be two"),
    ({"w": [1, 2]}, "needs dtype, shape and data_offsets"),
    ({"__metadata__": {"a": 1}}, "__metadata__ must map strings"),
])
def test_malformed_safetensors_headers(tmp_path, header, message):
    raw = json.dumps(header).encode()
    path = tmp_path / "bad.safetensors"
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + bytes(16))
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        ck.io.read_state_dict(path)


BOMB_SCRIPT = textwrap.dedent("""
    import gzip, io, sys, zipfile, zlib
    import numpy as np
    from pathlib import Path
    from cnnkit import InputError
    from cnnkit.data import read_idx
    from cnnkit.training import load_checkpoint
    folder = Path(sys.argv[1])

    def hwm():  # this process's own peak RSS in KiB (ru_maxrss would include the pytest parent's, inherited at fork)
        with open("/proc/self/status") as f:
            return int(next(line.split()[1] for line in f if line.startswith("VmHWM:")))

    # a gzip IDX file whose header claims 3 GiB (3 x 2**30 uint8 values) and whose stream inflates to 256 MiB
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunks = [z.compress(bytes([0, 0, 8, 1]) + (3 * 2 ** 30).to_bytes(4, "big"))]
    zero = bytes(2 ** 20)
    for _ in range(256):
        chunks.append(z.compress(zero))
    chunks.append(z.flush())
    (folder / "bomb-idx.gz").write_bytes(b"".join(chunks))
    # a checkpoint whose deflated member inflates to 512 MiB of zeros behind an honest .npy header
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (2 ** 27,)})
    with zipfile.ZipFile(folder / "bomb.ckpt", "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("__meta__.npy", "w", force_zip64=True) as member:
            member.write(header.getvalue())
            for _ in range(512):
                member.write(zero)
    sizes = [(folder / n).stat().st_size for n in ("bomb-idx.gz", "bomb.ckpt")]
    base = hwm()
    errors = []
    for load, name in ((read_idx, "bomb-idx.gz"), (load_checkpoint, "bomb.ckpt")):
        try:
            load(folder / name)
        except InputError as err:
            errors.append(str(err))
    peak = hwm()
    print(peak * 1024, base * 1024, sizes, errors, sep="\\n")
""")


def test_compression_bombs_are_refused_with_bounded_memory(tmp_path):
    proc = subprocess.run([sys.executable, "-c", BOMB_SCRIPT, str(tmp_path)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    peak, base, sizes, errors = proc.stdout.strip().splitlines()
    peak_mb = int(peak) / 2 ** 20
    assert peak_mb < 500, f"peak RSS {peak_mb:.0f} MB"
    assert "compression bomb" in errors
    assert "declares dims (3221225472,)" in errors and "more than" in errors


# ----------------------------------------------------------------------------------------- odd images
def test_16_bit_and_float_images_are_read_by_their_range(tmp_path):
    from cnnkit.data.images import read_image

    g16, f32, f_out = tmp_path / "g16.png", tmp_path / "f.tiff", tmp_path / "f2.tiff"
    Image.fromarray(np.full((10, 10), 30000, np.uint16)).save(g16)
    Image.fromarray(np.full((10, 10), 0.7, np.float32)).save(f32)
    Image.fromarray(np.full((10, 10), 300.0, np.float32)).save(f_out)
    assert read_image(g16, 1, 8, resize=True) == pytest.approx(30000 / 65535, abs=1e-6)
    assert read_image(f32, 1, 10) == pytest.approx(0.7, abs=1e-6)
    assert read_image(f32, 3, 4, resize=True).shape == (3, 4, 4)
    with pytest.raises(InputError, match=r"floating-point image with values in \[300, 300\]"):
        read_image(f_out, 1, 10)
    folder = ck.data.ImageFolder  # the same conversion in image folders
    root = tmp_path / "tree"
    (root / "a").mkdir(parents=True)
    Image.fromarray(np.full((6, 6), 65535, np.uint16)).save(root / "a" / "x.png")
    assert folder(root, mode="L")[0][0].max() == pytest.approx(1.0)


def test_image_folder_never_follows_folder_links(tmp_path):
    root = tmp_path / "train"
    for cls, value in (("circle", 10), ("square", 200)):
        (root / cls).mkdir(parents=True)
        Image.fromarray(np.full((4, 4), value, np.uint8)).save(root / cls / "1.png")
    os.symlink(root, root / "circle" / "loop")  # back into the tree: squares would become circles
    os.symlink(tmp_path, root / "outside")  # a class folder that leaves the tree
    with pytest.warns(UserWarning, match="linked folder"):
        ds = ck.data.ImageFolder(root, mode="L")
    assert ds.classes == ["circle", "square"]
    assert [(p.parent.name, label) for p, label in ds.samples] == [("circle", 0), ("square", 1)]


# ----------------------------------------------------------------------------------------- library behaviour
def test_files_are_created_honouring_the_umask(run_dir, tmp_path):
    old = os.umask(0o022)
    try:
        ck.io.save_state_dict({"w": np.zeros(2, np.float32)}, tmp_path / "w.safetensors")
        save_checkpoint(tmp_path / "c.ckpt", {"epoch": 1})
        for name in ("w.safetensors", "c.ckpt"):
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644
    finally:
        os.umask(old)
    for name in ("last.ckpt", "history.json", "curves.png"):
        assert stat.S_IMODE((run_dir / name).stat().st_mode) & 0o044 == 0o044 & ~old


def test_numpy_of_a_tensor_that_requires_grad_is_read_only():
    x = ck.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    view = x.numpy()
    with pytest.raises(ValueError, match="read-only"):
        view[0, 0] = 5.0
    y = (x * x).sum()
    y.backward()
    assert np.array_equal(x.grad.numpy() if hasattr(x.grad, "numpy") else x.grad, 2 * np.ones((2, 3)))
    x.detach().numpy()[0, 0] = 3.0  # detached: writable, as in PyTorch
    assert ck.tensor([1.0]).numpy().flags.writeable


def test_module_to_half_precision_is_refused():
    model = ck.nn.Linear(2, 2)
    with pytest.raises(TypeError, match="float32 or float64"):
        model.to(np.float16)
    assert model.weight.dtype == np.float32


def test_progress_bar_writes_no_carriage_returns_into_a_log(tmp_path, capsys):
    log = tmp_path / "log.txt"
    with open(log, "w") as stream:
        from cnnkit.training import ProgressBar

        bar = ProgressBar(stream=stream)
        assert not bar.bar
    out = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--out", str(out)]) == 0  # stderr is not a terminal under pytest
    err = capsys.readouterr().err
    assert "\r" not in err and "Epoch 1/1" in err


# ----------------------------------------------------------------------------------------- resume
def test_interrupt_hint_is_the_exact_command_that_resumes(tmp_path, capsys, monkeypatch):
    import shlex

    from cnnkit.training import Trainer

    out = tmp_path / "with space" / "run"
    real = Trainer._run_epoch

    def interrupted(self, epoch, *args):
        if epoch == 2:
            raise KeyboardInterrupt
        return real(self, epoch, *args)

    monkeypatch.setattr(Trainer, "_run_epoch", interrupted)
    assert main(["train", "--epochs", "3", "--augment", "--schedule", "onecycle", "--optimizer", "momentum",
                 "--out", str(out), "--no-progress", "--json"]) == 130
    hint = capsys.readouterr().err.strip().splitlines()[-1]
    assert "interrupted in epoch 2" in hint
    command = shlex.split(hint.split("resume with: ", 1)[1])
    assert command[:1] == ["cnnkit"]
    monkeypatch.setattr(Trainer, "_run_epoch", real)
    assert main(command[1:] + ["--no-progress", "--json"]) == 0  # the hint, as printed, resumes the run
    state = load_checkpoint(out / "last.ckpt")
    config = state["run"]["config"]
    assert state["epoch"] == 3 and config["augment"] and config["optimizer"] == "momentum"
    assert config["schedule"] == "onecycle"  # the saved settings, though the command repeated none of them
