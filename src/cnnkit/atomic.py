"""Atomic file writes: a crash never leaves a truncated file under the final name.

The data goes to a temporary file in the same folder, is flushed and fsynced, then renamed over the target
(``os.replace`` is atomic on POSIX and Windows); the folder is fsynced so the rename itself is durable.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb", encoding: str | None = None):
    """``with atomic_write(path) as f: f.write(...)`` — the file appears complete or not at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp makes 0600; the file gets what open() would give it
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(err, OSError) and not err.filename and err.errno:  # name the file (a full disk, ...)
            raise OSError(err.errno, f"{err.strerror or err} while writing", str(path)) from None
        raise
    with contextlib.suppress(OSError):  # make the rename durable; not every platform allows opening a folder
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def current_umask() -> int:
    """The process's file-creation mask (read by setting it and setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text(path, text: str) -> None:
    """Atomically write a UTF-8 text file."""
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write(text)


def json_text(obj, indent: int | None = None) -> str:
    """``obj`` as strict JSON: NaN and infinities, which JSON has no word for (``json.dumps`` would write the
    invalid ``NaN``), become ``null``; NumPy scalars and arrays become plain numbers and lists."""
    return json.dumps(_plain_json(obj), indent=indent, allow_nan=False)


def _plain_json(obj):
    if isinstance(obj, dict):
        return {k: _plain_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain_json(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, str):  # NumPy scalars and arrays
        return _plain_json(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
