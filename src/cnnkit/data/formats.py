"""Readers for the on-disk formats of the classic image sets: IDX (MNIST, Fashion-MNIST) and CIFAR pickles.

IDX: 2 zero bytes, a dtype code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64),
the number of dimensions, one big-endian uint32 per dimension, then the values, big-endian, row-major. Files
may be gzip-compressed (``.gz``).

CIFAR "python version" batches are pickled dicts with ``data`` (N x 3072 uint8, channel-major 32x32 planes) and
``labels``. They are read with a restricted unpickler that only builds NumPy arrays, lists, dicts and strings
and refuses any other global (no code runs on load). That guards against a tampered file running code, but
the files should still come from a trusted source: verify the archive checksum (``download=True`` does).
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import zlib
from pathlib import Path

import numpy as np

from ..errors import InputError, InputTypeError
from .dataset import DatasetError

IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_CODES = {np.dtype(d).newbyteorder("="): code for code, d in IDX_DTYPES.items()}


# A gzip-compressed IDX file may declare at most max(IDX_MIN_CAP, IDX_MAX_EXPANSION x its file size) bytes of data
# (MNIST's files inflate 2-5x); a larger claim is refused before anything is allocated or inflated.
IDX_MAX_EXPANSION = 100
IDX_MIN_CAP = 64 * 2 ** 20


def _idx_header(read, name: str) -> tuple[np.dtype, tuple[int, ...], int]:
    """(dtype, dims, header length) from a reader of the first bytes of an IDX stream."""
    head = read(4)
    if len(head) < 4:
        raise DatasetError(f"read_idx: {name} is truncated: {len(head)} bytes, shorter than the 4-byte IDX header")
    if head[0] != 0 or head[1] != 0:
        raise DatasetError(
            f"read_idx: {name} is not an IDX file: magic number 0x{head[:4].hex()} should start with two zero bytes"
        )
    code, ndim = head[2], head[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise DatasetError(f"read_idx: {name} has unknown IDX dtype code 0x{code:02X} (expected one of {known})")
    if ndim == 0:
        raise DatasetError(f"read_idx: {name} declares 0 dimensions; expected at least 1")
    header = 4 + 4 * ndim
    raw_dims = read(4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise DatasetError(f"read_idx: {name} is truncated inside its header: {ndim} dimensions need {header} bytes, "
                           f"got {4 + len(raw_dims)}")
    dims = tuple(int(d) for d in np.frombuffer(raw_dims, dtype=">u4"))
    return IDX_DTYPES[code], dims, header


def _idx_nbytes(dtype: np.dtype, dims: tuple[int, ...]) -> int:
    n = dtype.itemsize
    for d in dims:  # Python ints: no overflow
        n *= d
    return n


def parse_idx(raw: bytes, name: str = "IDX data") -> np.ndarray:
    """Array from the bytes of an IDX file (native byte order), with clear errors for a corrupt header or size."""
    pos = [0]

    def read(n):
        chunk = raw[pos[0]:pos[0] + n]
        pos[0] += len(chunk)
        return chunk

    dtype, dims, header = _idx_header(read, name)
    expected, got = _idx_nbytes(dtype, dims), len(raw) - header
    _check_idx_size(name, dtype, dims, expected, got)
    arr = np.frombuffer(raw, dtype=dtype, count=expected // dtype.itemsize, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def _check_idx_size(name, dtype, dims, expected: int, got: int) -> None:
    if got < expected:
        raise DatasetError(
            f"read_idx: {name} is truncated: dims {dims} of {dtype.newbyteorder('=').name} need {expected} bytes "
            f"of data, found {got}"
        )
    if got > expected:
        raise DatasetError(
            f"read_idx: {name} has {got - expected} unexpected trailing bytes after {expected} bytes of data "
            f"(dims {dims}); the header does not match the file"
        )


def read_idx(path) -> np.ndarray:
    """Read an IDX file (raw or ``.gz``) into an array in native byte order.

    The header is checked before any data is read: an uncompressed file must hold exactly the declared bytes, and
    a gzip file may declare at most ``max(IDX_MIN_CAP, IDX_MAX_EXPANSION x`` its size ``)`` bytes; the data is then
    inflated in a stream straight into the array (memory: the array, once)."""
    path = Path(path)
    name = str(path)
    try:
        size = path.stat().st_size
        gz = path.suffix == ".gz"
        with (gzip.open(path, "rb") if gz else open(path, "rb")) as f:
            dtype, dims, header = _idx_header(f.read, name)
            expected = _idx_nbytes(dtype, dims)
            if gz:
                cap = max(IDX_MIN_CAP, IDX_MAX_EXPANSION * size)
                if expected > cap:
                    raise DatasetError(f"read_idx: {name} declares dims {dims} ({expected} bytes of data) in a "
                                       f"{size}-byte gzip file; more than {cap} bytes is refused (a corrupt header "
                                       f"or a compression bomb)")
            else:
                _check_idx_size(name, dtype, dims, expected, size - header)
            out = np.empty(expected // dtype.itemsize, dtype=dtype)
            view = memoryview(out.view(np.uint8))
            done = 0
            while done < expected:
                got = f.readinto(view[done:done + (1 << 20)])
                if not got:
                    break
                done += got
            extra = len(f.read(1 << 16)) if done == expected else 0
            if done < expected:
                _check_idx_size(name, dtype, dims, expected, done)
            if extra:
                count = str(extra) if extra < 1 << 16 else f"at least {extra}"
                raise DatasetError(f"read_idx: {name} has {count} unexpected trailing bytes after {expected} bytes "
                                   f"of data (dims {dims}); the header does not match the file")
    except FileNotFoundError:
        raise FileNotFoundError(f"read_idx: file not found: {path}") from None
    except (OSError, EOFError, zlib.error) as err:
        msg = f"read_idx: {path} is not a readable gzip file ({err}); replace it with a good copy"
        raise DatasetError(msg) from None
    return out.reshape(dims).astype(dtype.newbyteorder("="), copy=False)


def write_idx(path, array) -> None:
    """Write ``array`` as an IDX file (gzip-compressed when the name ends in ``.gz``), atomically."""
    arr = np.asarray(array)
    key = arr.dtype.newbyteorder("=")
    if key not in _IDX_CODES:
        raise InputTypeError(f"write_idx: IDX cannot store {arr.dtype}; use uint8, int8, int16, int32, "
                             f"float32 or float64")
    if not 1 <= arr.ndim <= 255:
        raise InputError(f"write_idx: IDX stores 1 to 255 dimensions, got {arr.ndim}")
    code = _IDX_CODES[key]
    body = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    body += np.ascontiguousarray(arr, dtype=IDX_DTYPES[code]).tobytes()
    path = Path(path)
    if path.suffix == ".gz":
        body = gzip.compress(body, mtime=0)
    atomic_write_bytes(path, body)


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to a temp file beside ``path``, fsync, then rename over ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals needed to rebuild NumPy arrays."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes
    }

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load the global {module}.{name}")


def load_pickle(path, owner: str = "load_pickle"):
    """Unpickle a (Python 2 or 3) data pickle with the array-only unpickler; errors name the file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{owner}: file not found: {path}") from None
    try:
        return _ArrayOnlyUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except Exception as err:  # a corrupt pickle can fail in many ways; all mean the same to the user
        raise DatasetError(f"{owner}: {path} is not a readable CIFAR pickle ({type(err).__name__}: {err})") from None


