"""Checkpoints: model, optimizer, scheduler, RNG state, epoch, history and config in ONE file, written atomically.

Format: a NumPy ``.npz`` (zip) archive holding every array as its own entry and one ``__meta__`` entry with the
JSON of everything else (arrays replaced by ``{"__array__": name}`` references). No pickled code is stored or
loaded (``allow_pickle=False``), so a checkpoint from an untrusted source cannot run anything.
"""

from __future__ import annotations

import io
import json
import zipfile
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


def _join(obj, arrays):
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            return arrays[obj["__array__"]]
        if set(obj) == {"__items__"}:
            return {(tuple(k) if isinstance(k, list) else k): _join(v, arrays) for k, v in obj["__items__"]}
        return {k: _join(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_join(v, arrays) for v in obj]
    return obj


def save_checkpoint(path, payload: dict) -> Path:
    """Write ``payload`` (nested dicts/lists of arrays, numbers, strings) atomically to ``path``."""
    arrays: dict[str, np.ndarray] = {}
    meta = {"format": FORMAT, "version": VERSION, "payload": _split(payload, "p", arrays)}
    buffer = io.BytesIO()
    np.savez(buffer, __meta__=np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8), **arrays)
    with atomic_write(path) as f:
        f.write(buffer.getbuffer())
    return Path(path)


def load_checkpoint(path) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`, naming what is wrong with a bad file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint: no file at {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "__meta__" not in archive.files:
                raise CheckpointError(f"checkpoint: {path} is an .npz archive but not a cnnkit checkpoint "
                                      f"(no __meta__ entry)")
            meta = json.loads(archive["__meta__"].tobytes().decode("utf-8"))
            if meta.get("format") != FORMAT:
                raise CheckpointError(f"checkpoint: {path} has format {meta.get('format')!r}, expected {FORMAT!r}")
            if not isinstance(meta.get("version"), int) or meta["version"] > VERSION:
                raise CheckpointError(f"checkpoint: {path} is format version {meta.get('version')}, this cnnkit "
                                      f"reads versions <= {VERSION}; upgrade cnnkit")
            arrays = {name: archive[name] for name in archive.files if name != "__meta__"}
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError, UnicodeDecodeError) as err:
        raise CheckpointError(f"checkpoint: {path} is corrupt or not a cnnkit checkpoint ({err})") from None
    return _join(meta["payload"], arrays)
