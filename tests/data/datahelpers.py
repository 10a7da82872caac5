"""Helpers for the data tests: a small local HTTP file server on 127.0.0.1 and writers of the real file formats."""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import re
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np


class FileServer:
    """Serves ``files`` (path -> bytes) with Range support and scripted failures; records every request."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.drop_after: dict[str, int] = {}  # path -> bytes sent before the connection is cut (once per entry)
        self.drop_times: dict[str, int] = {}  # how many requests get cut (default 1)
        self.status: dict[str, int] = {}  # path -> HTTP error status to answer
        self.ignore_range = False
        self.requests: list[tuple[str, str | None]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10

            def log_message(self, *args):
                pass

            def do_GET(self):
                path = self.path.split("?")[0]
                rng = self.headers.get("Range")
                with server.lock:
                    server.requests.append((path, rng))
                    code = server.status.get(path)
                    drop = None
                    if path in server.drop_after and server.drop_times.get(path, 1) > 0:
                        drop = server.drop_after[path]
                        server.drop_times[path] = server.drop_times.get(path, 1) - 1
                if code is not None:
                    self.send_error(code)
                    return
                if path not in server.files:
                    self.send_error(404)
                    return
                body, start = server.files[path], 0
                m = re.fullmatch(r"bytes=(\d+)-", rng or "")
                if m and not server.ignore_range:
                    start = int(m.group(1))
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                chunk = body[start:]
                self.send_header("Content-Length", str(len(chunk)))
                self.end_headers()
                if drop is not None:
                    self.wfile.write(chunk[:drop])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(chunk)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def add(self, path: str, data: bytes) -> str:
        self.files[path] = data
        return self.url + path

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def idx_bytes(arr: np.ndarray, code: int | None = None) -> bytes:
    """Raw IDX bytes of ``arr`` (uint8 unless code says otherwise)."""
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(">i2"): 0x0B, np.dtype(">i4"): 0x0C}
    dt = arr.dtype.newbyteorder(">") if arr.dtype.itemsize > 1 else arr.dtype
    code = codes.get(dt, 0x0D) if code is None else code
    head = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    return head + arr.astype(dt).tobytes()


def mnist_like(n: int, seed: int = 0, size: int = 28):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, size, size), dtype=np.uint8), rng.integers(0, 10, n).astype(np.uint8)


def write_mnist(raw_folder, n_train=12, n_test=7, gz=True, seed=0):
    """Write the four MNIST IDX files; return {filename: bytes} as written and the arrays."""
    raw_folder.mkdir(parents=True, exist_ok=True)
    tr_x, tr_y = mnist_like(n_train, seed)
    te_x, te_y = mnist_like(n_test, seed + 1)
    out = {}
    for stem, arr in (
        ("train-images-idx3-ubyte", tr_x),
        ("train-labels-idx1-ubyte", tr_y),
        ("t10k-images-idx3-ubyte", te_x),
        ("t10k-labels-idx1-ubyte", te_y),
    ):
        data = idx_bytes(arr)
        name = stem + ".gz" if gz else stem
        if gz:
            data = gzip.compress(data, mtime=0)
        (raw_folder / name).write_bytes(data)
        out[name] = data
    return out, (tr_x, tr_y, te_x, te_y)


def cifar_batch_bytes(n: int, seed: int, bytes_keys: bool = False) -> tuple[bytes, np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, n)]
    keys = (
        (b"batch_label", b"labels", b"data", b"filenames")
        if bytes_keys
        else ("batch_label", "labels", "data", "filenames")
    )
    d = dict(zip(keys, ("batch", labels, data, [f"img_{i}.png" for i in range(n)]), strict=True))
    return pickle.dumps(d, protocol=2), data, labels


CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def cifar_archive(n_per_batch: int = 4) -> tuple[bytes, dict]:
    """A small cifar-10-python.tar.gz in the real layout; returns (archive bytes, {name: (data, labels)})."""
    buf = io.BytesIO()
    contents = {}
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        for k, name in enumerate(names):
            raw, data, labels = cifar_batch_bytes(n_per_batch, k)
            contents[name] = (data, labels)
            _add(tar, f"cifar-10-batches-py/{name}", raw)
        _add(
            tar, "cifar-10-batches-py/batches.meta", pickle.dumps({"label_names": CLASSES, "num_vis": 3072}, protocol=2)
        )
    return buf.getvalue(), contents


def _add(tar: tarfile.TarFile, name: str, data: bytes):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