def _key(d: dict, name: str):
    for k in (name, name.encode()):
        if k in d:
            return d[k]
    return None


def read_cifar_batch(path, label_key: str = "labels", num_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 (N, 3, 32, 32), labels int64 (N,))`` from a CIFAR python batch file."""
    path = Path(path)
    d = load_pickle(path, "read_cifar_batch")
    if not isinstance(d, dict):
        raise DatasetError(f"read_cifar_batch: {path} holds a {type(d).__name__}, expected a dict with data and labels")
    data, labels = _key(d, "data"), _key(d, label_key)
    if data is None or labels is None:
        keys = sorted(k.decode() if isinstance(k, bytes) else str(k) for k in d)
        raise DatasetError(f"read_cifar_batch: {path} lacks 'data' or '{label_key}' (keys: {keys})")
    data = np.asarray(data)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DatasetError(
            f"read_cifar_batch: {path}: expected data of shape (N, 3072) uint8, got {data.shape} {data.dtype}"
        )
    labels = np.asarray(labels)
    if labels.ndim != 1 or (labels.size and labels.dtype.kind not in "iu"):
        raise DatasetError(f"read_cifar_batch: {path}: labels must be a list of ints, got shape {labels.shape}")
    if len(labels) != len(data):
        raise DatasetError(f"read_cifar_batch: {path}: {len(data)} images but {len(labels)} labels")
    labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DatasetError(
            f"read_cifar_batch: {path}: labels must lie in [0, {num_classes}), got {labels.min()}..{labels.max()}"
        )
    return data.reshape(-1, 3, 32, 32).copy(), labels


def read_cifar_meta(path, key: str = "label_names") -> list[str]:
    """Class names from a CIFAR ``batches.meta`` file."""
    d = load_pickle(path, "read_cifar_meta")
    names = _key(d, key) if isinstance(d, dict) else None
    if names is None:
        raise DatasetError(f"read_cifar_meta: {path} has no '{key}' entry")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]
