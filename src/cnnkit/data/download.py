"""Fetching data files safely: checksums, temp files, resume, mirrors and archive extraction.

A download streams into ``<name>.part`` beside the final file, is flushed and fsynced, checked against the
given MD5 / SHA-256, and only then renamed to ``<name>``: an interrupted or corrupt transfer never appears
under the final name. A later call resumes a leftover ``.part`` with an HTTP Range request (and starts over
when the server ignores the range).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from ..errors import InputError, InputTypeError
from .dataset import DatasetError


class ChecksumError(DatasetError):
    """A file's MD5 or SHA-256 does not match the expected value."""


class DownloadError(OSError):
    """A file could not be fetched (network error, HTTP error, transfer cut short)."""


class _Retry(Exception):
    """Internal: a transient failure worth another attempt."""


_CHUNK = 1 << 16
_USER_AGENT = "cnnkit-data"


def file_hash(path, algorithm: str = "md5", chunk_size: int = 1 << 20) -> str:
    """Hex digest of a file (``algorithm``: md5, sha256 or any name hashlib knows)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk_size), b""):
            h.update(block)
    return h.hexdigest()


def _check_hex(value, n: int, what: str):
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(rf"[0-9a-fA-F]{{{n}}}", value):
        raise InputError(f"download: {what} must be a {n}-digit hex string, got {value!r}")
    return value.lower()


def _mismatch(path, md5=None, sha256=None) -> str | None:
    """Why ``path`` fails its checksums, or None when it passes (or none are given)."""
    for algorithm, expected in (("md5", md5), ("sha256", sha256)):
        if expected is not None:
            got = file_hash(path, algorithm)
            if got != expected.lower():
                return f"{algorithm.upper()} is {got}, expected {expected.lower()}"
    return None


def check_integrity(path, md5: str | None = None, sha256: str | None = None) -> bool:
    """True when ``path`` exists and matches every checksum given."""
    path = Path(path)
    return path.is_file() and _mismatch(path, md5, sha256) is None


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _filename_from_url(url: str) -> str:
    name = urllib.parse.unquote(Path(urllib.parse.urlsplit(url).path).name)
    if not name:
        raise InputError(f"download_url: cannot take a file name from {url!r}; pass filename=")
    return name


def _check_url(url) -> str:
    if not isinstance(url, str):
        raise InputTypeError(f"download_url: url must be a str, got {type(url).__name__}")
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise InputError(f"download_url: only http(s) addresses are fetched, got {url!r}")
    return url


def _fetch(url: str, part: Path, timeout: float, progress: bool) -> None:
    """Stream ``url`` into ``part`` (resuming it when it exists). Raises _Retry on transient failures."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as err:
        err.close()
        if err.code == 416 and have:  # the range starts at the end: .part may already be complete
            total = re.search(r"/(\d+)", err.headers.get("Content-Range", "") or "")
            if total and int(total.group(1)) == have:
                return
            part.unlink()
            raise _Retry(f"server refused to resume at byte {have}; starting over") from None
        if err.code in (408, 425, 429) or err.code >= 500:
            raise _Retry(f"HTTP {err.code} {err.reason}") from None
        raise DownloadError(f"download_url: {url} answered HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        raise _Retry(f"{type(err).__name__}: {getattr(err, 'reason', err)}") from None

    with resp:
        status = resp.status
        length = resp.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        if status == 206:
            match = re.match(r"\s*bytes\s+(\d+)-", resp.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != have:
                raise _Retry(f"server resumed at the wrong offset ({resp.headers.get('Content-Range')!r})")
            mode, start = "ab", have
        else:  # 200: the whole file (the server ignored the range)
            mode, start = "wb", 0
        total = None if length is None else start + length
        received = 0
        bar = _progress_bar(total, start, part.name, progress)
        try:
            with open(part, mode) as f:
                try:
                    while True:
                        block = resp.read(_CHUNK)
                        if not block:
                            break
                        f.write(block)
                        received += len(block)
                        if bar is not None:
                            bar.update(len(block))
                finally:
                    f.flush()
                    os.fsync(f.fileno())
        except (OSError, http.client.HTTPException) as err:
            raise _Retry(f"transfer interrupted after {start + received} bytes ({type(err).__name__}: {err})") from None
        finally:
            if bar is not None:
                bar.close()
        if length is not None and received < length:
            raise _Retry(f"connection closed after {start + received} of {total} bytes")


def _progress_bar(total, initial, name, enabled):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, desc=name, leave=False)


def download_url(
    url: str,
    folder,
    filename: str | None = None,
    md5: str | None = None,
    sha256: str | None = None,
    *,
    timeout: float = 30.0,
    retries: int = 2,
    retry_delay: float = 0.5,
    progress: bool = False,
) -> Path:
    """Download ``url`` to ``folder/filename`` and return the path.

    An existing file that passes the checksums is kept (with no checksum given, any existing file is kept).
    Transient failures (connection errors, cut transfers, HTTP 5xx) are retried ``retries`` times, each try
    resuming the ``.part`` file; the final name appears only after the checksums pass. A checksum mismatch
    deletes the ``.part`` and raises :class:`ChecksumError`; other failures raise :class:`DownloadError` and
    keep the ``.part`` for the next call to resume.
    """
    _check_url(url)
    md5, sha256 = _check_hex(md5, 32, "md5"), _check_hex(sha256, 64, "sha256")
    filename = _filename_from_url(url) if filename is None else filename
    if not isinstance(filename, str) or not filename or filename in (".", "..") or "/" in filename or "\\" in filename:
        raise InputError(f"download_url: filename must be a plain file name, got {filename!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise InputError(f"download_url: retries must be an int >= 0, got {retries!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / filename
    if final.is_file() and _mismatch(final, md5, sha256) is None:
        return final
    part = final.with_name(final.name + ".part")
    reasons = []
    for attempt in range(retries + 1):
        try:
            _fetch(url, part, timeout, progress)
            break
        except _Retry as err:
            reasons.append(str(err))
            if attempt < retries:
                time.sleep(retry_delay * 2**attempt)
    else:
        kept = f"; {part.stat().st_size} bytes kept in {part} for the next try to resume" if part.exists() else ""
        raise DownloadError(f"download_url: could not fetch {url} in {retries + 1} tries (last: {reasons[-1]}){kept}")
    problem = _mismatch(part, md5, sha256)
    if problem is not None:
        part.unlink()
        raise ChecksumError(f"download_url: {url} failed verification: {problem}; nothing was saved as {final}")
    os.replace(part, final)
    _fsync_dir(folder)
    return final


def download_from_mirrors(mirrors, filename: str, folder, md5=None, sha256=None, **kwargs) -> Path:
    """Try ``mirror + filename`` for each mirror in turn until one downloads and verifies."""
    mirrors = [mirrors] if isinstance(mirrors, str) else list(mirrors)
    if not mirrors:
        raise InputError(f"download_from_mirrors: no mirror to fetch {filename} from")
    failures = []
    for mirror in mirrors:
        url = mirror if mirror.endswith("/" + filename) else mirror.rstrip("/") + "/" + filename
        try:
            return download_url(url, folder, filename, md5=md5, sha256=sha256, **kwargs)
        except (DownloadError, ChecksumError) as err:
            failures.append((url, err))
    detail = "; ".join(f"{url}: {err}" for url, err in failures)
    kind = ChecksumError if all(isinstance(e, ChecksumError) for _, e in failures) else DownloadError
    raise kind(f"could not download {filename} from any mirror ({detail})")


def _safe_members(tar: tarfile.TarFile, archive: Path):
    for m in tar.getmembers():
        name = m.name
        parts = Path(name).parts
        if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
            raise DatasetError(f"extract_archive: {archive} has an unsafe member path {name!r}; refusing to extract")
        if m.isdir():
            continue
        if not m.isfile():
            raise DatasetError(f"extract_archive: {archive} has a link or special file {name!r}; refusing to extract")
        yield m


def extract_archive(archive, folder, overwrite: bool = False) -> list[Path]:
    """Extract a tar archive (.tar, .tar.gz, .tgz ...) into ``folder``; return the files placed there.

    Members with absolute paths, ``..``, links or device files are refused. Files are unpacked into a temp
    folder inside ``folder``, fsynced, then renamed into place; existing files are kept unless ``overwrite``.
    """
    archive, folder = Path(archive), Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    placed = []
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=folder))
    try:
        try:
            with tarfile.open(archive, "r:*") as tar:
                for m in _safe_members(tar, archive):
                    with tar.extractfile(m) as src:
                        dst = tmp / m.name
                        dst.parent.mkdir(parents=True, exist_ok=True)
                        with open(dst, "wb") as out:
                            shutil.copyfileobj(src, out)
                            out.flush()
                            os.fsync(out.fileno())
                    target = folder / m.name
                    if target.exists() and not overwrite:
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(dst, target)
                    placed.append(target)
        except (tarfile.TarError, EOFError, OSError) as err:
            if isinstance(err, FileNotFoundError) and not archive.exists():
                raise FileNotFoundError(f"extract_archive: archive not found: {archive}") from None
            raise DatasetError(f"extract_archive: {archive} is not a readable tar archive ({err})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for parent in {p.parent for p in placed}:
        _fsync_dir(parent)
    return placed
