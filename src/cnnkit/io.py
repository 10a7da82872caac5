"""State-dict files: read PyTorch ``.pth``/``.pt``, ``.safetensors`` and ``.npz``; write ``.safetensors`` and ``.npz``.

* ``.safetensors`` is parsed and written here with NumPy alone: an 8-byte little-endian header length, a JSON
  header (``{name: {"dtype", "shape", "data_offsets": [begin, end]}}``, optional ``"__metadata__"``) and the
  raw little-endian buffers. Neither torch nor the safetensors package is needed.
* ``.pth``/``.pt`` needs PyTorch (imported only when such a file is read; ``weights_only=True``, no pickled code).
* ``.npz`` is NumPy's zip of ``.npy`` arrays, read by :func:`cnnkit.archive.read_npz` (sizes checked before
  anything is allocated, inflation capped, never a pickle); ``.ckpt`` (a cnnkit training checkpoint) gives its
  model weights.

Writes are atomic: a temporary file in the same folder, flushed and fsynced, then ``os.replace``d over the
target, so a crash never leaves a truncated file under the final name.
"""

from __future__ import annotations

import json
import os
import re
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .atomic import atomic_write
from .autograd import Tensor
from .errors import InputError, InputTypeError, StateDictError

__all__ = ["load_state_dict", "save_state_dict", "read_state_dict", "read_safetensors", "write_safetensors"]

_READ_FORMATS = {".pth": "torch", ".pt": "torch", ".bin": "torch", ".safetensors": "safetensors", ".npz": "npz",
                 ".ckpt": "ckpt"}
_WRITE_FORMATS = {".safetensors": "safetensors", ".npz": "npz"}

# safetensors dtype codes <-> NumPy (explicitly little-endian); BF16 is widened to float32 on reading
_ST_TO_NUMPY = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
    "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?",
}
_NUMPY_TO_ST = {np.dtype(v).newbyteorder("<") if np.dtype(v).itemsize > 1 else np.dtype(v): k
                for k, v in _ST_TO_NUMPY.items()}
_MAX_HEADER = 100 * 2 ** 20  # the reference implementation's limit


# --------------------------------------------------------------------------------------------- helpers
def _to_array(key: str, value) -> np.ndarray:
    """The NumPy array behind a state-dict value (cnnkit Tensor, ndarray, or a torch tensor)."""
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor, converted without importing torch
        value = value.detach().cpu()
        if str(getattr(value, "dtype", "")) == "torch.bfloat16":
            value = value.float()
        return value.numpy()
    if isinstance(value, (int, float, bool, np.generic)):
        return np.asarray(value)
    raise InputTypeError(f"state dict entry {key!r}: expected an array or a Tensor, got {type(value).__name__}")


def _as_state(model_or_state) -> OrderedDict:
    if hasattr(model_or_state, "state_dict") and callable(model_or_state.state_dict):
        state = model_or_state.state_dict()
    elif isinstance(model_or_state, Mapping):
        state = model_or_state
    else:
        raise InputTypeError(f"save_state_dict: expected a Module or a mapping of name -> array, "
                             f"got {type(model_or_state).__name__}")
    out = OrderedDict()
    for key, value in state.items():
        if not isinstance(key, str):
            raise InputTypeError(f"save_state_dict: keys must be strings, got {key!r} ({type(key).__name__})")
        out[key] = _to_array(key, value)
    return out


def _format_of(path: Path, table: dict, fmt: str | None, what: str) -> str:
    if fmt is not None:
        if fmt not in set(table.values()):
            raise InputError(f"{what}: format must be one of {sorted(set(table.values()))}, got {fmt!r}")
        return fmt
    suffix = path.suffix.lower()
    if suffix not in table:
        raise InputError(f"{what}: cannot tell the format of {str(path)!r} from its extension {suffix!r}; "
                         f"expected one of {', '.join(sorted(table))} (or pass format=)")
    return table[suffix]


