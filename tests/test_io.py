"""cnnkit.io: .safetensors (own NumPy parser and writer), .npz, .pth; atomic writes; clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pytest
from oracle import requires_torch, torch

import cnnkit as ck
from cnnkit import io, models

try:
    import safetensors.numpy as st_numpy
except ImportError:  # pragma: no cover
    st_numpy = None

requires_safetensors = pytest.mark.skipif(st_numpy is None, reason="the safetensors package is not installed")


def _sample_state():
    rng = np.random.default_rng(0)
    return OrderedDict([
        ("conv.weight", rng.standard_normal((4, 3, 3, 3)).astype(np.float32)),
        ("conv.bias", rng.standard_normal(4).astype(np.float64)),
        ("half", rng.standard_normal((2, 5)).astype(np.float16)),
        ("bn.num_batches_tracked", np.array(12, dtype=np.int64)),
        ("i32", np.arange(6, dtype=np.int32).reshape(2, 3)),
        ("u8", np.arange(5, dtype=np.uint8)),
        ("i8", np.array([-3, 4], dtype=np.int8)),
        ("mask", np.array([True, False, True])),
        ("empty", np.zeros((0, 3), np.float32)),
        ("transposed", rng.standard_normal((3, 4)).astype(np.float32).T),  # not C-contiguous
    ])


def _assert_same(a, b):
    assert list(a) == list(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


# ------------------------------------------------------------------------------------------- safetensors
def test_safetensors_round_trip_every_dtype(tmp_path):
    state = _sample_state()
    path = io.save_state_dict(state, tmp_path / "s.safetensors", metadata={"source": "test"})
    back, meta = io.read_safetensors(path)
    _assert_same(state, back)
    assert meta == {"source": "test"}
    assert all(type(v) is np.ndarray and v.flags.writeable and v.flags.owndata for v in back.values())


def test_safetensors_layout_is_the_documented_one(tmp_path):
    path = tmp_path / "s.safetensors"
    io.save_state_dict({"a": np.arange(3, dtype=np.float32), "b": np.array(7, np.int64)}, path)
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    assert (8 + n) % 8 == 0
    header = json.loads(raw[8:8 + n])
    assert header["a"] == {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]}
    assert header["b"] == {"dtype": "I64", "shape": [], "data_offsets": [12, 20]}
    assert raw[8 + n:] == np.arange(3, dtype="<f4").tobytes() + np.array(7, "<i8").tobytes()


@requires_safetensors
def test_safetensors_compatible_with_the_reference_package(tmp_path):
    state = OrderedDict((k, v) for k, v in _sample_state().items())
    ours = tmp_path / "ours.safetensors"
    io.save_state_dict(state, ours)
    theirs_read = st_numpy.load_file(str(ours))
    for k, v in state.items():
        assert theirs_read[k].dtype == v.dtype and theirs_read[k].shape == v.shape, k
        np.testing.assert_array_equal(theirs_read[k], v)
    theirs = tmp_path / "theirs.safetensors"
    st_numpy.save_file({k: v.copy(order="C") for k, v in state.items()}, str(theirs), metadata={"m": "1"})
    back, meta = io.read_safetensors(theirs)
    assert meta == {"m": "1"}
    for k, v in state.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape, k
        np.testing.assert_array_equal(back[k], v)


@requires_torch
@requires_safetensors
def test_safetensors_bfloat16_is_widened_to_float32(tmp_path):
    import safetensors.torch

    t = torch.tensor([1.5, -2.25, 3.0e5, 0.0], dtype=torch.bfloat16)
    path = tmp_path / "bf16.safetensors"
    safetensors.torch.save_file({"w": t}, str(path))
    back = io.read_state_dict(path)
    assert back["w"].dtype == np.float32
    np.testing.assert_array_equal(back["w"], t.float().numpy())


@pytest.mark.parametrize("damage, message", [
    (lambda raw: raw[:5], "not a safetensors file"),
    (lambda raw: (10 ** 9).to_bytes(8, "little") + raw[8:], "header length"),
    (lambda raw: raw[:8] + b"x" + raw[9:], "corrupt JSON header"),
    (lambda raw: raw[:-4], "truncated or corrupt"),
])
def test_safetensors_corrupt_files_get_clear_errors(tmp_path, damage, message):
    path = tmp_path / "ok.safetensors"
    io.save_state_dict({"a": np.arange(4, dtype=np.float32)}, path)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ValueError, match=message):
        io.read_state_dict(bad)


def test_safetensors_unsupported_dtype_and_reserved_name(tmp_path):
    with pytest.raises(TypeError, match="complex"):
        io.save_state_dict({"c": np.zeros(2, np.complex64)}, tmp_path / "c.safetensors")
    with pytest.raises(ValueError, match="reserved"):
        io.save_state_dict({"__metadata__": np.zeros(2, np.float32)}, tmp_path / "m.safetensors")
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------------------------------- npz
def test_npz_round_trip(tmp_path):
    state = _sample_state()
    path = io.save_state_dict(state, tmp_path / "s.npz")
    _assert_same(state, io.read_state_dict(path))


def test_model_round_trip_through_both_formats(tmp_path):
    src = models.resnet20()
    src.bn1.running_mean.data[...] = np.arange(16, dtype=np.float32)
    for name in ("m.safetensors", "m.npz"):
        io.save_state_dict(src, tmp_path / name)
        dst = models.resnet20()
        result = io.load_state_dict(dst, tmp_path / name)
        assert not result.missing_keys and not result.unexpected_keys
        _assert_same(src.state_dict(), dst.state_dict())


def test_values_are_cast_to_the_parameter_dtype(tmp_path):
    model = ck.nn.Linear(3, 2)
    state = {"weight": np.ones((2, 3), np.float16), "bias": np.zeros(2, np.float64)}
    io.save_state_dict(state, tmp_path / "h.safetensors")
    io.load_state_dict(model, tmp_path / "h.safetensors")
    assert model.weight.dtype == np.float32 and np.all(model.weight.data == 1)


# ------------------------------------------------------------------------------------------- atomic writes
def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "w.npz"
    io.save_state_dict({"a": np.arange(3)}, path)
    old = path.read_bytes()

    def broken(f, **arrays):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        io.save_state_dict({"a": np.arange(1000)}, path)
    assert path.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.npz"]


def test_write_creates_folders_and_fsyncs(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    path = io.save_state_dict({"a": np.arange(3.0)}, tmp_path / "sub" / "dir" / "x.safetensors")
    assert path.is_file() and synced
    assert sorted(p.name for p in path.parent.iterdir()) == ["x.safetensors"]


# ------------------------------------------------------------------------------------------- torch files
@requires_torch
def test_pth_checkpoint_layouts(tmp_path):
    model = models.lenet5()
    state = {k: torch.tensor(v) for k, v in models.lenet5().state_dict().items()}
    torch.save({"epoch": 3, "state_dict": state}, tmp_path / "ckpt.pt")
    io.load_state_dict(model, tmp_path / "ckpt.pt")
    np.testing.assert_array_equal(model.features.conv1.weight.data, state["features.conv1.weight"].numpy())
    torch.save({"module." + k: v for k, v in state.items()}, tmp_path / "dp.pth")  # a data-parallel wrapper
    io.load_state_dict(models.lenet5(), tmp_path / "dp.pth")


@requires_torch
def test_legacy_densenet_keys_are_renamed():
    from cnnkit.models.densenet import _DenseBlock

    block = _DenseBlock(2, 8, 2, 4, 0.0)
    state = block.state_dict()
    legacy = {k.replace("norm1.", "norm.1.").replace("conv2.", "conv.2."): v for k, v in state.items()}
    assert "denselayer1.norm.1.weight" in legacy
    target = _DenseBlock(2, 8, 2, 4, 0.0)
    io.load_state_dict(target, legacy)
    _assert_same(OrderedDict(sorted(state.items())), OrderedDict(sorted(target.state_dict().items())))


def test_pth_without_torch_says_how_to_proceed(tmp_path, monkeypatch):
    path = tmp_path / "w.pth"
    path.write_bytes(b"not really")
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    with pytest.raises(ImportError, match=r"needs PyTorch.*\.safetensors or \.npz"):
        io.load_state_dict(models.lenet5(), path)


def test_importing_the_zoo_io_and_analysis_does_not_import_torch():
    code = "import sys, cnnkit.io, cnnkit.models, cnnkit.analysis; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@requires_torch
def test_corrupt_pth_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.pth"
    path.write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match="cannot read .*bad.pth.* as a PyTorch file"):
        io.read_state_dict(path)


# ------------------------------------------------------------------------------------------- argument errors
def test_argument_errors(tmp_path):
    with pytest.raises(ValueError, match=r"extension '\.h5'.*\.npz.*\.safetensors"):
        io.save_state_dict({"a": np.zeros(1)}, tmp_path / "x.h5")
    with pytest.raises(FileNotFoundError, match="no such file"):
        io.load_state_dict(models.lenet5(), tmp_path / "missing.safetensors")
    with pytest.raises(TypeError, match="file path or a mapping"):
        io.load_state_dict(models.lenet5(), 42)
    with pytest.raises(TypeError, match="expected a Module"):
        io.load_state_dict(object(), {})
    with pytest.raises(TypeError, match="expected a Module or a mapping"):
        io.save_state_dict(3, tmp_path / "x.npz")
    with pytest.raises(ValueError, match="format must be one of"):
        io.save_state_dict({"a": np.zeros(1)}, tmp_path / "x.bin", format="pickle")
    path = io.save_state_dict({"a": np.zeros(1)}, tmp_path / "x.bin", format="npz")
    assert list(io.read_state_dict(path, format="npz")) == ["a"]
    np.save(tmp_path / "single.npy", np.zeros(2))
    with pytest.raises(ValueError, match="npz"):
        io.read_state_dict(tmp_path / "single.npy", format="npz")


def test_json_text_is_strict_json():
    import numpy as np

    from cnnkit.atomic import json_text

    text = json_text({"a": float("nan"), "b": [np.float32(1.5), float("inf"), np.int64(3)], "c": np.arange(2)})
    assert text == '{"a": null, "b": [1.5, null, 3], "c": [0, 1]}'
