"""Checkpoints: model, optimizer, scheduler, RNG state, epoch, history and config in ONE file, written atomically.

Format: a NumPy ``.npz`` (zip) archive holding every array as its own entry and one ``__meta__`` entry with the
JSON of everything else (arrays replaced by ``{"__array__": name}`` references). No pickled code is stored or
loaded (``allow_pickle=False``), so a checkpoint from an untrusted source cannot run anything.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..atomic import atomic_write
from ..errors import InputError

FORMAT = "cnnkit-checkpoint"
VERSION = 2  # 2: the run's settings are a run configuration under 'run' (1: a flat 'config' dict)


class CheckpointError(InputError):
    """A checkpoint file that is missing, corrupt, foreign or incompatible."""


def _split(obj, prefix: str, arrays: dict):
    """Replace arrays in a nested structure by references, collecting them in ``arrays``."""
    if hasattr(obj, "data") and isinstance(getattr(obj, "data", None), np.ndarray):  # a Tensor
        obj = obj.data
    if isinstance(obj, np.ndarray):
        arrays[prefix] = obj
        return {"__array__": prefix}
    if isinstance(obj, dict):
        keys = list(obj)
        if all(isinstance(k, str) for k in keys):
            return {k: _split(v, f"{prefix}/{k}", arrays) for k, v in obj.items()}
        return {"__items__": [[k, _split(v, f"{prefix}/{i}", arrays)] for i, (k, v) in enumerate(obj.items())]}
    if isinstance(obj, (list, tuple)):
        return [_split(v, f"{prefix}/{i}", arrays) for i, v in enumerate(obj)]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _join(obj, arrays, path=None):
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            name = obj["__array__"]
            if not isinstance(name, str) or name not in arrays:
                raise CheckpointError(f"checkpoint: {path} lacks the array {name!r} that its index lists "
                                      f"(truncated or edited file)")
            return arrays[name]
        if set(obj) == {"__items__"} and isinstance(obj["__items__"], list):
            items = obj["__items__"]
            if not all(isinstance(kv, list) and len(kv) == 2 for kv in items):
                raise CheckpointError(f"checkpoint: {path} has a corrupt index (an item list)")
            return {(tuple(k) if isinstance(k, list) else k): _join(v, arrays, path) for k, v in items}
        return {k: _join(v, arrays, path) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_join(v, arrays, path) for v in obj]
    return obj


def save_checkpoint(path, payload: dict) -> Path:
    """Write ``payload`` (nested dicts/lists of arrays, numbers, strings) atomically to ``path``."""
    arrays: dict[str, np.ndarray] = {}
    meta = {"format": FORMAT, "version": VERSION, "payload": _split(payload, "p", arrays)}
    with atomic_write(path) as f:  # straight into the temporary file (no second copy of the weights in memory)
        np.savez(f, __meta__=np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8), **arrays)
    return Path(path)


def load_checkpoint(path) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`, naming what is wrong with a bad file. The archive is
    read with :func:`cnnkit.archive.read_npz`: sizes are checked before anything is allocated and no pickled
    data is ever loaded."""
    from ..archive import read_npz

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint: no file at {path}")
    try:
        arrays = read_npz(path, "checkpoint")
    except InputError as err:
        raise CheckpointError(f"{err}: corrupt or not a cnnkit checkpoint") from None
    if "__meta__" not in arrays:
        raise CheckpointError(f"checkpoint: {path} is an .npz archive but not a cnnkit checkpoint (no __meta__ entry)")
    raw = arrays.pop("__meta__")
    try:
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise ValueError(f"expected bytes, got {raw.dtype} {raw.shape}")
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as err:
        raise CheckpointError(f"checkpoint: {path} has a corrupt index ({err})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise CheckpointError(f"checkpoint: {path} has format {found!r}, expected {FORMAT!r}")
    version = meta.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version > VERSION:
        raise CheckpointError(f"checkpoint: {path} is format version {version}, this cnnkit reads versions "
                              f"<= {VERSION}; upgrade cnnkit")
    try:
        payload = _join(meta.get("payload"), arrays, path)
    except RecursionError:
        raise CheckpointError(f"checkpoint: {path} has a corrupt index (nested too deeply)") from None
    if not isinstance(payload, dict):
        raise CheckpointError(f"checkpoint: {path} has a corrupt index (its payload is a "
                              f"{type(payload).__name__}, expected a dict)")
    return payload