# --------------------------------------------------------------------------------------------- safetensors
def read_safetensors(path) -> tuple[OrderedDict, dict]:
    """Parse a ``.safetensors`` file with NumPy: returns (name -> array in file order, metadata dict)."""
    path = Path(path)
    size = path.stat().st_size
    if size < 8:
        raise InputError(f"read_safetensors: {str(path)!r} is not a safetensors file: {size} bytes, expected at "
                         f"least the 8-byte header length")
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        if n > min(_MAX_HEADER, size - 8):
            raise InputError(f"read_safetensors: {str(path)!r} is not a safetensors file (or is truncated): "
                             f"header length {n} bytes, but the file has {size - 8} bytes after the length "
                             f"field (limit {_MAX_HEADER})")
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise InputError(f"read_safetensors: {str(path)!r} has a corrupt JSON header: {err}") from None
    if not isinstance(header, dict):
        raise InputError(f"read_safetensors: {str(path)!r}: expected a JSON object header, "
                         f"got {type(header).__name__}")
    metadata = header.pop("__metadata__", None) or {}
    data_start, data_len = 8 + n, size - 8 - n
    entries = []
    if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in metadata.items()):
        raise InputError(f"read_safetensors: {str(path)!r}: __metadata__ must map strings to strings")
    for name, info in header.items():
        entries.append(_safetensors_entry(path, name, info, data_len))
    state = OrderedDict()
    if entries:
        buffer = np.memmap(path, dtype=np.uint8, mode="r", offset=data_start, shape=(data_len,)) if data_len \
            else np.zeros(0, np.uint8)
        try:
            for name, code, shape, begin, end in entries:
                chunk = buffer[begin:end]
                if code == "BF16":
                    bits = chunk.view("<u2").astype(np.uint32) << 16
                    state[name] = np.array(bits.view(np.float32).reshape(shape))
                else:
                    native = np.dtype(_ST_TO_NUMPY[code]).newbyteorder("=")
                    state[name] = np.array(chunk.view(_ST_TO_NUMPY[code]).reshape(shape), dtype=native)
        finally:
            del buffer
    return state, metadata


def _safetensors_entry(path: Path, name: str, info, data_len: int) -> tuple:
    """(name, dtype code, shape, begin, end) of one header entry, every field checked (sizes in Python ints, so a
    shape like [2**62, 4] cannot wrap around)."""
    where = f"read_safetensors: {str(path)!r}: tensor {name!r}"
    if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= set(info):
        raise InputError(f"{where} needs dtype, shape and data_offsets, got {info!r:.200}")
    code, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if not isinstance(code, str) or (code != "BF16" and code not in _ST_TO_NUMPY):
        raise InputError(f"{where} has unsupported dtype {code!r:.50}; supported: "
                         f"{', '.join(sorted([*_ST_TO_NUMPY, 'BF16']))}")
    def ints(v) -> bool:
        return isinstance(v, list) and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in v)

    if not ints(shape) or len(shape) > 64:
        raise InputError(f"{where}: shape must be a list of non-negative ints, got {shape!r:.200}")
    if not ints(offsets) or len(offsets) != 2:
        raise InputError(f"{where}: data_offsets must be two non-negative ints, got {offsets!r:.200}")
    itemsize = 2 if code == "BF16" else np.dtype(_ST_TO_NUMPY[code]).itemsize
    expected = itemsize
    for d in shape:
        expected *= d
    begin, end = offsets
    if not (begin <= end <= data_len) or end - begin != expected:
        raise InputError(f"{where} ({code}, shape {tuple(shape)}) has data offsets [{begin}, {end}] but needs "
                         f"{expected} bytes within a {data_len}-byte buffer (truncated or corrupt file)")
    return name, code, tuple(shape), begin, end


def write_safetensors(path, state: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None) -> None:
    """Write name -> array as a ``.safetensors`` file (atomically). ``metadata``: optional str -> str."""
    path = Path(path)
    header: dict = {}
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise InputTypeError("write_safetensors: metadata must map str to str")
        header["__metadata__"] = dict(metadata)
    arrays, offset = [], 0
    for name, value in state.items():
        if name == "__metadata__":
            raise InputError("write_safetensors: '__metadata__' is reserved and cannot name a tensor")
        arr = np.asarray(value)
        little = arr.dtype.newbyteorder("<") if arr.dtype.itemsize > 1 else arr.dtype
        code = _NUMPY_TO_ST.get(little)
        if code is None:
            raise InputTypeError(f"write_safetensors: tensor {name!r} has dtype {arr.dtype}, which safetensors cannot "
                                 f"store here; supported: {', '.join(sorted(str(d) for d in _NUMPY_TO_ST))}")
        arr = arr.astype(little, copy=False)
        if not arr.flags.c_contiguous:  # (np.ascontiguousarray would turn a 0-d array into 1-d)
            arr = arr.copy(order="C")
        header[name] = {"dtype": code, "shape": list(arr.shape), "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
        arrays.append(arr)
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)  # pad so the buffer starts 8-byte aligned
    with atomic_write(path) as f:
        f.write(len(raw).to_bytes(8, "little"))
        f.write(raw)
        for arr in arrays:
            if arr.size:
                f.write(arr.reshape(-1).view(np.uint8).data)


# --------------------------------------------------------------------------------------------- other formats
def _read_npz(path: Path) -> OrderedDict:
    from .archive import read_npz

    return OrderedDict(read_npz(path, "read_state_dict"))


def _read_ckpt(path: Path) -> OrderedDict:
    """The model weights of a cnnkit training checkpoint (``.ckpt``)."""
    from .training.checkpoint import load_checkpoint

    state = load_checkpoint(path)
    model = state.get("model")
    if not isinstance(model, Mapping) or not all(isinstance(v, np.ndarray) for v in model.values()):
        raise InputError(f"read_state_dict: {str(path)!r} is a checkpoint without model weights")
    return OrderedDict(model)


