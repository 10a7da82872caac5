"""Reading ``.npz`` archives (checkpoints, state dicts) from untrusted files with bounded memory.

NumPy's ``np.load`` trusts an archive: a member's ``.npy`` header may claim an array of terabytes (allocated
before the data is read) and a deflated member may inflate without limit. :func:`read_npz` checks everything
before it allocates:

* the file is a zip archive whose members lie inside the file;
* each member is a ``.npy`` array of a plain (non-object) dtype whose header's shape times the item size is
  exactly the member's declared size — so nothing larger than the member is ever allocated;
* a compressed member may inflate to at most ``max(MIN_CAP, MAX_EXPANSION x its compressed size)`` bytes, and
  it is inflated in a stream straight into the array's buffer (zip stops at the declared size and checks the CRC).

No pickled object is ever loaded. Every problem is an :class:`~cnnkit.errors.InputError` naming the file.
"""

from __future__ import annotations

import ast
import os
import zipfile
from pathlib import Path

import numpy as np

from .errors import InputError

__all__ = ["read_npz", "ArchiveError", "MAX_EXPANSION", "MIN_CAP"]

MAX_EXPANSION = 100  # a deflated member may inflate to at most this many times its compressed size ...
MIN_CAP = 64 * 2 ** 20  # ... or to this many bytes, whichever is larger
_MAX_HEADER = 64 * 1024  # an .npy header is a short dict literal
_CHUNK = 1 << 20


class ArchiveError(InputError):
    """An ``.npz`` archive that is corrupt, foreign or hostile."""


def _parse_npy_header(raw: bytes, where: str) -> tuple[np.dtype, tuple[int, ...], bool, int]:
    """(dtype, shape, fortran_order, header length) of an ``.npy`` stream's first bytes."""
    if len(raw) < 10 or raw[:6] != b"\x93NUMPY":
        raise ArchiveError(f"{where} is not a NumPy array (no .npy magic)")
    major = raw[6]
    if major == 1:
        n, start = int.from_bytes(raw[8:10], "little"), 10
    elif major in (2, 3):
        if len(raw) < 12:
            raise ArchiveError(f"{where}: truncated .npy header")
        n, start = int.from_bytes(raw[8:12], "little"), 12
    else:
        raise ArchiveError(f"{where}: unsupported .npy format version {major}")
    if n > _MAX_HEADER or start + n > len(raw):
        raise ArchiveError(f"{where}: .npy header of {n} bytes is truncated or too long")
    try:
        header = ast.literal_eval(raw[start:start + n].decode("latin1"))
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        raise ArchiveError(f"{where}: corrupt .npy header") from None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise ArchiveError(f"{where}: corrupt .npy header (expected descr, fortran_order and shape)")
    shape, descr, fortran = header["shape"], header["descr"], header["fortran_order"]
    if (not isinstance(shape, tuple) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                               for d in shape) or len(shape) > 64):
        raise ArchiveError(f"{where}: .npy header has an invalid shape {shape!r}")
    if not isinstance(fortran, bool):
        raise ArchiveError(f"{where}: .npy header has an invalid fortran_order {fortran!r}")
    try:
        dtype = np.dtype(np.lib.format.descr_to_dtype(descr))
    except Exception:  # NumPy raises several types for a malformed description
        raise ArchiveError(f"{where}: .npy header has an invalid dtype {descr!r}") from None
    if dtype.hasobject:
        raise ArchiveError(f"{where} holds Python objects (a pickle); cnnkit never loads pickled data")
    if dtype.itemsize == 0:
        raise ArchiveError(f"{where}: .npy header has a dtype of size 0 ({descr!r})")
    return dtype, shape, fortran, start + n


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: str, cap: int) -> np.ndarray:
    with archive.open(info) as f:
        head = f.read(min(info.file_size, 12))
        if len(head) >= 10 and head[:6] == b"\x93NUMPY":
            start = 10 if head[6] == 1 else 12
            hlen = int.from_bytes(head[8:start], "little")
            head += f.read(max(0, min(start + hlen, _MAX_HEADER + 12) - len(head)))
        dtype, shape, fortran, header_len = _parse_npy_header(head, where)
        count = 1
        for d in shape:  # Python ints: no overflow
            count *= d
        nbytes = count * dtype.itemsize
        if header_len + nbytes != info.file_size:
            raise ArchiveError(f"{where}: its header describes {dtype} {shape} ({nbytes} bytes) but the member holds "
                               f"{info.file_size - header_len} bytes of data (corrupt or tampered file)")
        if nbytes > cap:
            raise ArchiveError(f"{where}: {nbytes} bytes would be inflated from {info.compress_size} compressed "
                               f"bytes, more than the {cap}-byte limit for this member (a compression bomb?)")
        out = np.empty(count, dtype=dtype)
        view = memoryview(out.view(np.uint8).reshape(-1)) if nbytes else memoryview(b"")
        done = 0
        while done < nbytes:
            got = f.readinto(view[done:done + _CHUNK])
            if not got:
                raise ArchiveError(f"{where} is truncated: {done} of {nbytes} bytes")
            done += got
        if nbytes and f.read(1):
            raise ArchiveError(f"{where} has data after its array")
    return out.reshape(shape, order="F" if fortran else "C")


def read_npz(path, owner: str = "read_npz", names=None) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` archive (name without ``.npy`` -> array), checked as the module says. ``names``
    (optional) limits reading to those members."""
    path = Path(path)
    size = os.stat(path).st_size
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, OverflowError, IndexError,
            KeyError, NotImplementedError, OSError) as err:  # (OSError: a seek to a corrupt offset)
        raise ArchiveError(f"{owner}: {path} is not a valid .npz (zip) archive ({err})") from None
    arrays = {}
    try:
        with archive:
            infos = archive.infolist()
            for info in infos:
                where = f"{owner}: {path}: member {info.filename!r}"
                if info.is_dir():
                    continue
                if not info.filename.endswith(".npy"):
                    raise ArchiveError(f"{where} is not a .npy array")
                if info.header_offset + info.compress_size > size:
                    raise ArchiveError(f"{where} extends past the end of the file (truncated archive)")
                if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
                    raise ArchiveError(f"{where}: stored member of {info.compress_size} bytes claims "
                                       f"{info.file_size} (corrupt archive)")
            for info in infos:
                if info.is_dir():
                    continue
                name = info.filename[:-4]
                if names is not None and name not in names:
                    continue
                where = f"{owner}: {path}: member {info.filename!r}"
                cap = max(MIN_CAP, MAX_EXPANSION * info.compress_size) if info.compress_type != zipfile.ZIP_STORED \
                    else info.file_size
                if name in arrays:
                    raise ArchiveError(f"{where} appears twice in the archive")
                try:
                    arrays[name] = _read_member(archive, info, where, cap)
                except ArchiveError:
                    raise
                except (zipfile.BadZipFile, EOFError, ValueError, OverflowError, NotImplementedError,
                        RuntimeError, KeyError, OSError) as err:
                    raise ArchiveError(f"{where} is corrupt ({type(err).__name__}: {err})") from None
                except Exception as err:  # zlib/bz2/lzma raise their own error types for corrupt streams
                    if type(err).__module__ in ("zlib", "_bz2", "bz2", "_lzma", "lzma", "zipfile"):
                        raise ArchiveError(f"{where} is corrupt ({type(err).__name__}: {err})") from None
                    raise
    except zipfile.BadZipFile as err:
        raise ArchiveError(f"{owner}: {path} is a corrupt .npz archive ({err})") from None
    return arrays