def _read_torch(path: Path) -> OrderedDict:
    try:
        import torch
    except ImportError:
        raise ImportError(f"read_state_dict: reading {str(path)!r} needs PyTorch, which is not installed. "
                          f"Install it (pip install torch) or convert the file to .safetensors or .npz, which "
                          f"load without it") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises a variety of types for corrupt or foreign files
        raise InputError(f"read_state_dict: cannot read {str(path)!r} as a PyTorch file: {err}") from err
    if isinstance(obj, Mapping) and not any(hasattr(v, "numpy") for v in obj.values()):
        for key in ("state_dict", "model_state_dict", "model"):  # common checkpoint layouts
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping):
        raise InputError(f"read_state_dict: {str(path)!r} holds a {type(obj).__name__}, not a state dict "
                         f"(a mapping of name -> tensor)")
    return OrderedDict((k, _to_array(k, v)) for k, v in obj.items())


def read_state_dict(path, format: str | None = None) -> OrderedDict:  # noqa: A002 - mirrors the file notion
    """Read a state dict file into name -> NumPy array (format from the extension unless ``format`` is given:
    'torch', 'safetensors', 'npz' or 'ckpt' — the model weights of a cnnkit training checkpoint)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"read_state_dict: no such file {str(path)!r}")
    fmt = _format_of(path, _READ_FORMATS, format, "read_state_dict")
    if fmt == "safetensors":
        return read_safetensors(path)[0]
    if fmt == "npz":
        return _read_npz(path)
    if fmt == "ckpt":
        return _read_ckpt(path)
    return _read_torch(path)


# --------------------------------------------------------------------------------------------- public API
_DENSE_LEGACY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.([12]\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$")


def _adapt_keys(state: OrderedDict, own_keys: set[str]) -> OrderedDict:
    """Map two common foreign spellings onto the model's keys: a ``module.`` prefix (from data-parallel
    wrappers) and the old torchvision DenseNet keys ``...denselayerN.norm.1.weight`` (now ``norm1.weight``)."""
    if state and all(k.startswith("module.") for k in state) and not any(k.startswith("module.") for k in own_keys):
        state = OrderedDict((k[len("module."):], v) for k, v in state.items())
    if any(_DENSE_LEGACY.match(k) for k in state if k not in own_keys):
        renamed = OrderedDict()
        for k, v in state.items():
            m = _DENSE_LEGACY.match(k)
            renamed[m.group(1) + m.group(2) if m and k not in own_keys else k] = v
        state = renamed
    return state


def load_state_dict(model, source, strict: bool = True, format: str | None = None):  # noqa: A002
    """Load ``source`` (a file path — ``.pth``/``.pt``, ``.safetensors``, ``.npz``, a cnnkit ``.ckpt`` — or a mapping of
    name -> array/Tensor) into ``model``. Values are cast to each parameter's dtype. With ``strict`` every key
    must match; a missing key, an unexpected key or a shape mismatch raises a RuntimeError naming the key and
    both shapes. Returns ``(missing_keys, unexpected_keys)``."""
    if not (hasattr(model, "load_state_dict") and hasattr(model, "state_dict")):
        raise InputTypeError(f"load_state_dict: expected a Module, got {type(model).__name__}")
    if isinstance(source, Mapping):
        state, where = OrderedDict((k, _to_array(k, v)) for k, v in source.items()), "the given state dict"
    elif isinstance(source, (str, os.PathLike)):
        state, where = read_state_dict(source, format), repr(str(source))
    else:
        raise InputTypeError(f"load_state_dict: source must be a file path or a mapping of name -> array, "
                             f"got {type(source).__name__}")
    own_keys = set(model.state_dict(keep_vars=True))
    state = _adapt_keys(state, own_keys)
    try:
        return model.load_state_dict(state, strict=strict)
    except RuntimeError as err:
        raise StateDictError(f"load_state_dict: cannot load {where} into {type(model).__name__}: {err}") from err


def save_state_dict(model_or_state, path, format: str | None = None,  # noqa: A002
                    metadata: Mapping[str, str] | None = None) -> Path:
    """Write a model's ``state_dict()`` (or a mapping name -> array) to ``.npz`` or ``.safetensors``, atomically.
    ``metadata`` (str -> str) goes into the safetensors header. Returns the path written."""
    path = Path(path)
    fmt = _format_of(path, _WRITE_FORMATS, format, "save_state_dict")
    state = _as_state(model_or_state)
    if fmt == "safetensors":
        write_safetensors(path, state, metadata)
    else:
        if metadata:
            raise InputError("save_state_dict: metadata is only stored in .safetensors files")
        with atomic_write(path) as f:
            np.savez(f, **state)
    return path
